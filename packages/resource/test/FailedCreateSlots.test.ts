/**
 * A create that fails while nobody waits for it does not cost the pool a slot: waiters are served up
 * to max.
 *
 * A create that failed with no caller waiting (the `min` fill at startup while the backend is down,
 * or a create that outlived the create timeout after its caller left) used to keep its slot as a
 * failed one. With the other slots leased, the pool neither grew nor replaced it, and a caller asleep
 * in the wait queue was never woken: it failed with `AcquireTimeout` (phase "wait", "pool exhausted;
 * size 1/2") after the full acquire timeout, though the pool was below max and the backend healthy.
 * Depending on timing the loss was permanent: every burst of `max` concurrent acquires lost one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import type * as PoolOptions from "../src/PoolOptions.ts"
import * as Fake from "./utils/fake.ts"
import { settle40 as settle } from "./utils/time.ts"

const provideFake = (fake: Fake.Fake, pool: PoolOptions.Input) => <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.scoped(body).pipe(
    Effect.provide(Fake.make(fake, { pool }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer)))
  )

const acquire = Manager.acquire("fake") as Effect.Effect<Fake.FakeInstance, any, any>

/** Takes `n` leases at once, driving the clock; returns the errors of the acquires that failed. */
const burst = (n: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(
      Effect.scoped(Effect.all(Array.from({ length: n }, () => Effect.exit(acquire)), { concurrency: "unbounded" }))
    )
    for (let i = 0; i < 100 && fiber.pollUnsafe() === undefined; i++) {
      yield* settle
      yield* TestClock.adjust("100 millis")
    }
    const exits = yield* Fiber.join(fiber)
    return exits.flatMap((exit) => Exit.isFailure(exit) ? [Cause.squash(exit.cause) as any] : [])
  })

describe("after failed creates the pool still serves up to max", () => {
  it.effect("after the min fill failed at startup, max concurrent acquires all succeed", () => {
    const fake = new Fake.Fake()
    fake.create = [Fake.fail("backend down"), Fake.fail("backend down")] // then the backend is back
    return Effect.gen(function*() {
      yield* settle
      const errors = yield* burst(2)
      // before the fix: [AcquireTimeout { phase: "wait", pool: { size: 1, inUse: 1, max: 2 } }] after 5 s
      assert.deepStrictEqual(errors.map((e) => e.message), [])
    }).pipe(provideFake(fake, { min: 2, max: 2, acquireTimeout: "5 seconds" }))
  })

  it.effect("a create that outlived the create timeout does not cost a slot for good", () => {
    const fake = new Fake.Fake()
    fake.create = [Fake.slow(51)] // longer than the create timeout; every later create is instant
    return Effect.gen(function*() {
      // one caller borrows at t=0 and returns after 1 ms, then the pool idles for ~10 s
      const caller = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire, Effect.sleep("1 millis"))))
      while (caller.pollUnsafe() === undefined) {
        yield* settle
        yield* TestClock.adjust("1152 millis")
      }
      for (let i = 0; i < 10; i++) {
        yield* settle
        yield* TestClock.adjust("1 second")
      }
      // the backend is healthy: every burst of max acquires succeeds
      const failedPerBurst: Array<number> = []
      for (let round = 0; round < 3; round++) {
        failedPerBurst.push((yield* burst(5)).length)
        yield* TestClock.adjust("5 seconds")
      }
      // before the fix: [1, 1, 1], each an AcquireTimeout "pool exhausted; size 4/5"
      assert.deepStrictEqual(failedPerBurst, [0, 0, 0])
    }).pipe(provideFake(fake, {
      min: 2,
      max: 5,
      acquireTimeout: "1352 millis",
      createTimeout: "50 millis",
      idleTimeout: "500 millis",
      maxLifetime: "1001 millis",
      lifetimeJitter: 0
    }))
  })
})
