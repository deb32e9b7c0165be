import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Metric, Option, References, Schema, Stream, Tracer } from "effect"
import { TestClock } from "effect/testing"
import * as Caller from "../src/Caller.ts"
import * as Credentials from "../src/Credentials.ts"
import * as Manager from "../src/Manager.ts"
import * as Metrics from "../src/Metrics.ts"
import * as Resource from "../src/Resource.ts"
import type { ResourceEvent } from "../src/ResourceEvent.ts"
import * as Tenancy from "../src/Tenancy.ts"
import * as Fake from "./utils/fake.ts"
import { settle20 as settle } from "./utils/time.ts"

const acquireFake = (key = "fake") => Manager.acquire(key) as Effect.Effect<Fake.FakeInstance, any, any>

/** Collects events from a subscription taken now into an array, in a background fiber. */
const collect = (filter?: Parameters<typeof Manager.subscribe>[0]) =>
  Effect.gen(function*() {
    const events: Array<ResourceEvent> = []
    const stream = yield* Manager.subscribe(filter)
    yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => events.push(event))))
    return events
  })

const tags = (events: ReadonlyArray<ResourceEvent>) => events.map((e) => e._tag)

describe("Observability", () => {
  describe("events", () => {
    it.effect("every lifecycle transition emits a typed event with key, tenancy and timestamp", () => {
      const fake = new Fake.Fake()
      fake.validate = [false]
      fake.recycle = [Fake.ok, Fake.fail()]
      const Tracked = Fake.make(fake, {
        key: "tracked",
        tenancy: Tenancy.tenant("t1"),
        withValidate: true,
        withRecycle: true,
        pool: { min: 0, max: 1, acquireTimeout: "1 second" }
      })
      return Effect.gen(function*() {
        const events = yield* collect()
        const scope = yield* Effect.scope
        yield* TestClock.adjust("5 seconds")
        yield* Layer.buildWithScope(Tracked.layer({ label: "x" }), scope)
        const tenant = Tenancy.tenant("t1")
        const provide = Caller.provide
        yield* Effect.scoped(Effect.andThen(acquireFake("tracked"), TestClock.adjust("250 millis"))).pipe(
          provide(tenant)
        )
        yield* TestClock.adjust("1 second")
        const holder = yield* Effect.forkChild(
          Effect.scoped(Effect.andThen(acquireFake("tracked"), Effect.sleep("2 seconds"))).pipe(provide(tenant))
        )
        yield* settle
        const waiter = yield* Effect.forkChild(Effect.scoped(acquireFake("tracked")).pipe(provide(tenant)))
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* Fiber.await(waiter)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
        yield* Manager.shutdown
        yield* settle
        const seen = tags(events)
        assert.deepStrictEqual(seen.slice(0, 5), [
          "Registered",
          "InstanceCreated",
          "Acquired",
          "Released",
          "CleanedUp"
        ])
        const first = events[0]!
        assert.strictEqual(first.key, "tracked")
        assert.strictEqual(first.tenancy, "tenant:t1")
        assert.strictEqual(first.at, 5000)
        const released = events.find((e) => e._tag === "Released")
        assert.strictEqual(released?._tag === "Released" ? released.holdMs : -1, 250)
        const cleaned = events.filter((e) => e._tag === "CleanedUp").map((e) => e._tag === "CleanedUp" ? e.reason : "")
        assert.includeMembers(cleaned, ["validation_failed", "recycle_failed"])
        assert.include(seen, "PoolExhausted")
        const failed = events.find((e) => e._tag === "AcquireFailed")
        assert.strictEqual(failed?._tag === "AcquireFailed" ? failed.errorTag : "", "AcquireTimeout")
        assert.strictEqual(failed?._tag === "AcquireFailed" ? failed.errorKind : "", "Exhausted")
        const phases = events.filter((e) => e._tag === "ShutdownPhaseStarted" || e._tag === "ShutdownPhaseFinished")
          .map((e) => `${e._tag === "ShutdownPhaseStarted" ? "+" : "-"}${"phase" in e ? e.phase : ""}`)
        assert.deepStrictEqual(phases, [
          "+stop",
          "-stop",
          "+drain",
          "-drain",
          "+cleanup",
          "-cleanup",
          "+terminate",
          "-terminate"
        ])
      }).pipe(Effect.provide(Manager.layer))
    })

    it.effect("a lease handed to a waiting caller reports the release before the next acquire", () => {
      const fake = new Fake.Fake()
      const use = (f: (instance: Fake.FakeInstance) => Effect.Effect<void>) =>
        Manager.use("fake", f as (instance: unknown) => Effect.Effect<void>)
      return Effect.gen(function*() {
        const events = yield* collect()
        const holder = yield* Effect.forkChild(use(() => Effect.sleep("1 second")))
        yield* settle
        const waiting = yield* Effect.forkChild(use(() => Effect.void))
        const waitingScoped = yield* Effect.forkChild(Effect.scoped(acquireFake()))
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
        yield* Fiber.join(waiting)
        yield* Fiber.join(waitingScoped)
        yield* settle
        assert.deepStrictEqual(tags(events).filter((tag) => tag === "Acquired" || tag === "Released"), [
          "Acquired",
          "Released",
          "Acquired",
          "Released",
          "Acquired",
          "Released"
        ])
      }).pipe(
        Effect.provide(
          Fake.make(fake, { pool: { min: 0, max: 1 } }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
        )
      )
    })

    it.effect("subscribers see events from their subscription on, filtered by key or key prefix", () => {
      const a = new Fake.Fake()
      const b = new Fake.Fake()
      const layer = Layer.mergeAll(
        Fake.make(a, { key: "db.main", pool: { min: 0, max: 1 } }).layer({ label: "a" }),
        Fake.make(b, { key: "cache", pool: { min: 0, max: 1 } }).layer({ label: "b" })
      )
      return Effect.gen(function*() {
        yield* Effect.scoped(acquireFake("db.main"))
        const all = yield* collect()
        const byKey = yield* collect({ key: "cache" })
        const byPrefix = yield* collect({ keyPrefix: "db." })
        const onlyReleases = yield* collect({ tags: ["Released"] })
        yield* settle
        yield* Effect.scoped(acquireFake("db.main"))
        yield* Effect.scoped(acquireFake("cache"))
        yield* settle
        assert.deepStrictEqual(tags(all), ["Acquired", "Released", "InstanceCreated", "Acquired", "Released"])
        assert.deepStrictEqual(byKey.map((e) => e.key), ["cache", "cache", "cache"])
        assert.deepStrictEqual(tags(byPrefix), ["Acquired", "Released"])
        assert.deepStrictEqual(onlyReleases.map((e) => e.key), ["db.main", "cache"])
      }).pipe(Effect.provide(layer.pipe(Layer.provideMerge(Manager.layer))))
    })

    it.effect("a slow subscriber loses the oldest events and never blocks the pool", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const subscription = yield* Manager.subscribe()
        for (let i = 0; i < 100; i++) yield* Effect.scoped(acquireFake())
        const stats = yield* Manager.stats("fake")
        assert.strictEqual(stats.acquisitions, 100)
        const received = yield* Stream.runCollect(Stream.take(subscription, 4))
        assert.deepStrictEqual(received.map((e) => e._tag), [
          "Acquired",
          "Released",
          "Acquired",
          "Released"
        ])
      }).pipe(
        Effect.provide(
          Fake.make(fake, { pool: { min: 0, max: 1 } }).layer({ label: "x" }).pipe(
            Layer.provideMerge(Manager.layerWith({ eventCapacity: 4 }))
          )
        )
      )
    })
  })

  describe("metrics", () => {
    it.effect("Prometheus text reports every counter, gauge and histogram of a scripted run (golden)", () => {
      const fake = new Fake.Fake()
      fake.create = [Fake.slow(20), Fake.ok]
      fake.recycle = [Fake.ok, Fake.fail()]
      const Golden = Fake.make(fake, {
        key: "golden",
        withRecycle: true,
        pool: { min: 0, max: 2, acquireTimeout: "1 second" }
      })
      return Effect.gen(function*() {
        const first = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake("golden"), Effect.sleep(100))))
        yield* TestClock.adjust(20)
        yield* TestClock.adjust(100)
        yield* Fiber.join(first)
        yield* Effect.scoped(acquireFake("golden"))
        const held = yield* Effect.forkChild(
          Effect.scoped(Effect.andThen(Effect.all([acquireFake("golden"), acquireFake("golden")]), Effect.never))
        )
        yield* settle
        const timedOut = yield* Effect.forkChild(Effect.scoped(acquireFake("golden")))
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* Fiber.await(timedOut)
        const text = yield* Metrics.prometheus()
        yield* Fiber.interrupt(held)
        const value = (line: string) => {
          const found = text.split("\n").find((l) => l.startsWith(line + " "))
          assert.isDefined(found, `missing ${line}\n${text}`)
          return Number(found!.slice(line.length + 1))
        }
        const id = `resource_id="golden"`
        assert.strictEqual(value(`resource_acquire_total{${id}}`), 4)
        assert.strictEqual(value(`resource_release_total{${id}}`), 2)
        assert.strictEqual(value(`resource_create_total{${id}}`), 3)
        assert.strictEqual(value(`resource_acquire_timeout_total{${id}}`), 1)
        assert.strictEqual(value(`resource_cleanup_total{${id},reason="recycle_failed"}`), 1)
        assert.strictEqual(value(`resource_cleanup_total{${id},reason="idle"}`), 0)
        assert.strictEqual(value(`resource_error_total{${id},kind="Exhausted"}`), 1)
        assert.strictEqual(value(`resource_pool_size{${id}}`), 2)
        assert.strictEqual(value(`resource_pool_in_use{${id}}`), 2)
        assert.strictEqual(value(`resource_pool_available{${id}}`), 0)
        assert.strictEqual(value(`resource_pool_waiters{${id}}`), 0)
        assert.strictEqual(value(`resource_acquire_duration_seconds_count{${id}}`), 4)
        assert.strictEqual(value(`resource_acquire_duration_seconds_bucket{${id},le="0.0001"}`), 3)
        assert.strictEqual(value(`resource_acquire_duration_seconds_bucket{${id},le="0.05"}`), 4)
        assert.strictEqual(value(`resource_create_duration_seconds_count{${id}}`), 3)
        assert.strictEqual(value(`resource_create_duration_seconds_sum{${id}}`), 0.02)
        assert.match(text, /# TYPE resource_acquire_total counter/)
        assert.match(text, /# TYPE resource_pool_size gauge/)
        assert.match(text, /# TYPE resource_acquire_duration_seconds histogram/)
      }).pipe(
        Effect.provide(Golden.layer({ label: "g" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
    })

    it.effect("a closed resource removes its series", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          yield* Layer.build(
            Fake.make(fake, { key: "gone" }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
          )
          assert.match(yield* Metrics.prometheus(), /resource_id="gone"/)
        }))
        assert.notMatch(yield* Metrics.prometheus(), /resource_id="gone"/)
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
    })
  })

  describe("operator snapshot", () => {
    it.effect("reports identity, pool numbers, wait percentiles and placeholder health", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        for (let i = 0; i < 8; i++) yield* Effect.scoped(acquireFake())
        for (const waitMs of [100, 200]) {
          const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake(), Effect.sleep(waitMs))))
          yield* settle
          const waiter = yield* Effect.forkChild(Effect.scoped(acquireFake()))
          yield* settle
          yield* TestClock.adjust(waitMs)
          yield* Fiber.join(holder)
          yield* Fiber.join(waiter)
        }
        const [snapshot] = yield* Manager.snapshot
        assert.strictEqual(snapshot!.key, "fake")
        assert.strictEqual(snapshot!.tenancy, "global")
        assert.isTrue(snapshot!.serving)
        assert.strictEqual(snapshot!.stats.acquisitions, 12)
        assert.deepStrictEqual(snapshot!.acquireWaitMs, { p50: 0, p95: 200, p99: 200 })
        assert.deepStrictEqual(snapshot!.health, {
          status: "Unknown",
          reason: undefined,
          consecutiveFailures: 0,
          lastTransitionAt: undefined,
          transitions: [],
          degradedBy: []
        })
        assert.isUndefined(snapshot!.quarantine)
      }).pipe(
        Effect.provide(
          Fake.make(fake, { pool: { min: 0, max: 1 } }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
        )
      )
    })
  })

  describe("logs", () => {
    it.effect("lifecycle at info, exhaustion at warn, failures at error, acquire/release at debug, all annotated", () => {
      const fake = new Fake.Fake()
      const entries: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
      const logger = Logger.map(Logger.formatStructured, (entry) => {
        entries.push(entry as any)
      })
      return Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          yield* Layer.build(
            Fake.make(fake, { key: "logged", pool: { min: 0, max: 1, acquireTimeout: "1 second" } }).layer({
              label: "x"
            })
              .pipe(Layer.provideMerge(Manager.layer))
          ).pipe(Effect.flatMap((context) =>
            Effect.gen(function*() {
              yield* Effect.scoped(acquireFake("logged"))
              const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake("logged"), Effect.never)))
              yield* settle
              const waiter = yield* Effect.forkChild(Effect.scoped(acquireFake("logged")))
              yield* settle
              yield* TestClock.adjust("1 second")
              yield* Fiber.await(waiter)
              yield* Fiber.interrupt(holder)
              yield* Manager.shutdown
            }).pipe(Effect.provideContext(context))
          ))
        }))
        const byMessage = (text: string) => entries.find((e) => JSON.stringify(e.message).includes(text))
        assert.strictEqual(byMessage("resource registered")?.level, "INFO")
        assert.strictEqual(byMessage("resource shut down")?.level, "INFO")
        assert.strictEqual(byMessage("resource acquired")?.level, "DEBUG")
        assert.strictEqual(byMessage("resource released")?.level, "DEBUG")
        const warn = byMessage("pool exhausted")
        assert.strictEqual(warn?.level, "WARN")
        assert.strictEqual(warn?.annotations["resource.id"], "logged")
        assert.strictEqual(warn?.annotations["resource.scope"], "global")
        assert.strictEqual(warn?.annotations["pool.size"], 1)
        assert.strictEqual(warn?.annotations["pool.in_use"], 1)
        const error = byMessage("resource acquire failed")
        assert.strictEqual(error?.level, "ERROR")
        assert.strictEqual(error?.annotations["pool.in_use"], 1)
      }).pipe(
        Effect.provide(Logger.layer([logger])),
        Effect.provideService(References.MinimumLogLevel, "Debug")
      )
    })
  })

  describe("secrets", () => {
    it.effect("a credential never appears in a log line, event, span attribute or error of a run", () => {
      const secret = "sup3r-s3cret-pw"
      const logs: Array<string> = []
      const logger = Logger.map(Logger.formatStructured, (entry) => {
        logs.push(JSON.stringify(entry))
      })
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      let attempts = 0
      const Secretive = Resource.make({
        key: "secretive",
        config: Schema.Struct({ user: Schema.String, password: Schema.RedactedFromValue(Schema.String) }),
        pool: { min: 0, max: 1, acquireTimeout: "1 second" },
        create: (config, context) =>
          Effect.gen(function*() {
            const password = yield* context.credential("pw")
            if (++attempts === 1) {
              return yield* Effect.fail(
                new Error(`login ${config.user}/${String(password)}/${JSON.stringify(config)} failed`)
              )
            }
            return { user: config.user }
          })
      })
      return Effect.gen(function*() {
        let events: Array<ResourceEvent> = []
        const errors: Array<unknown> = []
        yield* Effect.scoped(Effect.gen(function*() {
          const managerContext = yield* Layer.build(Manager.layer)
          events = yield* collect().pipe(Effect.provideContext(managerContext))
          const context = yield* Layer.build(
            Secretive.layer({ user: "app", password: secret }).pipe(
              Layer.provideMerge(Layer.succeedContext(managerContext))
            )
          )
          yield* Effect.gen(function*() {
            const action = yield* Effect.forkChild(
              Effect.scoped(Manager.acquire("secretive")).pipe(
                Effect.withSpan("action"),
                Effect.catch((e) => Effect.sync(() => errors.push(e)))
              )
            )
            yield* TestClock.adjust("2 seconds")
            yield* Fiber.join(action)
            const failing = yield* Effect.forkChild(
              Effect.scoped(Effect.andThen(Manager.acquire("secretive"), Manager.acquire("secretive"))).pipe(
                Effect.catch((e) => Effect.sync(() => errors.push(e)))
              )
            )
            yield* TestClock.adjust("2 seconds")
            yield* Fiber.join(failing)
            assert.strictEqual(errors.length, 1)
            yield* Manager.shutdown
          }).pipe(Effect.provideContext(context))
        }))
        yield* settle
        const everything = [
          ...logs,
          ...events.map((e) => JSON.stringify(e)),
          ...spans.flatMap((s) => Array.from(s.attributes.values()).map(String)),
          ...errors.map((e) => JSON.stringify(e) + String(e))
        ].join("\n")
        assert.isAbove(logs.length, 0)
        assert.isAbove(spans.length, 0)
        assert.notInclude(everything, secret)
        assert.notInclude(everything, "hunter2")
      }).pipe(
        Effect.provide(Layer.mergeAll(
          Logger.layer([logger]),
          Credentials.layer(Credentials.fromRecord({ pw: "hunter2" }))
        )),
        Effect.provideService(Tracer.Tracer, tracer),
        Effect.provideService(References.MinimumLogLevel, "Debug")
      )
    })
  })

  describe("spans", () => {
    it.effect("a create triggered by a traced acquire is a descendant of that acquire's span", () => {
      const fake = new Fake.Fake()
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const ancestors = (span: Tracer.Span): Array<string> => {
        const parent = Option.getOrUndefined(span.parent)
        const found = parent === undefined ? undefined : spans.find((s) => s.spanId === parent.spanId)
        return found === undefined ? [] : [found.name, ...ancestors(found)]
      }
      return Effect.gen(function*() {
        yield* Effect.scoped(acquireFake()).pipe(Effect.withSpan("action"))
        const create = spans.find((s) => s.name === "resource.create")!
        assert.deepStrictEqual(ancestors(create), ["resource.acquire", "action"])
      }).pipe(
        Effect.provide(
          Fake.make(fake, { pool: { min: 0, max: 1 } }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))
        ),
        Effect.provideService(Tracer.Tracer, tracer)
      )
    })

    it.effect("a traced acquire that waits and validates has wait and validate child spans", () => {
      const fake = new Fake.Fake()
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const childrenOf = (span: Tracer.Span) =>
        spans.filter((s) => Option.getOrUndefined(s.parent)?.spanId === span.spanId).map((s) => s.name)
      return Effect.gen(function*() {
        yield* Effect.scoped(acquireFake())
        yield* TestClock.adjust("1 second")
        yield* Effect.scoped(acquireFake()).pipe(Effect.withSpan("validating action"))
        const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake(), Effect.sleep(100))))
        yield* settle
        const traced = yield* Effect.forkChild(Effect.scoped(acquireFake()).pipe(Effect.withSpan("waiting action")))
        yield* settle
        yield* TestClock.adjust(100)
        yield* Fiber.join(holder)
        yield* Fiber.join(traced)
        const acquires = spans.filter((s) => s.name === "resource.acquire")
        assert.strictEqual(acquires.length, 2)
        assert.deepStrictEqual(childrenOf(acquires[0]!), ["resource.acquire.wait", "resource.acquire.validate"])
        assert.deepStrictEqual(childrenOf(acquires[1]!), ["resource.acquire.wait"])
        const create = spans.find((s) => s.name === "resource.create")
        assert.isDefined(create)
        assert.strictEqual(create!.attributes.get("resource.id"), "fake")
      }).pipe(
        Effect.provide(
          Fake.make(fake, { withValidate: true, pool: { min: 0, max: 1 } }).layer({ label: "x" }).pipe(
            Layer.provideMerge(Manager.layer)
          )
        ),
        Effect.provideService(Tracer.Tracer, tracer)
      )
    })
  })
})
