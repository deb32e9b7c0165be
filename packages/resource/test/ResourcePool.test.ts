import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Random } from "effect"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import type * as PoolOptions from "../src/PoolOptions.ts"
import * as Fake from "./utils/fake.ts"
import { settle20 as settle } from "./utils/time.ts"

const provideFake =
  (fake: Fake.Fake, pool: PoolOptions.Input, options: Omit<Parameters<typeof Fake.make>[1], "pool"> = {}) =>
  <A, E, R>(body: Effect.Effect<A, E, R>) =>
    Effect.scoped(body).pipe(
      Effect.provide(
        Fake.make(fake, { ...options, pool }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
      )
    )

const acquire = Manager.acquire("fake") as Effect.Effect<Fake.FakeInstance, any, any>

describe("ResourcePool", () => {
  describe("acquire timeout", () => {
    it.effect("an exhausted pool fails after the acquire timeout with phase wait and the pool's numbers", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* acquire
        const waiter = yield* Effect.forkChild(Effect.scoped(acquire))
        yield* settle
        assert.strictEqual((yield* Manager.stats("fake")).waiters, 1)
        yield* TestClock.adjust("29 seconds")
        assert.isUndefined(waiter.pollUnsafe())
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.await(waiter)
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
        assert.strictEqual(error?._tag, "Fail")
        const failure = (error as any).error
        assert.strictEqual(failure._tag, "AcquireTimeout")
        assert.strictEqual(failure.phase, "wait")
        assert.isTrue(failure.exhausted)
        assert.strictEqual(failure.kind, "Exhausted")
        assert.isTrue(failure.retryable)
        assert.deepStrictEqual(failure.pool, { size: 1, inUse: 1, idle: 0, waiters: 1, max: 1 })
        assert.match(failure.message, /pool exhausted/)
        const stats = yield* Manager.stats("fake")
        assert.strictEqual(stats.timeouts, 1)
        assert.strictEqual(stats.waiters, 0)
      }).pipe(provideFake(fake, { min: 0, max: 1 }))
    })

    it.effect("waiters are served in arrival order (fair FIFO)", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const served: Array<number> = []
        const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire, Effect.sleep("1 second"))))
        yield* settle
        const fibers: Array<Fiber.Fiber<void, unknown>> = []
        for (let i = 0; i < 5; i++) {
          fibers.push(
            yield* Effect.forkChild(
              Effect.scoped(
                Effect.andThen(acquire, Effect.andThen(Effect.sync(() => served.push(i)), Effect.sleep("1 second")))
              )
            )
          )
          yield* settle
        }
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(holder)
        for (const fiber of fibers) yield* Fiber.join(fiber)
        assert.deepStrictEqual(served, [0, 1, 2, 3, 4])
        assert.strictEqual(fake.created, 1)
      }).pipe(provideFake(fake, { min: 0, max: 1 }))
    })
  })

  describe("create", () => {
    it.effect("a create slower than the create timeout fails with CreateTimeout and leaks no instance", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.slow(60_000)
      return Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.scoped(acquire))
        yield* TestClock.adjust("5 seconds")
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.strictEqual(error._tag, "CreateTimeout")
        assert.strictEqual(error.timeoutMs, 1000)
        assert.isAtLeast(error.attempts, 3)
        assert.isTrue(error.retryable)
        assert.strictEqual(fake.created, 0)
        // the fake's connect is uninterruptible (inside acquireRelease): late instances are cleaned up at once
        yield* TestClock.adjust("2 minutes")
        assert.strictEqual(fake.created, fake.createCalls)
        assert.strictEqual(fake.destroyed, fake.created)
        assert.strictEqual(fake.live.size, 0)
        assert.strictEqual((yield* Manager.stats("fake")).size, 0)
      }).pipe(provideFake(fake, { min: 0, max: 2, createTimeout: "1 second", acquireTimeout: "5 seconds" }))
    })

    it.effect("a backend that is down fails with CreateFailed at the acquire timeout, with bounded attempts", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.fail(new Error("connection refused"))
      return Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.scoped(acquire))
        yield* TestClock.adjust("1999 millis")
        assert.isUndefined(fiber.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.strictEqual(error._tag, "CreateFailed")
        assert.match(error.reason, /connection refused/)
        assert.strictEqual(error.kind, "Transient")
        // backoff 50 ms doubling: attempts at 0, 50, 150, 350, 750, 1550 ms
        assert.strictEqual(fake.createCalls, 6)
        assert.strictEqual(error.attempts, 6)
        assert.notStrictEqual(error._tag, "AcquireTimeout")
      }).pipe(provideFake(fake, { min: 0, max: 2, acquireTimeout: "2 seconds" }))
    })

    it.effect("when the backend comes back, a pending acquire succeeds without a restart", () => {
      const fake = new Fake.Fake()
      fake.create = [Fake.fail(), Fake.fail(), Fake.fail()]
      return Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.scoped(Effect.map(acquire, (i) => i.id)))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(fiber), 4)
        const again = yield* Effect.scoped(Effect.map(acquire, (i) => i.id))
        assert.strictEqual(again, 4)
      }).pipe(provideFake(fake, { min: 0, max: 2 }))
    })

    it.effect("a non-retryable create error fails the acquire at once", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.fail("bad password")
      return Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(acquire))
        assert.strictEqual(error._tag, "CreateFailed")
        assert.isFalse(error.retryable)
        assert.strictEqual(error.kind, "Permanent")
        assert.strictEqual(fake.createCalls, 1)
      }).pipe(provideFake(fake, { min: 0, max: 2 }, { isRetryable: () => false }))
    })
  })

  describe("validate on borrow", () => {
    it.effect("is skipped while the instance was idle less than the skip window", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.scoped(acquire)
        yield* TestClock.adjust("100 millis")
        yield* Effect.scoped(acquire)
        assert.strictEqual(fake.validateCalls, 0)
        yield* TestClock.adjust("500 millis")
        yield* Effect.scoped(acquire)
        assert.strictEqual(fake.validateCalls, 1)
      }).pipe(provideFake(fake, { min: 0, max: 2 }, { withValidate: true }))
    })

    it.effect("an invalid instance is destroyed and the caller gets a fresh one", () => {
      const fake = new Fake.Fake()
      fake.validate = [false]
      return Effect.gen(function*() {
        const first = yield* Effect.scoped(Effect.map(acquire, (i) => i.id))
        yield* TestClock.adjust("1 second")
        const second = yield* Effect.scoped(Effect.map(acquire, (i) => i.id))
        assert.strictEqual(first, 1)
        assert.strictEqual(second, 2)
        assert.deepStrictEqual(fake.destroyedIds, [1])
        const stats = yield* Manager.stats("fake")
        assert.strictEqual(stats.size, 1)
        assert.strictEqual(stats.acquisitions, 2)
      }).pipe(provideFake(fake, { min: 0, max: 2 }, { withValidate: true }))
    })

    it.effect("a validation that hangs times out, counts as invalid, and the acquire still succeeds", () => {
      const fake = new Fake.Fake()
      fake.validate = [Fake.hang]
      return Effect.gen(function*() {
        yield* Effect.scoped(acquire)
        yield* TestClock.adjust("1 second")
        const fiber = yield* Effect.forkChild(Effect.scoped(Effect.map(acquire, (i) => i.id)))
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(yield* Fiber.join(fiber), 2)
        assert.deepStrictEqual(fake.destroyedIds, [1])
      }).pipe(provideFake(fake, { min: 0, max: 2 }, { withValidate: true }))
    })

    it.effect("a validation slower than the acquire timeout fails with phase validate", () => {
      const fake = new Fake.Fake()
      fake.validate = [Fake.hang]
      return Effect.gen(function*() {
        yield* Effect.scoped(acquire)
        yield* TestClock.adjust("1 second")
        const fiber = yield* Effect.forkChild(Effect.scoped(acquire))
        yield* TestClock.adjust("2 seconds")
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.strictEqual(error._tag, "AcquireTimeout")
        assert.strictEqual(error.phase, "validate")
        assert.isFalse(error.exhausted)
      }).pipe(provideFake(fake, { min: 0, max: 2, acquireTimeout: "2 seconds" }, { withValidate: true }))
    })
  })

  describe("recycle on return", () => {
    it.effect("runs when a lease returns, and a failing recycle destroys the instance", () => {
      const fake = new Fake.Fake()
      fake.recycle = [Fake.ok, Fake.fail()]
      return Effect.gen(function*() {
        const a = yield* Effect.scoped(acquire)
        assert.strictEqual(a.recycled, 1)
        const b = yield* Effect.scoped(acquire)
        assert.strictEqual(b, a)
        assert.strictEqual(b.recycled, 2)
        assert.deepStrictEqual(fake.destroyedIds, [1])
        const c = yield* Effect.scoped(acquire)
        assert.strictEqual(c.id, 2)
      }).pipe(provideFake(fake, { min: 0, max: 2 }, { withRecycle: true }))
    })

    it.effect("a recycle that hangs is cut by the recycle timeout and destroys the instance", () => {
      const fake = new Fake.Fake()
      fake.recycle = [Fake.hang]
      return Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.scoped(acquire))
        yield* settle
        assert.strictEqual(fake.recycleCalls, 1)
        assert.isUndefined(fiber.pollUnsafe())
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(fake.destroyedIds, [1])
      }).pipe(provideFake(fake, { min: 0, max: 2 }, { withRecycle: true }))
    })

    it.effect("needsRecycle returning false skips recycle; a dirty instance is recycled", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const a = yield* Effect.scoped(acquire)
        assert.strictEqual(a.recycled, 0)
        const b = yield* Effect.scoped(Effect.tap(acquire, (instance) => Effect.sync(() => instance.uses = 99)))
        assert.strictEqual(b, a)
        assert.strictEqual(b.recycled, 1)
        assert.strictEqual(fake.recycleCalls, 1)
      }).pipe(
        provideFake(fake, { min: 0, max: 2 }, {
          withRecycle: true,
          needsRecycle: (instance: Fake.FakeInstance) => instance.uses === 99
        })
      )
    })
  })

  describe("selection", () => {
    const returnInOrder = (fake: Fake.Fake) =>
      Effect.gen(function*() {
        const fibers = []
        for (let i = 0; i < 3; i++) {
          fibers.push(yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire, Effect.sleep(`${i + 1} seconds`)))))
        }
        yield* settle
        assert.strictEqual(fake.created, 3)
        yield* TestClock.adjust("3 seconds")
        for (const fiber of fibers) yield* Fiber.join(fiber)
        return yield* Effect.scoped(Effect.map(acquire, (i) => i.id))
      })

    it.effect("is LIFO by default: the most recently returned instance goes out next", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        assert.strictEqual(yield* returnInOrder(fake), 3)
      }).pipe(provideFake(fake, { min: 0, max: 3 }))
    })

    it.effect("is FIFO when configured: the longest idle instance goes out next", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        assert.strictEqual(yield* returnInOrder(fake), 1)
      }).pipe(provideFake(fake, { min: 0, max: 3, selection: "fifo" }))
    })
  })

  describe("idle timeout and max lifetime", () => {
    it.effect("idle instances above min are retired after the idle timeout", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.scoped(Effect.all([acquire, acquire, acquire], { concurrency: "unbounded" }))
        assert.strictEqual((yield* Manager.stats("fake")).size, 3)
        yield* TestClock.adjust("25 minutes")
        const stats = yield* Manager.stats("fake")
        assert.strictEqual(stats.size, 1)
        assert.strictEqual(fake.destroyed, 2)
      }).pipe(provideFake(fake, { min: 1, max: 3, idleTimeout: "10 minutes" }))
    })

    it.effect("an instance past its max lifetime is destroyed when its lease returns, not re-pooled", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.scoped(Effect.andThen(acquire, TestClock.adjust("2 minutes")))
        assert.deepStrictEqual(fake.destroyedIds, [1])
        const next = yield* Effect.scoped(acquire)
        assert.strictEqual(next.id, 2)
      }).pipe(provideFake(fake, { min: 0, max: 2, maxLifetime: "1 minute" }))
    })

    it.effect("max lifetime is jittered per instance so a cohort does not expire at once", () => {
      const fake = new Fake.Fake()
      const draws = [0, 0.5, 1]
      const random: Random.Random = { nextDoubleUnsafe: () => draws.shift() ?? 0, nextIntUnsafe: () => 0 }
      return Effect.gen(function*() {
        yield* settle
        assert.strictEqual(fake.created, 3)
        // lifetime 1000 s, jitter 0.4: expiries at 1000 s, 800 s and 600 s; the reaper runs every 30 s
        yield* TestClock.adjust("630 seconds")
        assert.strictEqual(fake.destroyed, 1)
        yield* TestClock.adjust("180 seconds")
        assert.strictEqual(fake.destroyed, 2)
        yield* TestClock.adjust("210 seconds")
        assert.strictEqual(fake.destroyed, 3)
      }).pipe(
        provideFake(fake, { min: 3, max: 3, maxLifetime: "1000 seconds", lifetimeJitter: 0.4 }),
        Effect.provideService(Random.Random, random)
      )
    })
  })

  describe("waiting callers", () => {
    const use = <A>(f: (instance: Fake.FakeInstance) => Effect.Effect<A>) =>
      Manager.use("fake", f as (instance: unknown) => Effect.Effect<A>)

    it.effect("a burst larger than max grows the pool to max while the rest queue", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.slow(100)
      return Effect.gen(function*() {
        const seen = new Set<number>()
        const fibers = yield* Effect.forEach(
          Array.from({ length: 12 }),
          () =>
            Effect.forkChild(use((i) => Effect.andThen(Effect.sync(() => seen.add(i.id)), Effect.sleep("1 second"))))
        )
        yield* settle
        const queued = yield* Manager.stats("fake")
        assert.strictEqual(queued.waiters, 12)
        yield* TestClock.adjust("100 millis")
        const grown = yield* Manager.stats("fake")
        assert.strictEqual(grown.size, 4)
        assert.strictEqual(grown.inUse, 4)
        assert.strictEqual(grown.waiters, 8)
        yield* TestClock.adjust("3 seconds")
        for (const fiber of fibers) yield* Fiber.join(fiber)
        assert.strictEqual(fake.created, 4)
        assert.strictEqual(seen.size, 4)
        const done = yield* Manager.stats("fake")
        assert.strictEqual(done.acquisitions, 12)
        assert.strictEqual(done.inUse, 0)
        assert.strictEqual(done.waiters, 0)
      }).pipe(provideFake(fake, { min: 0, max: 4 }))
    })

    it.effect("queued use callers are handed returning leases in arrival order", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const served: Array<[number, number]> = []
        const holder = yield* Effect.forkChild(use(() => Effect.sleep("1 second")))
        yield* settle
        const fibers: Array<Fiber.Fiber<void, unknown>> = []
        for (let i = 0; i < 5; i++) {
          fibers.push(
            yield* Effect.forkChild(use((instance) =>
              Effect.andThen(
                Effect.sync(() => served.push([i, instance.id])),
                Effect.sleep("1 second")
              )
            ))
          )
          yield* settle
        }
        assert.strictEqual((yield* Manager.stats("fake")).waiters, 5)
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(holder)
        for (const fiber of fibers) yield* Fiber.join(fiber)
        assert.deepStrictEqual(served, [[0, 1], [1, 1], [2, 1], [3, 1], [4, 1]])
        const stats = yield* Manager.stats("fake")
        assert.strictEqual(stats.acquisitions, 6)
        assert.strictEqual(stats.inUse, 0)
      }).pipe(provideFake(fake, { min: 0, max: 1 }))
    })

    it.effect("a use whose body fails or dies still returns the handed-over lease", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const holder = yield* Effect.forkChild(use(() => Effect.sleep("1 second")))
        yield* settle
        const failing = yield* Effect.forkChild(
          Effect.exit(use(() => Effect.fail("body failed") as Effect.Effect<never>))
        )
        const dying = yield* Effect.forkChild(Effect.exit(use(() => {
          throw new Error("thrown by the body")
        })))
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
        assert.isTrue(Exit.isFailure(yield* Fiber.join(failing)))
        assert.isTrue(Exit.isFailure(yield* Fiber.join(dying)))
        const stats = yield* Manager.stats("fake")
        assert.strictEqual(stats.inUse, 0)
        assert.strictEqual(stats.acquisitions, 3)
        yield* canReachMax(fake, 1)
      }).pipe(provideFake(fake, { min: 0, max: 1 }))
    })

    it.effect("interrupting a queued use leaks nothing and passes the lease to the next caller", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const holder = yield* Effect.forkChild(use(() => Effect.sleep("1 second")))
        yield* settle
        const interrupted = yield* Effect.forkChild(use(() => Effect.never))
        const next = yield* Effect.forkChild(use((instance) => Effect.succeed(instance.id)))
        yield* settle
        assert.strictEqual((yield* Manager.stats("fake")).waiters, 2)
        yield* Fiber.interrupt(interrupted)
        assert.strictEqual((yield* Manager.stats("fake")).waiters, 1)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
        assert.strictEqual(yield* Fiber.join(next), 1)
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
        yield* canReachMax(fake, 1)
      }).pipe(provideFake(fake, { min: 0, max: 1 }))
    })

    it.effect("a caller queued behind failing creates fails with the create error, not a bare timeout", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.fail(new Error("connection refused"))
      return Effect.gen(function*() {
        const fibers = yield* Effect.forEach(
          Array.from({ length: 3 }),
          () => Effect.forkChild(Effect.flip(Effect.scoped(acquire)))
        )
        yield* settle
        yield* TestClock.adjust("2 seconds")
        for (const fiber of fibers) {
          const error = yield* Fiber.join(fiber)
          assert.strictEqual(error._tag, "CreateFailed")
          assert.match(error.reason, /connection refused/)
          assert.isAtMost(error.attempts, 6)
        }
      }).pipe(provideFake(fake, { min: 0, max: 1, acquireTimeout: "2 seconds" }))
    })
  })

  describe("interruption", () => {
    it.effect("interrupting an acquire while it waits leaks nothing", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          yield* acquire
          yield* acquire
          const waiter = yield* Effect.forkChild(Effect.scoped(acquire))
          yield* settle
          assert.strictEqual((yield* Manager.stats("fake")).waiters, 1)
          yield* Fiber.interrupt(waiter)
          assert.strictEqual((yield* Manager.stats("fake")).waiters, 0)
        }))
        yield* canReachMax(fake, 2)
      }).pipe(provideFake(fake, { min: 0, max: 2 }))
    })

    it.effect("interrupting an acquire while it creates leaks nothing", () => {
      const fake = new Fake.Fake()
      fake.create = [Fake.slow(10_000)]
      return Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.scoped(acquire))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        yield* TestClock.adjust("20 seconds")
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
        assert.isAtMost(fake.live.size, 2)
        yield* canReachMax(fake, 2)
      }).pipe(provideFake(fake, { min: 0, max: 2 }))
    })

    it.effect("interrupting an acquire while it validates leaks nothing", () => {
      const fake = new Fake.Fake()
      fake.validate = [Fake.hang]
      return Effect.gen(function*() {
        yield* Effect.scoped(acquire)
        yield* TestClock.adjust("1 second")
        const fiber = yield* Effect.forkChild(Effect.scoped(acquire))
        yield* settle
        assert.strictEqual(fake.validateCalls, 1)
        yield* Fiber.interrupt(fiber)
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
        yield* canReachMax(fake, 2)
      }).pipe(provideFake(fake, { min: 0, max: 2 }, { withValidate: true }))
    })
  })
})

const canReachMax = (fake: Fake.Fake, max: number) =>
  Effect.gen(function*() {
    yield* Effect.scoped(Effect.gen(function*() {
      const held = yield* Effect.all(Array.from({ length: max }, () => acquire), { concurrency: "unbounded" })
      assert.strictEqual(new Set(held).size, max)
      const stats = yield* Manager.stats("fake")
      assert.strictEqual(stats.inUse, max)
      assert.isAtMost(fake.live.size, max)
    }))
    assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
  })
