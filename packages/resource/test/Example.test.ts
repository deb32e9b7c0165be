import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { main } from "../examples/basic.ts"

describe("examples/basic", () => {
  it.effect("runs the tour and shuts down cleanly, dependents first", () =>
    Effect.gen(function*() {
      const summary = yield* main
      assert.strictEqual(summary.greeting, "hello")
      assert.strictEqual(summary.namespace, "app")
      assert.strictEqual(summary.balance, 42)
      assert.strictEqual(summary.denial, "AccessDenied")
      assert.deepStrictEqual(summary.report.resources, [
        { key: "demo-ledger", drained: true, outstanding: 0, forced: 0, cleanedUp: true },
        { key: "demo-kv", drained: true, outstanding: 0, forced: 0, cleanedUp: true }
      ])
      assert.strictEqual(summary.stats.inUse, 0)
      assert.strictEqual(summary.stats.timeouts, 0)
      assert.isAtLeast(summary.stats.acquisitions, 3)
    }))
})
