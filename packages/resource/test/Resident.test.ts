import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Health from "../src/Health.ts"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"
import { settle30 as settle } from "./utils/time.ts"

interface Client {
  readonly id: number
  closed: boolean
}

const makeClient = (
  log: { created: number; closed: Array<number>; recycled: number },
  resident: boolean | { readonly maxConcurrent?: number } = true,
  pool: Resource.Definition<any, any, any, any, any, any, any>["pool"] = {}
) =>
  Resource.make({
    key: "http",
    config: Schema.Struct({ baseUrl: Schema.String }),
    resident,
    pool,
    create: () =>
      Effect.acquireRelease(
        Effect.sync((): Client => ({ id: ++log.created, closed: false })),
        (client) =>
          Effect.sync(() => {
            client.closed = true
            log.closed.push(client.id)
          })
      ),
    recycle: () => Effect.sync(() => void log.recycled++)
  })

const provide = (resource: ReturnType<typeof makeClient>) =>
  Effect.provide(resource.layer({ baseUrl: "http://localhost" }).pipe(Layer.provideMerge(Manager.layer)))

describe("Resident resources", () => {
  it.effect("one instance serves many concurrent callers, with no recycle per lease", () => {
    const log = { created: 0, closed: [] as Array<number>, recycled: 0 }
    const Http = makeClient(log)
    return Effect.gen(function*() {
      const clients = yield* Effect.scoped(Effect.gen(function*() {
        const held = yield* Effect.all(Array.from({ length: 50 }, () => Http.acquire), { concurrency: "unbounded" })
        const stats = yield* Manager.stats("http")
        assert.strictEqual(stats.size, 1)
        assert.strictEqual(stats.inUse, 50)
        assert.strictEqual(stats.idle, 0)
        return held
      }))
      assert.strictEqual(new Set(clients).size, 1)
      assert.strictEqual(log.created, 1)
      assert.strictEqual(log.recycled, 0)
      const stats = yield* Manager.stats("http")
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.acquisitions, 50)
      assert.strictEqual(yield* Http.use((c) => Effect.succeed(c.id)), 1)
    }).pipe(provide(Http))
  })

  it.effect("maxConcurrent bounds the callers sharing the instance; the next one waits its turn", () => {
    const log = { created: 0, closed: [] as Array<number>, recycled: 0 }
    const Http = makeClient(log, { maxConcurrent: 2 })
    return Effect.gen(function*() {
      const holders = yield* Effect.forkChild(
        Effect.scoped(Effect.andThen(Effect.all([Http.acquire, Http.acquire]), Effect.sleep("1 second")))
      )
      yield* settle
      const third = yield* Effect.forkChild(Effect.scoped(Effect.map(Http.acquire, (c) => c.id)))
      yield* settle
      assert.isUndefined(third.pollUnsafe())
      assert.strictEqual((yield* Manager.stats("http")).waiters, 1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(holders)
      assert.strictEqual(yield* Fiber.join(third), 1)
      assert.strictEqual(log.created, 1)
    }).pipe(provide(Http))
  })

  it.effect("past its max lifetime the shared instance is replaced; the old one closes after its last lease", () => {
    const log = { created: 0, closed: [] as Array<number>, recycled: 0 }
    const Http = makeClient(log, true, { maxLifetime: "1 minute", lifetimeJitter: 0 })
    return Effect.gen(function*() {
      const long = yield* Effect.forkChild(
        Effect.scoped(Effect.andThen(Http.acquire, Effect.sleep("2 minutes")))
      )
      const short = yield* Effect.forkChild(
        Effect.scoped(Effect.andThen(Http.acquire, Effect.sleep("61 seconds")))
      )
      yield* settle
      yield* TestClock.adjust("61 seconds")
      yield* Fiber.join(short)
      assert.deepStrictEqual(log.closed, [])
      const fresh = yield* Effect.scoped(Effect.map(Http.acquire, (c) => c.id))
      assert.strictEqual(fresh, 2)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(long)
      assert.deepStrictEqual(log.closed, [1])
    }).pipe(provide(Http))
  })

  it.effect("shutdown force-releases every shared lease still out at the drain deadline, closing the instance once", () => {
    const log = { created: 0, closed: [] as Array<number>, recycled: 0 }
    const Http = makeClient(log, true, { drainTimeout: "1 second" })
    return Effect.gen(function*() {
      const stuck = yield* Effect.forkChild(
        Effect.scoped(Effect.andThen(Effect.all([Http.acquire, Http.acquire, Http.acquire]), Effect.never))
      )
      yield* settle
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      yield* TestClock.adjust("1 second")
      const report = yield* Fiber.join(shutdown)
      assert.deepStrictEqual(report.resources[0], {
        key: "http",
        drained: false,
        outstanding: 3,
        forced: 3,
        cleanedUp: true
      })
      assert.deepStrictEqual(log.closed, [1])
      yield* Fiber.interrupt(stuck)
      assert.deepStrictEqual(log.closed, [1])
    }).pipe(provide(Http))
  })

  it.effect("a resident resource has exactly one instance whatever the pool options say", () => {
    const log = { created: 0, closed: [] as Array<number>, recycled: 0 }
    const Http = makeClient(log, true, { min: 3, max: 8 })
    return Effect.gen(function*() {
      yield* settle
      const stats = yield* Manager.stats("http")
      assert.strictEqual(stats.max, 1)
      assert.strictEqual(stats.size, 1)
    }).pipe(provide(Http))
  })
})

describe("Resident resources: a health probe while callers share the instance", () => {
  it.effect("a caller's return during the probe is the caller's: its Released event, its hold, the numbers", () => {
    const Http = Resource.make({
      key: "http",
      config: Schema.Struct({ baseUrl: Schema.String }),
      resident: true,
      create: () => Effect.succeed({ id: 1 }),
      health: {
        interval: "1 second",
        timeout: "5 seconds",
        check: () => Effect.as(Effect.sleep("2 seconds"), Health.healthy)
      }
    })
    return Effect.gen(function*() {
      yield* Http.use(() => Effect.void) // the instance exists, idle
      const events = yield* Manager.subscribe({ tags: ["Acquired", "Released"] })
      const collected = yield* Effect.forkChild(Stream.runCollect(Stream.take(events, 2)))
      yield* TestClock.adjust("1 second") // the probe starts and holds a lease for 2 seconds
      yield* settle
      const probing = yield* Manager.stats("http")
      yield* Http.use(() => Effect.sleep("500 millis")).pipe(Effect.forkChild)
      yield* settle
      const during = yield* Manager.stats("http")
      yield* TestClock.adjust("500 millis")
      yield* settle
      const afterCaller = yield* Manager.stats("http")
      yield* TestClock.adjust("2 seconds")
      yield* settle
      const afterProbe = yield* Manager.stats("http")
      const tags = Array.from(yield* Fiber.join(collected), (event) => event._tag)
      assert.deepStrictEqual(
        [probing.inUse, during.inUse, afterCaller.inUse, afterProbe.inUse, afterCaller.acquisitions, tags],
        [0, 1, 0, 0, 2, ["Acquired", "Released"]]
      )
    }).pipe(Effect.scoped, provide(Http as any))
  })
})
