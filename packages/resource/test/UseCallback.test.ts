/**
 * `Manager.useCallback`: one callback-style call per lease. The calls here are completed by hand, as
 * a driver's I/O callback would: each started call is recorded with its instance and `resume`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import { Driver, layer, useCallback } from "./utils/callbackDriver.ts"
import * as Fake from "./utils/fake.ts"
import { settle30 as settle } from "./utils/time.ts"

describe("Manager.useCallback", () => {
  it.effect("runs the call on an idle instance and returns the lease when the call resumes", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      const during = yield* Manager.stats("fake")
      assert.strictEqual(driver.started.length, 1)
      driver.complete(driver.started[0]!, Effect.succeed(42))
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.succeed(42))
      const after = yield* Manager.stats("fake")
      assert.deepStrictEqual([during.inUse, after.inUse, after.idle, after.acquisitions], [1, 0, 1, 1])
    }).pipe(Effect.provide(layer(fake, { pool: { min: 1, max: 2 } })))
  })

  it.effect("a returned lease starts the next waiting call at once, in arrival order, before its caller wakes", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const fibers = []
      for (let caller = 0; caller < 4; caller++) {
        fibers.push(yield* Effect.forkChild(useCallback(driver, caller)))
        yield* settle
      }
      assert.deepStrictEqual(driver.started.map((call) => call.caller), [0])
      assert.strictEqual((yield* Manager.stats("fake")).waiters, 3)
      for (let caller = 0; caller < 4; caller++) {
        driver.complete(driver.started[caller]!, Effect.succeed(caller))
        // the next call is already running on the same instance, with no scheduler turn in between
        assert.strictEqual(driver.started.length, Math.min(4, caller + 2))
        assert.deepStrictEqual(fibers[caller]!.pollUnsafe(), Exit.succeed(caller))
      }
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual(driver.started.map((call) => call.caller), [0, 1, 2, 3])
      assert.deepStrictEqual(new Set(driver.started.map((call) => call.instance.id)).size, 1)
      assert.deepStrictEqual([stats.inUse, stats.waiters, stats.acquisitions, fake.created], [0, 0, 4, 1])
      assert.deepStrictEqual(driver.overlaps, [])
    }).pipe(Effect.provide(layer(fake)))
  })

  it.effect("a failed call fails its caller and its lease goes to the next one", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      driver.complete(driver.started[0]!, Effect.fail("query failed"))
      driver.complete(driver.started[1]!, Effect.succeed(1))
      assert.deepStrictEqual(yield* Fiber.await(first), Exit.fail("query failed"))
      assert.deepStrictEqual(yield* Fiber.await(second), Exit.succeed(1))
      assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
    }).pipe(Effect.provide(layer(fake)))
  })

  it.effect("calls that resume inside their start: a chain of 1000 waiting callers unwinds without recursion", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const holder = yield* Effect.forkChild(useCallback(driver, -1))
      yield* settle
      const immediate: Manager.Callback<unknown, number, string> = (_, resume) => resume(Effect.fail("broken"))
      const fibers = yield* Effect.forEach(
        Array.from({ length: 1000 }),
        () => Effect.forkChild(Manager.useCallback("fake", immediate))
      )
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* settle
      const stats = yield* Manager.stats("fake")
      const exits = fibers.map((fiber) => fiber.pollUnsafe())
      assert.deepStrictEqual({
        notBroken: exits.filter((exit) =>
          exit === undefined || !Exit.isFailure(exit) || exit.cause.reasons.length !== 1
        )
          .length,
        inUse: stats.inUse,
        waiters: stats.waiters,
        acquisitions: stats.acquisitions
      }, { notBroken: 0, inUse: 0, waiters: 0, acquisitions: 1001 })
      assert.deepStrictEqual(exits[0], Exit.fail("broken"))
      yield* Fiber.join(holder)
    }).pipe(Effect.provide(layer(fake)))
  })

  it.effect("an interrupted caller whose call is in flight runs the driver's interrupt and returns the lease once", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const queued = yield* Effect.forkChild(useCallback(driver, 1))
      const third = yield* Effect.forkChild(useCallback(driver, 2))
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* Fiber.join(first)
      // the second call runs on the handed-over lease: interrupt its caller mid-call
      const inFlight = driver.started[1]!
      yield* Fiber.interrupt(queued)
      assert.isTrue(inFlight.interrupted)
      assert.strictEqual(driver.started.length, 3, "the lease went on to the third caller")
      // the interrupted call's late completion changes nothing
      inFlight.resume(Effect.succeed(99))
      const during = yield* Manager.stats("fake")
      driver.complete(driver.started[2]!, Effect.succeed(2))
      assert.deepStrictEqual(yield* Fiber.await(third), Exit.succeed(2))
      const after = yield* Manager.stats("fake")
      assert.deepStrictEqual([during.inUse, after.inUse, after.acquisitions, driver.overlaps.length], [1, 0, 3, 0])
    }).pipe(Effect.provide(layer(fake)))
  })

  it.effect("an interrupted caller whose call is in flight on an idle instance's lease returns it", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      yield* Fiber.interrupt(fiber)
      assert.isTrue(driver.started[0]!.interrupted)
      driver.started[0]!.resume(Effect.succeed(1))
      const next = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      driver.complete(driver.started[1]!, Effect.succeed(1))
      assert.deepStrictEqual(yield* Fiber.await(next), Exit.succeed(1))
      assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
    }).pipe(Effect.provide(layer(fake)))
  })

  it.effect("an interrupted waiting caller never starts its call", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const gone = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      yield* Fiber.interrupt(gone)
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* Fiber.join(first)
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual([driver.started.length, stats.inUse, stats.waiters, stats.idle], [1, 0, 0, 1])
    }).pipe(Effect.provide(layer(fake)))
  })

  it.effect("a waiting caller runs out of acquireTimeout with AcquireTimeout", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const late = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.await(late)
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* Fiber.join(first)
      assert.strictEqual(
        Exit.isFailure(exit) ? String((exit.cause.reasons[0] as any).error._tag) : "",
        "AcquireTimeout"
      )
      assert.deepStrictEqual([driver.started.length, (yield* Manager.stats("fake")).inUse], [1, 0])
    }).pipe(Effect.provide(layer(fake, { pool: { min: 0, max: 1, acquireTimeout: "1 second" } })))
  })

  it.effect("an instance that needs recycling is recycled before the next call starts on it", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      fake.recycle = [Fake.slow(100)]
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* settle
      const whileRecycling = [driver.started.length, fake.recycling, first.pollUnsafe()]
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(first)
      yield* settle
      assert.deepStrictEqual(whileRecycling, [1, 1, undefined])
      assert.deepStrictEqual([driver.started.length, fake.recycleCalls], [2, 1])
      driver.complete(driver.started[1]!, Effect.succeed(1))
      assert.deepStrictEqual(yield* Fiber.await(second), Exit.succeed(1))
    }).pipe(Effect.provide(layer(fake, { withRecycle: true, needsRecycle: () => true })))
  })

  it.effect("with an event subscriber, each call publishes Acquired and Released", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const events = yield* Manager.subscribe({ tags: ["Acquired", "Released"] })
      const collected = yield* Effect.forkChild(Stream.runCollect(Stream.take(events, 4)))
      yield* settle
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* settle
      driver.complete(driver.started[1]!, Effect.succeed(1))
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      const tags = Array.from(yield* Fiber.join(collected), (event) => event._tag)
      assert.deepStrictEqual(tags, ["Acquired", "Released", "Acquired", "Released"])
    }).pipe(Effect.scoped, Effect.provide(layer(fake)))
  })

  it.effect("a caller of an unregistered key fails with NotRegistered", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Manager.useCallback("nope", (_, resume) => resume(Effect.succeed(1))))
      assert.isTrue(Exit.isFailure(exit) && String((exit.cause.reasons[0] as any).error._tag) === "NotRegistered")
    }).pipe(Effect.provide(Manager.layer)))
})
