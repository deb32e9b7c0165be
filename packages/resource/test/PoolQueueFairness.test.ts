/**
 * A caller that lost the fast-path race is served fairly, and so is the queue behind it.
 *
 * The fast path checks for an idle instance in one step and takes it in the next; a caller whose
 * fiber yields in between (its operation budget ran out) can find the instance gone and end up
 * waiting in the underlying pool's queue instead of the core queue. Such a caller used to starve
 * behind the callers that kept arriving in the core queue; it must be served by the next returning
 * lease. And once it had its lease, the callers in the core queue used to sleep next to an idle
 * instance (two leases returned in one step, or an instance created for the caller that lost the
 * race); they must be served too.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as Scheduler from "effect/Scheduler"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import * as Fake from "./utils/fake.ts"
import { settle30 as settle } from "./utils/time.ts"

describe("fast path: a caller that yields between the check and the take", () => {
  for (const ops of [3]) {
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

describe("fast path: the core queue after a caller that lost the race is served", () => {
  const hold = (order: Array<string>, label: string, duration: Duration.Input) =>
    Manager.use("fake", (instance) =>
      Effect.andThen(
        Effect.sync(() => order.push(`${label}#${(instance as Fake.FakeInstance).id}`)),
        Effect.sleep(duration)
      ))
  const acquire = Manager.acquire("fake") as Effect.Effect<unknown, unknown, Scope.Scope | Manager.Manager>

  it.effect("two leases returned in one step serve both the pool's waiter and the queue's", () => {
    const fake = new Fake.Fake()
    return Effect.gen(function*() {
      const order: Array<string> = []
      const held = yield* Scope.make()
      const take = Effect.forkChild(Scope.provide(acquire, held), { startImmediately: true })
      yield* take
      const lost = yield* Effect.forkChild(
        hold(order, "lost", "20 seconds").pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, 3)),
        { startImmediately: true }
      )
      yield* take
      yield* settle
      const queued = yield* Effect.forkChild(hold(order, "queued", "1 second"))
      yield* settle
      const before = yield* Manager.stats("fake")
      yield* Scope.close(held, Exit.void)
      yield* settle
      const served = order.map((label) => label.split("#")[0]).sort()
      yield* TestClock.adjust("30 seconds")
      yield* Fiber.join(lost)
      yield* Fiber.join(queued)
      assert.deepStrictEqual([before.inUse, before.waiters, served], [2, 2, ["lost", "queued"]])
    }).pipe(
      Effect.provide(
        Fake.make(fake, { pool: { min: 2, max: 2, acquireTimeout: "60 seconds" } }).layer({ label: "x" }).pipe(
          Layer.provideMerge(Manager.layer)
        )
      )
    )
  })

  it.effect("an instance created for the caller that lost the race serves the queue", () => {
    const fake = new Fake.Fake()
    fake.create = [Fake.ok, Fake.slow(2000)]
    return Effect.gen(function*() {
      const order: Array<string> = []
      const held = yield* Scope.make()
      const lost = yield* Effect.forkChild(
        hold(order, "lost", "20 seconds").pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, 3)),
        { startImmediately: true }
      )
      yield* Effect.forkChild(Scope.provide(acquire, held), { startImmediately: true })
      yield* settle
      const queued = yield* Effect.forkChild(Effect.exit(hold(order, "queued", "1 second")))
      yield* settle
      const before = yield* Manager.stats("fake")
      yield* TestClock.adjust("1 second")
      yield* Scope.close(held, Exit.void)
      yield* settle
      yield* TestClock.adjust("1 second") // the second instance is created
      yield* settle
      const served = order.map((label) => label.split("#")[0]).sort()
      yield* TestClock.adjust("30 seconds")
      yield* Fiber.join(lost)
      const exit = yield* Fiber.join(queued)
      assert.deepStrictEqual([before.inUse, before.waiters, fake.createCalls, served, Exit.isSuccess(exit)], [
        1,
        2,
        2,
        ["lost", "queued"],
        true
      ])
    }).pipe(
      Effect.provide(
        Fake.make(fake, { pool: { min: 1, max: 2, acquireTimeout: "5 seconds", createTimeout: "10 seconds" } })
          .layer({ label: "x" })
          .pipe(Layer.provideMerge(Manager.layer))
      )
    )
  })
})
