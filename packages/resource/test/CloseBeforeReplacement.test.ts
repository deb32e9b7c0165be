/**
 * An instance destroyed while still leased is closed before its replacement opens (never max + 1 live).
 *
 * When a lease came back past the instance's max lifetime, or a borrow's validation failed, the pool
 * used to retire the slot first and close the instance second. Since the returning or validating
 * lease still counted as demand, a replacement was created at once, while the old instance was still
 * open: the backend saw max + 1 connections, and with `min: 0` the replacement was not even needed.
 * Now the old instance is closed first and its slot retired after.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import type * as PoolOptions from "../src/PoolOptions.ts"
import * as Fake from "./utils/fake.ts"

const provideFake =
  (fake: Fake.Fake, pool: PoolOptions.Input, options: { readonly withValidate?: boolean } = {}) =>
  <A, E, R>(body: Effect.Effect<A, E, R>) =>
    Effect.scoped(body).pipe(
      Effect.provide(
        Fake.make(fake, { ...options, pool }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
      )
    )

const acquire = Manager.acquire("fake") as Effect.Effect<Fake.FakeInstance, any, any>

/** The most instances the fake ever had open at once. */
const peakLive = (fake: Fake.Fake) => {
  let peak = 0
  fake.onChange = () => {
    peak = Math.max(peak, fake.live.size)
  }
  return () => peak
}

describe("replacing a leased instance: the old one closes before the new one opens", () => {
  it.effect("a lease returned past its max lifetime: never more than max live", () => {
    const fake = new Fake.Fake()
    const peak = peakLive(fake)
    return Effect.gen(function*() {
      yield* Effect.scoped(Effect.andThen(acquire, TestClock.adjust("2 seconds")))
      // before the fix: peak 2, events [create #1, create #2, destroy #1]
      assert.deepStrictEqual(fake.events.slice(0, 2), ["create fake#1", "destroy fake#1"])
      assert.isAtMost(peak(), 1)
    }).pipe(provideFake(fake, { min: 0, max: 1, maxLifetime: "1 second", lifetimeJitter: 0 }))
  })

  it.effect("a borrow whose validation fails: never more than max live", () => {
    const fake = new Fake.Fake()
    fake.validate = [false]
    const peak = peakLive(fake)
    return Effect.gen(function*() {
      yield* Effect.scoped(acquire)
      yield* TestClock.adjust("1 second")
      const next = yield* Effect.scoped(acquire)
      assert.strictEqual(next.id, 2)
      // before the fix: peak 2, events [create #1, create #2, destroy #1]
      assert.deepStrictEqual(fake.events, ["create fake#1", "destroy fake#1", "create fake#2"])
      assert.isAtMost(peak(), 1)
    }).pipe(provideFake(fake, { min: 0, max: 1 }, { withValidate: true }))
  })
})
