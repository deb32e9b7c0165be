/**
 * A lease handed straight to a queued caller gets everything a fresh borrow gets, and the queue keeps
 * moving. Each block is a way this used to go wrong: a second caller queued behind the first lease of
 * a resident instance still being created instead of sharing it; long chains of queued callers with
 * synchronous bodies did not all finish; a handed-over lease skipped validation; a create failure
 * already recovered from was reported as the cause of a later, unrelated timeout; the lease of a
 * caller interrupted before it claimed it was lost; a created instance sat idle while a queued caller
 * slept; and a caller woken for a slot another woken caller took lost its place in the queue.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"
import * as Fake from "./utils/fake.ts"
import { settle30 as settle } from "./utils/time.ts"

const use = <A>(f: (instance: Fake.FakeInstance) => Effect.Effect<A>) =>
  Manager.use("fake", f as (instance: unknown) => Effect.Effect<A>)
const acquire = Manager.acquire("fake") as Effect.Effect<Fake.FakeInstance, any, any>

describe("hand-over: a resident instance while its create is in flight", () => {
  it.effect("a second caller shares the instance instead of queueing behind the first lease", () => {
    let created = 0
    const Http = Resource.make({
      key: "http",
      config: Schema.Struct({ baseUrl: Schema.String }),
      resident: true,
      pool: { min: 0 },
      create: () => Effect.as(Effect.sleep("100 millis"), { id: ++created })
    })
    return Effect.gen(function*() {
      const first = yield* Effect.forkChild(Http.use(() => Effect.sleep("1 minute")))
      yield* settle
      const second = yield* Effect.forkChild(Http.use((c) => Effect.succeed(c.id)))
      yield* settle
      yield* TestClock.adjust("100 millis")
      yield* settle
      // the shared instance exists with 1023 free slots: the second caller should be done by now
      const early = second.pollUnsafe()
      const waiters = (yield* Manager.stats("http")).waiters
      yield* TestClock.adjust("30 seconds")
      const exit = yield* Fiber.await(second)
      yield* Fiber.interrupt(first)
      assert.strictEqual(waiters, 0)
      assert.deepStrictEqual(early, Exit.succeed(1))
      assert.deepStrictEqual(exit, Exit.succeed(1))
    }).pipe(
      Effect.provide(Http.layer({ baseUrl: "x" }).pipe(Layer.provideMerge(Manager.layer)))
    )
  })
})

describe("hand-over: long chains of waiting callers", () => {
  it.effect("1000 queued callers with synchronous bodies all finish and the lease comes back", () => {
    const fake = new Fake.Fake()
    return Effect.gen(function*() {
      const holder = yield* Effect.forkChild(use(() => Effect.sleep("1 second")))
      yield* settle
      const fibers = yield* Effect.forEach(Array.from({ length: 1000 }), () => Effect.forkChild(use(() => Effect.void)))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(holder)
      yield* TestClock.adjust("1 minute") // past every acquire timeout
      yield* settle
      const exits = fibers.map((fiber) => fiber.pollUnsafe())
      const stats = yield* Manager.stats("fake")
      const shutdown = yield* Effect.forkChild(Manager.shutdown) // the leaked lease would hold the drain
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(shutdown)
      const dead = exits.find((exit) => exit !== undefined && Exit.isFailure(exit))
      assert.deepStrictEqual({
        neverFinished: exits.filter((exit) => exit === undefined).length,
        died: dead === undefined ? undefined : String(dead),
        inUse: stats.inUse,
        waiters: stats.waiters
      }, { neverFinished: 0, died: undefined, inUse: 0, waiters: 0 })
    }).pipe(
      Effect.provide(
        Fake.make(fake, { pool: { min: 0, max: 1 } }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
      )
    )
  })
})

describe("hand-over: a recovered create failure", () => {
  it.effect("a create failure that was recovered from without a create does not become a later timeout's error", () => {
    const fake = new Fake.Fake()
    fake.create = [Fake.ok, Fake.fail(new Error("connection refused")), Fake.slow(10_000)]
    return Effect.gen(function*() {
      const a = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire, Effect.sleep("10 millis"))))
      yield* settle
      // B's create fails once; during its 50 ms backoff A returns, so B's retry takes instance 1 (no create)
      const b = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire, Effect.sleep("1 minute"))))
      yield* settle
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(a)
      assert.strictEqual(fake.createCalls, 2)
      assert.strictEqual((yield* Manager.stats("fake")).inUse, 1)
      // C's create is merely slow; nothing is failing any more
      const c = yield* Effect.forkChild(Effect.flip(Effect.scoped(acquire)))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(c)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(b)
      assert.strictEqual(error._tag, "AcquireTimeout")
      assert.strictEqual(error.phase, "create")
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Fake.make(fake, { pool: { min: 0, max: 2, acquireTimeout: "2 seconds" } }).layer({ label: "x" }).pipe(
          Layer.provideMerge(Manager.layer)
        )
      )
    )
  })
})

describe("hand-over: validation", () => {
  it.effect("with validateSkipWindow 0 every borrow is validated, including one handed to a waiting caller", () => {
    const fake = new Fake.Fake()
    return Effect.gen(function*() {
      const holder = yield* Effect.forkChild(use(() => Effect.sleep("1 second")))
      yield* settle
      assert.strictEqual(fake.validateCalls, 1)
      const waiting = yield* Effect.forkChild(use((i) => Effect.succeed(i.id)))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(holder)
      assert.strictEqual(yield* Fiber.join(waiting), 1)
      assert.strictEqual(fake.validateCalls, 2)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Fake.make(fake, { withValidate: true, pool: { min: 0, max: 1, validateSkipWindow: 0 } }).layer({ label: "x" })
          .pipe(Layer.provideMerge(Manager.layer))
      )
    )
  })
})

describe("hand-over: a caller interrupted after a lease reached it", () => {
  it.effect("the lease it had not claimed yet goes to the next caller", () => {
    const fake = new Fake.Fake()
    return Effect.gen(function*() {
      const holder = yield* Effect.forkChild(use(() => Effect.sleep("1 second")))
      yield* settle
      let second: Fiber.Fiber<number, unknown> | undefined
      const first = yield* Effect.forkChild(
        use(() => Effect.void).pipe(Effect.andThen(Effect.sync(() => second!.interruptUnsafe())))
      )
      yield* settle
      second = yield* Effect.forkChild(use((i) => Effect.succeed(i.id)))
      yield* settle
      const third = yield* Effect.forkChild(use((i) => Effect.succeed(i.id)))
      yield* settle
      assert.strictEqual((yield* Manager.stats("fake")).waiters, 3)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(holder)
      yield* Fiber.join(first)
      const interrupted = yield* Fiber.await(second)
      assert.isTrue(Exit.hasInterrupts(interrupted))
      assert.strictEqual(yield* Fiber.join(third), 1)
      const stats = yield* Manager.stats("fake")
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.waiters, 0)
      assert.strictEqual(stats.acquisitions, 3)
      assert.strictEqual(fake.created, 1)
    }).pipe(
      Effect.provide(
        Fake.make(fake, { pool: { min: 0, max: 1 } }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
      )
    )
  })
})

describe("hand-over: a created instance nobody in the pool waits for", () => {
  it.effect("a return that goes to the pool (validation pending) serves an in-pool caller; the create it was waiting for then sits idle while a queued caller sleeps", () => {
    const fake = new Fake.Fake()
    fake.create = [Fake.ok, Fake.slow(5_000)]
    return Effect.gen(function*() {
      const holder = yield* Effect.forkChild(use(() => Effect.sleep("1 second")))
      yield* settle
      // C goes through the pool: room to grow, create #2 is slow
      const c = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire, Effect.sleep("1 minute"))))
      yield* settle
      // W has to queue: the pool's one free slot is C's create
      const w = yield* Effect.forkChild(use((i) => Effect.succeed(i.id)))
      yield* settle
      assert.strictEqual((yield* Manager.stats("fake")).waiters, 2)
      yield* TestClock.adjust("1 second") // holder returns #1 -> goes to C (validated)
      yield* settle
      yield* TestClock.adjust("5 seconds") // create #2 completes
      yield* settle
      const early = w.pollUnsafe()
      const stats = yield* Manager.stats("fake")
      yield* TestClock.adjust("30 seconds")
      const late = yield* Fiber.await(w)
      yield* Fiber.interrupt(c)
      yield* Fiber.join(holder)
      assert.deepStrictEqual({ waiters: stats.waiters, early, late: String(late) }, {
        waiters: 0,
        early: Exit.succeed(2),
        late: String(Exit.succeed(2))
      })
    }).pipe(
      Effect.provide(
        Fake.make(fake, { withValidate: true, pool: { min: 0, max: 2, validateSkipWindow: 0 } }).layer({ label: "x" })
          .pipe(Layer.provideMerge(Manager.layer))
      )
    )
  })
})

describe("hand-over: a woken caller that has to wait again", () => {
  it.effect("a caller woken for a slot another woken caller takes keeps its place in the queue", () => {
    const fake = new Fake.Fake()
    fake.create = [Fake.ok, Fake.slow(100), Fake.slow(100), Fake.slow(100)]
    fake.recycle = [Fake.ok, Fake.fail("broken")]
    const order: Array<string> = []
    const body = (name: string, millis: number) => (i: Fake.FakeInstance) =>
      Effect.andThen(
        Effect.sync(() => order.push(`${name}#${i.id}`)),
        millis === 0 ? Effect.void : Effect.sleep(millis)
      )
    return Effect.gen(function*() {
      const holder = yield* Effect.forkChild(use(body("holder", 1000)))
      yield* settle
      const w1 = yield* Effect.forkChild(use(body("w1", 0))) // synchronous body; its return fails recycle
      yield* settle
      const w2 = yield* Effect.forkChild(use(body("w2", 1000)))
      yield* settle
      const w3 = yield* Effect.forkChild(use(body("w3", 1000)))
      yield* settle
      const w4 = yield* Effect.forkChild(use(body("w4", 1000)))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      const waiting = (yield* Manager.stats("fake")).waiters
      yield* TestClock.adjust("10 seconds")
      yield* Effect.forEach([holder, w1, w2, w3, w4], Fiber.join)
      assert.deepStrictEqual({ order, waiting }, { order: ["holder#1", "w1#1", "w2#2", "w3#2", "w4#2"], waiting: 3 })
    }).pipe(
      Effect.provide(
        Fake.make(fake, { withRecycle: true, pool: { min: 0, max: 1 } }).layer({ label: "x" })
          .pipe(Layer.provideMerge(Manager.layer))
      )
    )
  })
})
