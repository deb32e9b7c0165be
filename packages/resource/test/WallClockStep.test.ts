/**
 * Deadlines and durations run on the monotonic clock: a step of the wall clock (NTP, an operator, a
 * VM resumed from a snapshot) neither times out waiting callers nor switches their timeout off, and
 * idle instances retire once, on their own idle timeout and max lifetime. Wall-clock time is only used
 * for the timestamps shown to people (events, snapshots).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import type * as PoolOptions from "../src/PoolOptions.ts"
import type { ResourceEvent } from "../src/ResourceEvent.ts"
import * as Fake from "./utils/fake.ts"
import { settle40 as settle, withSteppableWallClock } from "./utils/time.ts"

const hour = 60 * 60 * 1000

const provideFake = (fake: Fake.Fake, pool: PoolOptions.Input) => <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.scoped(body).pipe(
    Effect.provide(Fake.make(fake, { pool }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer)))
  )

/** The resource's layer is built under the steppable wall clock too: it reads the clock once, when built. */
const steppable = <A, E>(
  fake: Fake.Fake,
  body: (step: (millis: number) => Effect.Effect<void>) => Effect.Effect<A, E, any>,
  pool: PoolOptions.Input
) => withSteppableWallClock((step) => body(step).pipe(provideFake(fake, pool)))

const acquire = Manager.acquire("fake") as Effect.Effect<Fake.FakeInstance, any, any>
const hold = Effect.scoped(Effect.andThen(acquire, Effect.never))
const acquireOnce = Effect.scoped(Effect.asVoid(acquire))

const cleanups = Effect.gen(function*() {
  const seen: Array<ResourceEvent> = []
  const events = yield* Manager.subscribe({ tags: ["CleanedUp"] })
  yield* Effect.forkScoped(Stream.runForEach(events, (event) => Effect.sync(() => seen.push(event))))
  return seen
})

describe("wall-clock steps: deadlines run on the monotonic clock", () => {
  it.effect("a forward step of an hour times out none of the callers still within their deadline", () => {
    const fake = new Fake.Fake()
    return steppable(fake, (step) =>
      Effect.gen(function*() {
        const holder = yield* Effect.forkChild(hold)
        yield* settle
        const first = yield* Effect.forkChild(Effect.exit(acquireOnce))
        yield* settle
        yield* TestClock.adjust(1500)
        const later = yield* Effect.forEach(
          Array.from({ length: 4 }),
          () => Effect.forkChild(Effect.exit(acquireOnce))
        )
        yield* settle
        yield* TestClock.adjust(100)
        yield* step(hour)
        yield* TestClock.adjust(400)
        yield* settle
        const firstExit = yield* Fiber.join(first)
        assert.include(String(firstExit), "AcquireTimeout", "the first caller waited its 2 s")
        assert.strictEqual((yield* Manager.stats("fake")).timeouts, 1)
        assert.isTrue(later.every((waiter) => waiter.pollUnsafe() === undefined), "the others waited 0.5 s")
        yield* Fiber.interrupt(holder)
        const exits = yield* Fiber.joinAll(later)
        assert.isTrue(exits.every(Exit.isSuccess))
      }), { min: 0, max: 1, acquireTimeout: "2 seconds" })
  })

  it.effect("a backward step of an hour keeps the acquire timeout", () => {
    const fake = new Fake.Fake()
    return steppable(fake, (step) =>
      Effect.gen(function*() {
        const holder = yield* Effect.forkChild(hold)
        yield* settle
        const waiter = yield* Effect.forkChild(Effect.exit(acquireOnce))
        yield* settle
        yield* TestClock.adjust(500)
        yield* step(-hour)
        yield* TestClock.adjust(1499)
        yield* settle
        assert.isUndefined(waiter.pollUnsafe())
        yield* TestClock.adjust(1)
        yield* settle
        const exit = yield* Fiber.join(waiter)
        assert.isTrue(Exit.isFailure(exit))
        assert.include(String(exit), "AcquireTimeout")
        assert.strictEqual((yield* Manager.stats("fake")).timeouts, 1)
        yield* Fiber.interrupt(holder)
      }), { min: 0, max: 1, acquireTimeout: "2 seconds" })
  })

  it.effect("a forward step retires no idle instance before its idle timeout, and each retires once", () => {
    const fake = new Fake.Fake()
    return steppable(fake, (step) =>
      Effect.gen(function*() {
        const seen = yield* cleanups
        yield* Effect.scoped(Effect.forEach(Array.from({ length: 3 }), () => acquire, { concurrency: "unbounded" }))
        yield* TestClock.adjust("9 minutes")
        yield* Effect.scoped(Effect.forEach(Array.from({ length: 3 }), () => acquire, { concurrency: "unbounded" }))
        yield* TestClock.adjust("30 seconds")
        yield* step(hour)
        yield* TestClock.adjust("1 minute")
        yield* settle
        assert.strictEqual(fake.destroyed, 0, "idle for 1.5 minutes: none is past its 10-minute idle timeout")
        yield* TestClock.adjust("10 minutes")
        yield* settle
        assert.strictEqual(fake.created, 3)
        assert.strictEqual(fake.destroyed, 3)
        assert.deepStrictEqual(fake.doubleDestroys, [])
        assert.strictEqual(seen.length, 3)
      }), { min: 0, max: 3, idleTimeout: "10 minutes", maxLifetime: "1 day" })
  })

  it.effect("a backward step does not keep idle instances past their max lifetime", () => {
    const fake = new Fake.Fake()
    return steppable(fake, (step) =>
      Effect.gen(function*() {
        const seen = yield* cleanups
        yield* Effect.scoped(Effect.forEach(Array.from({ length: 2 }), () => acquire, { concurrency: "unbounded" }))
        yield* TestClock.adjust("1 minute")
        yield* step(-hour)
        yield* TestClock.adjust("30 minutes")
        yield* settle
        assert.strictEqual(fake.destroyed, 2)
        assert.deepStrictEqual(fake.doubleDestroys, [])
        assert.deepStrictEqual(
          seen.map((event) => event._tag === "CleanedUp" ? event.reason : event._tag),
          ["expired", "expired"]
        )
      }), { min: 0, max: 2, idleTimeout: "1 day", maxLifetime: "30 minutes" })
  })

  it.effect("events carry wall-clock timestamps", () => {
    const fake = new Fake.Fake()
    return steppable(fake, (step) =>
      Effect.gen(function*() {
        const seen = yield* cleanups
        yield* step(hour)
        yield* Effect.scoped(acquire)
        yield* TestClock.adjust("11 minutes")
        yield* settle
        assert.strictEqual(seen.length, 1)
        assert.isAtLeast(seen[0]!.at, hour)
      }), { min: 0, max: 1, idleTimeout: "10 minutes" })
  })
})
