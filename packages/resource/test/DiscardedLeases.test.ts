/**
 * A borrow that fails, or whose instance is discarded, gives its lease back at once.
 *
 * The lease of an acquire that timed out while validating, or of a borrow whose instance was
 * discarded (a failed validation) while the acquire went on, used to stay with the caller's scope
 * until that scope closed: the slot stayed taken meanwhile, and a shutdown found a lease still out.
 * And draining did not notice when the last lease out was a discarded one, so it ran on to the drain
 * deadline. Now such a lease is returned the moment the borrow fails or is discarded, and draining
 * ends with the last lease, however it comes back.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import * as Fake from "./utils/fake.ts"
import { advance40 as advance, settle40 as settle } from "./utils/time.ts"

const acquire = (key = "fake") => Manager.acquire(key) as Effect.Effect<Fake.FakeInstance, any, any>
const provide = (layer: Layer.Layer<any, any, any>) =>
  Effect.provide(layer.pipe(Layer.provideMerge(Manager.layer)) as Layer.Layer<any>)

describe("a failed or discarded borrow frees its lease and slot at once", () => {
  it.effect("an acquire that times out while validating returns its lease at once, inside the caller's scope", () => {
    const fake = new Fake.Fake()
    fake.validate = [Fake.hang]
    return Effect.gen(function*() {
      yield* Effect.scoped(acquire())
      yield* TestClock.adjust("1 second")
      yield* Effect.scoped(Effect.gen(function*() {
        const attempt = yield* Effect.forkChild(Effect.exit(acquire()))
        yield* advance(2000)
        const exit = yield* Fiber.join(attempt)
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
      }))
    }).pipe(
      provide(
        Fake.make(fake, { withValidate: true, pool: { min: 1, max: 1, acquireTimeout: "2 seconds" } }).layer({
          label: "x"
        })
      )
    )
  })

  it.effect("a discarded instance returns its slot at once: never more than max created, shutdown cleans up at once", () => {
    const fake = new Fake.Fake()
    fake.validate = [false]
    return Effect.gen(function*() {
      yield* Effect.scoped(acquire())
      yield* TestClock.adjust("1 second")
      const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire(), Effect.never)))
      yield* settle
      const stats = yield* Manager.stats("fake")
      assert.strictEqual(stats.inUse, 1)
      assert.strictEqual(fake.created, 2)
      assert.isAtMost(fake.live.size, 2)
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      yield* advance(1000)
      const report = yield* Fiber.join(shutdown)
      assert.deepStrictEqual(report.resources[0], {
        key: "fake",
        drained: false,
        outstanding: 1,
        forced: 1,
        cleanedUp: true
      })
      yield* Fiber.interrupt(holder)
    }).pipe(
      provide(
        Fake.make(fake, { withValidate: true, pool: { min: 1, max: 2, drainTimeout: "1 second" } }).layer({
          label: "x"
        })
      )
    )
  })

  it.effect("draining ends as soon as the last lease is discarded, not at the deadline", () => {
    const fake = new Fake.Fake()
    fake.validate = (n) => n === 1 ? Fake.slow(1000) : false
    return Effect.gen(function*() {
      yield* Effect.scoped(acquire())
      yield* TestClock.adjust("1 second")
      const caller = yield* Effect.forkChild(Effect.exit(Effect.scoped(acquire())))
      yield* settle
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      yield* advance(2000)
      assert.isDefined(shutdown.pollUnsafe())
      yield* Fiber.join(caller)
    }).pipe(provide(Fake.make(fake, { withValidate: true, pool: { min: 1, max: 1 } }).layer({ label: "x" })))
  })
})
