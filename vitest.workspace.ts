import { defineConfig } from "vitest/config"

/**
 * The root test configuration: one project per package. Vitest 5 does not read this file by itself,
 * so the root `test` script passes it with `--config`.
 */
export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts"]
  }
})
