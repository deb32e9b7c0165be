/**
 * `Manager.useCallback` regressions found by review (a throwing start, a dying interrupt effect, an
 * interrupt racing the call's completion, caller ids after a wake-up), and its behaviour under
 * shutdown, recycle, validation, expiry, resident pools, events and tracing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema, Stream } from "effect"
import * as Scheduler from "effect/Scheduler"
import { TestClock } from "effect/testing"
import * as Caller from "../src/Caller.ts"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"
import type { ResourceEvent } from "../src/ResourceEvent.ts"
import * as Tenancy from "../src/Tenancy.ts"
import { Driver, layer, useCallback } from "./utils/callbackDriver.ts"
import * as Fake from "./utils/fake.ts"
import { advance30 as advance, settle30 as settle } from "./utils/time.ts"

/** Shuts the manager down under the test clock (a leaked lease makes the drain wait its full timeout). */
const finish = Effect.gen(function*() {
  const fiber = yield* Effect.forkChild(Manager.shutdown)
  yield* advance(10_000, 1000)
  const report = fiber.pollUnsafe()
  const r = report !== undefined && Exit.isSuccess(report)
    ? report.value.resources.find((x) => x.key === "fake")
    : undefined
  return r === undefined ? "shutdown hung" : { drained: r.drained, forced: r.forced }
})

const tagOf = (exit: Exit.Exit<unknown, unknown> | undefined) =>
  exit === undefined
    ? "pending"
    : Exit.isSuccess(exit)
    ? "success"
    : String((exit.cause.reasons[0] as any)?._tag) + ":" + String((exit.cause.reasons[0] as any)?.error?._tag)

describe("useCallback: regressions and edge cases", () => {
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
