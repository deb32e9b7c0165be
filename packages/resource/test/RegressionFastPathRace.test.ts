/**
 * The fast path checks for an idle instance in one step and takes it in the next; a caller whose
 * fiber yields in between (its operation budget ran out) can find the instance gone and wait inside
 * effect's own `Pool` queue. It must be served by the next returning lease, not starve behind the
 * callers that keep arriving in the core queue.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Scheduler from "effect/Scheduler"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import * as Fake from "./utils/fake.ts"

const settle = Effect.forEach(Array.from({ length: 30 }), () => Effect.yieldNow, { discard: true })

describe("fast path: a caller that yields between the check and the take", () => {
  for (const ops of [3, 4, 5]) {
    it.effect(`is served by the next returning lease (yielding after ${ops} ops)`, () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const order: Array<string> = []
        const hold = (label: string) =>
          Manager.use("fake", () => Effect.andThen(Effect.sync(() => order.push(label)), Effect.sleep("1 second")))
        const yielding = yield* Effect.forkChild(
          hold("yielding").pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, ops)),
          { startImmediately: true }
        )
        const first = yield* Effect.forkChild(hold("first"), { startImmediately: true })
        yield* settle
        const later = []
        for (let i = 0; i < 5; i++) {
          later.push(yield* Effect.forkChild(hold(`later ${i}`)))
          yield* settle
        }
        for (let i = 0; i < 8; i++) {
          yield* TestClock.adjust("1 second")
          yield* settle
        }
        const pending = [yielding, first, ...later].filter((fiber) => fiber.pollUnsafe() === undefined).length
        const position = order.indexOf("yielding")
        assert.strictEqual(pending, 0)
        assert.isAtMost(position, 1, `served in position ${position}: ${order.join(", ")}`)
      }).pipe(
        Effect.provide(
          Fake.make(fake, { pool: { min: 1, max: 1 } }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
        )
      )
    })
  }
})
