import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "resource-pg",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
