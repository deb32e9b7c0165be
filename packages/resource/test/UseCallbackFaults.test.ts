/**
 * The lease of a `Manager.useCallback` call comes back exactly once, whatever the driver or the
 * caller does, and the next caller is served.
 *
 * Each of these once went wrong: a start that throws while running on a handed-over lease must fail
 * its own caller with the defect and let the lease go on; an interrupt effect that dies must still
 * return the lease; an interrupt arriving in the same turn as the call's completion used to lose the
 * lease; a caller interrupted while a lease was on its way to it, or while its returned lease was
 * being recycled, must leave no lease behind; and a completing caller that a rival running inside its
 * hand-over interrupts must not return the lease twice.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import * as Scheduler from "effect/Scheduler"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import { Driver, finish, layer, tagOf, useCallback } from "./utils/callbackDriver.ts"
import * as Fake from "./utils/fake.ts"
import { advance30 as advance, settle30 as settle } from "./utils/time.ts"

describe("useCallback: a throwing or dying driver, or an interrupted caller, never loses the lease", () => {
  it.effect("a start that throws on a handed-over lease fails its caller with the defect; the lease goes on", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const throwing: Manager.Callback<unknown, number, string> = () => {
        throw new Error("driver threw")
      }
      const thrower = yield* Effect.forkChild(Manager.useCallback("fake", throwing))
      yield* settle
      const third = yield* Effect.forkChild(useCallback(driver, 2))
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* settle
      const during = {
        first: tagOf(first.pollUnsafe()),
        thrower: tagOf(thrower.pollUnsafe()),
        started: driver.started.map((call) => call.caller)
      }
      driver.complete(driver.started[1]!, Effect.succeed(2))
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual({
        ...during,
        third: tagOf(third.pollUnsafe()),
        inUse: stats.inUse,
        shutdown: yield* finish
      }, {
        first: "success",
        thrower: "Die:undefined",
        started: [0, 2],
        third: "success",
        inUse: 0,
        shutdown: { drained: true, forced: 0 }
      })
    }).pipe(
      Effect.provide(layer(fake, { pool: { min: 0, max: 1, acquireTimeout: "1 second", drainTimeout: "5 seconds" } }))
    )
  })

  it.effect("a start that throws on the fast path dies and returns its lease", () => {
    const fake = new Fake.Fake()
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(Manager.useCallback("fake", () => {
        throw new Error("driver threw")
      }))
      assert.strictEqual(tagOf(exit), "Die:undefined")
      assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
    }).pipe(Effect.provide(layer(fake)))
  })

  it.effect("an interrupt effect that dies still returns the handed-over lease", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      let started = 0
      const dyingCancel: Manager.Callback<unknown, number, string> = () => {
        started++
        return Effect.die("cancel failed")
      }
      const second = yield* Effect.forkChild(Manager.useCallback("fake", dyingCancel))
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* Fiber.join(first)
      assert.strictEqual(started, 1)
      yield* Fiber.interrupt(second)
      const next = yield* Effect.forkChild(useCallback(driver, 2))
      yield* settle
      const nextStarted = driver.started.length
      if (nextStarted === 2) driver.complete(driver.started[1]!, Effect.succeed(2))
      yield* settle
      const actual = {
        nextStarted,
        next: tagOf(next.pollUnsafe()),
        inUse: (yield* Manager.stats("fake")).inUse,
        shutdown: yield* finish
      }
      assert.deepStrictEqual(actual, {
        nextStarted: 2,
        next: "success",
        inUse: 0,
        shutdown: { drained: true, forced: 0 }
      })
    }).pipe(
      Effect.provide(layer(fake, { pool: { min: 0, max: 1, acquireTimeout: "1 second", drainTimeout: "5 seconds" } }))
    )
  })

  it.effect("on the fast path the same dying interrupt effect still returns the lease", () => {
    const fake = new Fake.Fake()
    return Effect.gen(function*() {
      const dyingCancel: Manager.Callback<unknown, number, string> = () => Effect.die("cancel failed")
      const fiber = yield* Effect.forkChild(Manager.useCallback("fake", dyingCancel))
      yield* settle
      yield* Fiber.interrupt(fiber)
      assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
    }).pipe(Effect.provide(layer(fake)))
  })

  it.effect("interrupted while its returned lease is being recycled; no leak, next caller served", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const second = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      const third = yield* Effect.forkChild(useCallback(driver, 2))
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* settle
      yield* TestClock.adjust("100 millis")
      yield* settle
      assert.strictEqual(driver.started.length, 2)
      fake.recycle = [Fake.slow(100)]
      driver.complete(driver.started[1]!, Effect.succeed(1))
      yield* settle
      assert.strictEqual(fake.recycling, 1)

      const interrupting = yield* Effect.forkChild(Fiber.interrupt(second))
      yield* settle
      yield* advance(1000)
      yield* Fiber.join(interrupting)
      yield* Fiber.join(first)
      assert.isTrue(Exit.hasInterrupts(second.pollUnsafe()!))
      assert.strictEqual(driver.started.length, 3)
      driver.complete(driver.started[2]!, Effect.succeed(2))
      yield* advance(1000)
      assert.deepStrictEqual(yield* Fiber.await(third), Exit.succeed(2))
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual([stats.inUse, stats.waiters, driver.overlaps.length], [0, 0, 0])
    }).pipe(Effect.provide(layer(fake, { withRecycle: true, needsRecycle: () => true })))
  })

  it.effect("a waiter handed a lease (deferred in dispatch) and interrupted before its take", () => {
    const fake = new Fake.Fake()
    const driver = new Driver()
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(useCallback(driver, 0))
      yield* settle
      const target: { fiber: Fiber.Fiber<number, unknown> | undefined } = { fiber: undefined }
      const sync: Manager.Callback<unknown, number, string> = (_, resume) => resume(Effect.succeed(7))
      const killer = yield* Effect.forkChild(
        Effect.andThen(Manager.useCallback("fake", sync), Effect.suspend(() => Fiber.interrupt(target.fiber!)))
      )
      yield* settle
      target.fiber = yield* Effect.forkChild(useCallback(driver, 1))
      yield* settle
      driver.complete(driver.started[0]!, Effect.succeed(0))
      yield* settle
      yield* Fiber.join(first)
      yield* Fiber.join(killer)
      const next = yield* Effect.forkChild(useCallback(driver, 2))
      yield* settle
      const stats = yield* Manager.stats("fake")
      assert.deepStrictEqual(
        [driver.started.map((c) => c.caller), tagOf(target.fiber!.pollUnsafe()), stats.inUse, stats.waiters],
        [[0, 2], "Interrupt:undefined", 1, 0]
      )
      driver.complete(driver.started[1]!, Effect.succeed(2))
      assert.deepStrictEqual(yield* Fiber.await(next), Exit.succeed(2))
    }).pipe(Effect.provide(layer(fake)))
  })
})

type Resume = (effect: Effect.Effect<number, string>) => void

describe("useCallback: an interrupt racing the call's completion", () => {
  for (
    const [ops, first] of [[3, "interrupt"], [2048, "interrupt"], [3, "completion"], [2048, "completion"]] as const
  ) {
    it.effect(`the lease comes back when the ${first} comes first in the same turn (maxOps ${ops})`, () => {
      const fake = new Fake.Fake()
      const resumes: Array<Resume> = []
      const start: Manager.Callback<unknown, number, string> = (_, resume) => {
        resumes.push(resume)
        return Effect.void
      }
      return Effect.gen(function*() {
        const holder = yield* Effect.forkChild(Manager.useCallback("fake", start))
        yield* settle
        const second = yield* Effect.forkChild(
          Manager.useCallback("fake", start).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, ops))
        )
        yield* settle
        resumes[0]!(Effect.succeed(0))
        yield* Fiber.join(holder)
        assert.strictEqual(resumes.length, 2)
        yield* Effect.sync(() => {
          if (first === "interrupt") second.interruptUnsafe()
          resumes[1]!(Effect.succeed(1)) // the driver's completion arrives in the same turn
          if (first === "completion") second.interruptUnsafe()
        })
        yield* settle
        yield* settle
        const exit = second.pollUnsafe()
        const stats = yield* Manager.stats("fake")
        const third = yield* Effect.forkChild(Manager.useCallback("fake", start))
        yield* settle
        const actual = {
          second: exit === undefined ? "pending" : Exit.isSuccess(exit) ? "success" : "interrupted",
          inUse: stats.inUse,
          thirdStarted: resumes.length === 3
        }
        if (resumes.length === 3) resumes[2]!(Effect.succeed(2))
        yield* Fiber.interrupt(third)
        const down = yield* Effect.forkChild(Manager.shutdown)
        yield* TestClock.adjust("60 seconds")
        yield* settle
        assert.deepStrictEqual({ ...actual, shutdown: down.pollUnsafe() !== undefined }, {
          second: first === "interrupt" || actual.second !== "success" ? "interrupted" : "success",
          inUse: 0,
          thirdStarted: true,
          shutdown: true
        })
      }).pipe(Effect.provide(layer(fake, { pool: { min: 0, max: 1, drainTimeout: "5 seconds" } })))
    })
  }
})

describe("useCallback: the next caller runs inside the completing call's hand-over", () => {
  const syncFail: Manager.Callback<unknown, number, string> = (_, resume) => resume(Effect.fail("bind error"))
  const rivals: Record<string, (driver: Driver) => Effect.Effect<unknown, unknown, Manager.Manager>> = {
    "Effect.race with a synchronous Manager.use": (driver: Driver) =>
      Effect.race(useCallback(driver, 1), Manager.use("fake", () => Effect.succeed(99))),
    "Effect.all with a call failing synchronously": (driver: Driver) =>
      Effect.all([useCallback(driver, 1), Manager.useCallback("fake", syncFail)], { concurrency: "unbounded" })
  }
  for (const [name, pair] of Object.entries(rivals)) {
    it.effect(`${name}: the completing caller, interrupted by it, does not return the lease twice`, () => {
      const fake = new Fake.Fake()
      const driver = new Driver()
      return Effect.gen(function*() {
        const holder = yield* Effect.forkChild(useCallback(driver, 0))
        yield* settle
        const both = yield* Effect.forkChild(Effect.exit(pair(driver)))
        yield* settle
        driver.complete(driver.started[0]!, Effect.succeed(0))
        yield* Fiber.join(holder)
        yield* settle
        assert.strictEqual(driver.started.length, 2)
        driver.complete(driver.started[1]!, Effect.succeed(1))
        yield* settle
        yield* Fiber.join(both)
        const after = yield* Manager.stats("fake")
        yield* Effect.forkChild(useCallback(driver, 2))
        yield* settle
        yield* Effect.forkChild(useCallback(driver, 3))
        yield* settle
        const during = yield* Manager.stats("fake")
        assert.deepStrictEqual(
          [after.inUse, during.inUse, during.waiters, driver.started.map((call) => call.caller), driver.overlaps],
          [0, 1, 1, [0, 1, 2], []]
        )
        driver.complete(driver.started[2]!, Effect.succeed(2))
        driver.complete(driver.started[3]!, Effect.succeed(3))
        assert.deepStrictEqual(yield* finish, { drained: true, forced: 0 })
      }).pipe(Effect.provide(layer(fake, { pool: { min: 0, max: 1, drainTimeout: "5 seconds" } })))
    })
  }
})
