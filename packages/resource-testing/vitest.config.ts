import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "resource-testing",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000
  }
})
