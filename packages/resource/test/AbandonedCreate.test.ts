/**
 * A create abandoned at the create timeout still counts against max until it finishes.
 *
 * A driver's connect usually cannot be interrupted, so a create the pool gives up on at
 * `createTimeout` carries on in the background. The pool used to free its slot at once and create a
 * replacement; when the abandoned connect finished, the backend briefly had max + 1 open connections
 * (max + k with k abandoned creates) until the late instance was closed. Nothing leaked, but the
 * backend's connection cap was exceeded. Now the replacement is only created once the abandoned
 * create has settled.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import type * as PoolOptions from "../src/PoolOptions.ts"
import * as Fake from "./utils/fake.ts"

const provideFake = (fake: Fake.Fake, pool: PoolOptions.Input) => <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.scoped(body).pipe(
    Effect.provide(Fake.make(fake, { pool }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer)))
  )

const acquire = Manager.acquire("fake") as Effect.Effect<Fake.FakeInstance, any, any>

describe("create timeout: an abandoned create counts against max until it settles", () => {
  it.effect("a create slower than the create timeout never makes the backend exceed max", () => {
    const fake = new Fake.Fake()
    fake.create = [Fake.slow(61)] // the first connect takes 61 ms; the create timeout is 50 ms
    let peak = 0
    fake.onChange = () => {
      peak = Math.max(peak, fake.live.size)
    }
    return Effect.gen(function*() {
      const caller = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire, Effect.never)))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(caller)
      // #1 connected at 61 ms, after its create was abandoned at 50 ms: it is destroyed at once, and the
      // replacement #2 is only created once #1 settled (before the fix: #2 first, then #1, peak 2)
      assert.deepStrictEqual(fake.events.slice(0, 3), ["create fake#1", "destroy fake#1", "create fake#2"])
      assert.isAtMost(peak, 1)
    }).pipe(provideFake(fake, { min: 0, max: 1, createTimeout: "50 millis", createBackoff: "10 millis" }))
  })
})
