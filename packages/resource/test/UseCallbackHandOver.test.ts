/**
 * A `Manager.useCallback` call started on a lease handed over from a completing call is treated like
 * a call on a fresh borrow.
 *
 * A queued caller woken to try the pool used to run its call without the caller's ids, so the hold
 * watchdog's event could not name the action that held the lease too long. The other tests pin down
 * how a handed-over call meets shutdown, validation, expiry, a resident pool's concurrency, an event
 * subscriber that appears while callers queue, and tracing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Caller from "../src/Caller.ts"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"
import type { ResourceEvent } from "../src/ResourceEvent.ts"
import * as Tenancy from "../src/Tenancy.ts"
import { Driver, layer, tagOf, useCallback } from "./utils/callbackDriver.ts"
import * as Fake from "./utils/fake.ts"
import { advance30 as advance, settle30 as settle } from "./utils/time.ts"

describe("useCallback: a call on a handed-over lease", () => {
  it.effect("a queued caller woken to try the pool runs its call with the caller's ids (hold watchdog)", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(
        useCallback(driver, 1).pipe(
          Caller.provide(Tenancy.action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" }))
        )
      )
      yield* settle
      // subscribe only now, so that both callers took the unobserved callback path
      const events: Array<ResourceEvent> = []
      const stream = yield* Manager.subscribe({ tags: ["HoldDeadlineExceeded"] })
      yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => events.push(event))))
      yield* settle
      fake.recycle = [Fake.fail("reset failed")] // the first lease is destroyed: the waiter is woken to try the pool
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* Fiber.join(first)
      yield* settle
      assert.strictEqual(driver.started.length, 2)
      yield* advance(12_000, 500)
      const exceeded = events.find((event) => event._tag === "HoldDeadlineExceeded")
      assert.isDefined(exceeded)
      const ids = exceeded?._tag === "HoldDeadlineExceeded"
        ? [exceeded.tenantId, exceeded.workflowId, exceeded.executionId]
        : []
      driver.complete(driver.started[1]!, Effect.succeed(1))
      yield* Fiber.join(second)
      assert.deepStrictEqual(ids, ["t1", "w1", "e1"])
    }).pipe(
      Effect.scoped,
      Effect.provide(layer(fake, {
        pool: { min: 0, max: 1, maxHoldDuration: "10 seconds", acquireTimeout: "60 seconds" },
        withRecycle: true,
        needsRecycle: () => true
      }))
    )
  })

  it.effect("the same wake-up through Manager.use keeps the caller's ids", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(
        Manager.use("fake", () => Effect.sleep("15 seconds")).pipe(
          Caller.provide(Tenancy.action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" }))
        )
      )
      yield* settle
      const events: Array<ResourceEvent> = []
      const stream = yield* Manager.subscribe({ tags: ["HoldDeadlineExceeded"] })
      yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => events.push(event))))
      yield* settle
      fake.recycle = [Fake.fail("reset failed")]
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* Fiber.join(first)
      yield* advance(12_000, 500)
      const exceeded = events.find((event) => event._tag === "HoldDeadlineExceeded")
      const ids = exceeded?._tag === "HoldDeadlineExceeded"
        ? [exceeded.tenantId, exceeded.workflowId, exceeded.executionId]
        : []
      yield* advance(4_000, 500)
      yield* Fiber.join(second)
      assert.deepStrictEqual(ids, ["t1", "w1", "e1"])
    }).pipe(
      Effect.scoped,
      Effect.provide(layer(fake, {
        pool: { min: 0, max: 1, maxHoldDuration: "10 seconds", acquireTimeout: "60 seconds" },
        withRecycle: true,
        needsRecycle: () => true
      }))
    )
  })

  it.effect("shutdown with one call in flight on a handed-over lease and one queued", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      const third = yield* Effect.forkChild(useCallback(driver, 2))
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* Fiber.join(first)
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      yield* settle
      assert.strictEqual(tagOf(third.pollUnsafe()), "Fail:ResourceClosed")
      driver.complete(driver.started[1]!, Effect.succeed(1))
      assert.deepStrictEqual(yield* Fiber.await(second), Exit.succeed(1))
      const report = yield* Fiber.join(shutdown)
      const r = report.resources.find((x) => x.key === "fake") as any
      assert.deepStrictEqual([r.drained, r.forced, fake.live.size, driver.started.length], [true, 0, 0, 2])
    }).pipe(Effect.provide(layer(fake, { pool: { min: 0, max: 1, drainTimeout: "5 seconds" } })))
  })

  it.effect("shutdown forces an in-flight call; its late completion and interrupt change nothing", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* Fiber.join(first)
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      yield* advance(2000, 200)
      const report = yield* Fiber.join(shutdown)
      const r = report.resources.find((x) => x.key === "fake") as any
      assert.deepStrictEqual([r.drained, r.forced], [false, 1])
      driver.complete(driver.started[1]!, Effect.succeed(1))
      assert.deepStrictEqual(yield* Fiber.await(second), Exit.succeed(1))
      assert.deepStrictEqual(fake.doubleDestroys, [])
    }).pipe(Effect.provide(layer(fake, { pool: { min: 0, max: 1, drainTimeout: "1 second" } })))
  })

  it.effect("validateSkipWindow 0 validates before each handed-over call", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const fibers = []
      for (let i = 0; i < 3; i++) {
        fibers.push(yield* Effect.forkChild(useCallback(driver, i)))
        yield* settle
      }
      const v0 = fake.validateCalls
      for (let i = 0; i < 3; i++) {
        driver.complete(driver.started[i]!, Effect.succeed(i))
        yield* settle
      }
      for (const f of fibers) yield* Fiber.join(f)
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual([fake.validateCalls - v0, stats.inUse, stats.acquisitions], [2, 0, 3])
    }).pipe(Effect.provide(layer(fake, { withValidate: true, pool: { min: 0, max: 1, validateSkipWindow: 0 } })))
  })

  it.effect("an expired instance is not handed over", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      yield* TestClock.adjust("11 seconds")
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* settle
      yield* Fiber.join(first)
      assert.strictEqual(driver.started.length, 2)
      assert.notStrictEqual(driver.started[1]!.instance.id, driver.started[0]!.instance.id)
      driver.complete(driver.started[1]!, Effect.succeed(1))
      assert.deepStrictEqual(yield* Fiber.await(second), Exit.succeed(1))
      assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
    }).pipe(
      Effect.provide(layer(fake, { pool: { min: 0, max: 1, maxLifetime: "10 seconds", lifetimeJitter: 0 } }))
    )
  })

  it.effect("resident pool with maxConcurrent 2, queued calls", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const fibers = []
      for (let i = 0; i < 5; i++) fibers.push(yield* Effect.forkChild(useCallback(driver, i)))
      yield* settle
      assert.strictEqual(driver.started.length, 2)
      for (let i = 0; i < 5; i++) {
        driver.complete(driver.started[i]!, Effect.succeed(i))
        yield* settle
      }
      for (let i = 0; i < 5; i++) assert.deepStrictEqual(yield* Fiber.await(fibers[i]!), Exit.succeed(i))
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual([stats.inUse, stats.waiters, stats.acquisitions], [0, 0, 5])
    }).pipe(
      Effect.provide(
        Resource.make({
          key: "fake",
          config: Schema.Struct({ label: Schema.String }),
          resident: { maxConcurrent: 2 },
          create: () =>
            Effect.sync((): Fake.FakeInstance => ({ id: ++fake.created, uses: 0, recycled: 0, destroyed: false }))
        }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
      )
    )
  })

  it.effect("subscriber appears while callers queue: Acquired/Released stay paired", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      const events: Array<ResourceEvent> = []
      const stream = yield* Manager.subscribe({ tags: ["Acquired", "Released"] })
      yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => events.push(event))))
      yield* settle
      const third = yield* Effect.forkChild(useCallback(driver, 2))
      yield* settle
      for (let i = 0; i < 3; i++) {
        driver.complete(driver.started[i]!, Effect.succeed(i))
        yield* settle
      }
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      yield* Fiber.join(third)
      yield* settle
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual([events.map((e) => e._tag), stats.inUse, stats.acquisitions], [
        ["Acquired", "Released"],
        0,
        3
      ])
    }).pipe(Effect.scoped, Effect.provide(layer(fake)))
  })

  it.effect("traced caller (inside a span) queued behind untraced ones", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      const traced = yield* Effect.forkChild(Effect.withSpan(useCallback(driver, 2), "outer"))
      yield* settle
      for (let i = 0; i < 3; i++) {
        driver.complete(driver.started[i]!, Effect.succeed(i))
        yield* settle
      }
      assert.deepStrictEqual(yield* Fiber.await(traced), Exit.succeed(2))
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual([stats.inUse, stats.waiters, stats.acquisitions, driver.overlaps.length], [0, 0, 3, 0])
    }).pipe(Effect.provide(layer(fake)))
  })
})
