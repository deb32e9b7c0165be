import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Metric, Random, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Caller from "../src/Caller.ts"
import * as Health from "../src/Health.ts"
import * as Manager from "../src/Manager.ts"
import * as Metrics from "../src/Metrics.ts"
import type * as PoolOptions from "../src/PoolOptions.ts"
import type { ResourceEvent } from "../src/ResourceEvent.ts"
import * as Tenancy from "../src/Tenancy.ts"
import * as Fake from "./utils/fake.ts"
import { advance30 as advance, settle30 as settle } from "./utils/time.ts"

const noJitter: Random.Random = { nextDoubleUnsafe: () => 0, nextIntUnsafe: () => 0 }

type Script = (instance: Fake.FakeInstance) => Effect.Effect<Health.Status, unknown>

/** A fake resource whose health check answers whatever `script.current` says. */
const healthy: Script = () => Effect.succeed(Health.healthy)

const checked = (fake: Fake.Fake, script: { current: Script }, options: {
  readonly key?: string
  readonly dependencies?: ReadonlyArray<any>
  readonly health?: Omit<Health.Options<Fake.FakeInstance>, "check">
  readonly pool?: PoolOptions.Input
} = {}) =>
  Fake.make(fake, {
    key: options.key ?? "fake",
    dependencies: options.dependencies ?? [],
    pool: { min: 0, max: 2, ...options.pool },
    health: { interval: "1 second", timeout: "500 millis", ...options.health, check: (i) => script.current(i) }
  })

const collect = (filter?: Parameters<typeof Manager.subscribe>[0]) =>
  Effect.gen(function*() {
    const events: Array<ResourceEvent> = []
    const stream = yield* Manager.subscribe(filter)
    yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => events.push(event))))
    return events
  })

const acquireFake = (key = "fake") => Manager.acquire(key) as Effect.Effect<Fake.FakeInstance, any, any>

const snapshotOf = (key: string) => Effect.map(Manager.snapshot, (all) => all.find((s) => s.key === key)!)

describe("Health", () => {
  describe("stages", () => {
    it.effect("a pipeline short-circuits on the first Unhealthy, otherwise the lowest score wins", () =>
      Effect.gen(function*() {
        const calls: Array<string> = []
        const stage = (name: string, status: Health.Status): Health.Stage<unknown> => () =>
          Effect.sync(() => {
            calls.push(name)
            return status
          })
        const worst = yield* Health.pipeline([
          stage("a", Health.healthy),
          stage("b", Health.degraded("slow", 0.3)),
          stage("c", Health.degraded("slower", 0.6))
        ])(undefined)
        assert.deepStrictEqual(worst, Health.degraded("slower", 0.6))
        calls.length = 0
        const stopped = yield* Health.pipeline([
          stage("a", Health.degraded("slow", 0.3)),
          stage("b", Health.unhealthy("down")),
          stage("c", Health.healthy)
        ])(undefined)
        assert.strictEqual(stopped._tag, "Unhealthy")
        assert.deepStrictEqual(calls, ["a", "b"])
        assert.deepStrictEqual(yield* Health.pipeline([])(undefined), Health.healthy)
        const failing = yield* Health.pipeline([() => Effect.fail("boom")])(undefined)
        assert.strictEqual(failing._tag, "Unhealthy")
      }))

    it.effect("connectivity and latency stages map probes to statuses (latency timed by the Clock)", () =>
      Effect.gen(function*() {
        const up = yield* Health.connectivity(() => Effect.void)(undefined)
        const down = yield* Health.connectivity(() => Effect.fail("refused"))(undefined)
        const no = yield* Health.connectivity(() => Effect.succeed(false))(undefined)
        assert.strictEqual(up._tag, "Healthy")
        assert.deepStrictEqual(down, Health.unhealthy("connectivity check failed"))
        assert.strictEqual(no._tag, "Unhealthy")
        const timed = (millis: number) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.forkChild(
              Health.latency({ warn: 100, fail: 300 }, () => Effect.sleep(millis))(undefined)
            )
            yield* TestClock.adjust(millis)
            return yield* Fiber.join(fiber)
          })
        assert.strictEqual((yield* timed(50))._tag, "Healthy")
        const slow = yield* timed(200)
        assert.strictEqual(slow._tag, "Degraded")
        assert.strictEqual(slow._tag === "Degraded" ? slow.impact : -1, 0.5)
        assert.strictEqual((yield* timed(300))._tag, "Unhealthy")
        assert.strictEqual(Health.degraded("x", 7)._tag === "Degraded" ? (Health.degraded("x", 7) as any).impact : 0, 1)
      }))
  })

  describe("US2: an operator monitors resource health", () => {
    it.effect("US2-1: periodic checks run and the status is readable by monitoring", () => {
      const fake = new Fake.Fake()
      const script = { current: healthy }
      const R = checked(fake, script)
      return Effect.gen(function*() {
        assert.strictEqual((yield* snapshotOf("fake")).health.status, "Unknown")
        yield* advance(1000)
        const snapshot = yield* snapshotOf("fake")
        assert.strictEqual(snapshot.health.status, "Healthy")
        assert.deepStrictEqual(snapshot.health.transitions.map((t) => [t.from, t.to, t.at]), [[
          "Unknown",
          "Healthy",
          1000
        ]])
        const text = yield* Metrics.prometheus()
        assert.match(text, /resource_health_state\{resource_id="fake"\} 1/)
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
    })

    it.effect("US2-2 / SC-005: a healthy to unhealthy change is detected within two intervals, emitted, and the resource leaves service", () => {
      const fake = new Fake.Fake()
      const script = { current: healthy }
      const R = checked(fake, script, { health: { failureThreshold: 5 } })
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["HealthChanged"] })
        yield* advance(1000)
        assert.strictEqual((yield* snapshotOf("fake")).health.status, "Healthy")
        yield* advance(300)
        script.current = () => Effect.succeed(Health.unhealthy("connection refused"))
        const changedAt = 1300
        yield* advance(2000)
        const change = events.find((e) => e._tag === "HealthChanged" && e.to.startsWith("Unhealthy"))
        assert.isDefined(change)
        assert.isAtMost(change!.at - changedAt, 2000)
        const error = yield* Effect.flip(Effect.scoped(acquireFake()))
        assert.strictEqual(error._tag, "ResourceUnhealthy")
        assert.isTrue(error.retryable)
        assert.match(error.message, /connection refused/)
        script.current = healthy
        yield* advance(1000)
        yield* Effect.scoped(acquireFake())
      }).pipe(Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))))
    })

    it.effect("a failed probe evicts that idle instance and the pool replaces it; Degraded keeps serving", () => {
      const fake = new Fake.Fake()
      const bad = new Set<number>()
      const script = {
        current: ((i) => Effect.succeed(bad.has(i.id) ? Health.unhealthy("stale") : Health.healthy)) as Script
      }
      const R = checked(fake, script, { pool: { min: 2, max: 2 } })
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["CleanedUp", "HealthChanged"] })
        yield* settle
        assert.strictEqual(fake.live.size, 2)
        bad.add(1)
        yield* advance(1000)
        assert.includeMembers(fake.destroyedIds, [1])
        const cleaned = events.find((e) => e._tag === "CleanedUp")
        assert.strictEqual(cleaned?._tag === "CleanedUp" ? cleaned.reason : "", "evicted")
        const snapshot = yield* snapshotOf("fake")
        assert.strictEqual(snapshot.health.status, "Degraded")
        assert.strictEqual(snapshot.health.reason, "1 of 2 instances failed their health check")
        yield* Effect.scoped(acquireFake())
        yield* settle
        assert.strictEqual(fake.live.size, 2)
      }).pipe(Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))))
    })

    it.effect("Unhealthy and not recoverable: idle instances are cleaned up at once and acquires fail permanently", () => {
      const fake = new Fake.Fake()
      const script = { current: healthy }
      const R = checked(fake, script)
      return Effect.gen(function*() {
        yield* advance(1000)
        yield* Effect.scoped(acquireFake())
        assert.strictEqual(fake.live.size, 1)
        script.current = () => Effect.succeed(Health.unhealthy("schema dropped", { recoverable: false }))
        yield* advance(1000)
        assert.strictEqual(fake.live.size, 0)
        const error = yield* Effect.flip(Effect.scoped(acquireFake()))
        assert.strictEqual(error._tag, "ResourceUnhealthy")
        assert.isFalse(error.retryable)
        assert.strictEqual(error.kind, "Permanent")
      }).pipe(Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))))
    })

    it.effect("a check that hangs past its timeout counts as a failure", () => {
      const fake = new Fake.Fake()
      const script = { current: (() => Effect.never) as Script }
      const R = checked(fake, script, { health: { failureThreshold: 5 } })
      return Effect.gen(function*() {
        yield* advance(1600)
        const snapshot = yield* snapshotOf("fake")
        assert.strictEqual(snapshot.health.status, "Unhealthy")
        assert.strictEqual(snapshot.health.reason, "health check timed out")
      }).pipe(Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))))
    })
  })

  describe("US5: an operator handles partial failures gracefully", () => {
    it.effect("US5-1: after N consecutive failed checks the resource is quarantined and hands out nothing", () => {
      const fake = new Fake.Fake()
      const script = { current: (() => Effect.succeed(Health.unhealthy("down"))) as Script }
      fake.create = () => Fake.fail("still down")
      const R = checked(fake, script, { health: { failureThreshold: 3 } })
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["Quarantined"] })
        yield* advance(2500)
        assert.strictEqual(events.length, 0)
        yield* advance(600)
        assert.strictEqual(events.length, 1)
        assert.strictEqual(
          events[0]!._tag === "Quarantined" ? events[0]!.reason : "",
          "health check failed (3 consecutive)"
        )
        const calls = fake.createCalls
        const error = yield* Effect.flip(Effect.scoped(acquireFake()))
        assert.strictEqual(error._tag, "ResourceQuarantined")
        assert.isTrue(error.retryable)
        assert.isAbove(error.retryAfterMs ?? -1, 0)
        assert.strictEqual(fake.createCalls, calls)
        const snapshot = yield* snapshotOf("fake")
        assert.strictEqual(snapshot.quarantine?.reason, "health check failed (3 consecutive)")
        assert.isFalse(snapshot.quarantine!.permanent)
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Random.Random, noJitter)
      )
    })

    it.effect("US5-2: recovery probes back off 1, 2, 4 … 60 s; after 10 attempts the resource is permanently failed", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.fail("down")
      const script = { current: healthy }
      const R = checked(fake, script)
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["RecoveryAttempt", "PermanentlyFailed"] })
        yield* Manager.quarantine("fake", "maintenance")
        yield* advance(400_000, 1000)
        const attempts = events.filter((e) => e._tag === "RecoveryAttempt")
        assert.deepStrictEqual(
          attempts.map((e) => e.at),
          [1, 3, 7, 15, 31, 63, 123, 183, 243, 303].map((s) => s * 1000)
        )
        assert.deepStrictEqual(
          attempts.map((e) => e._tag === "RecoveryAttempt" ? e.nextDelayMs : 0),
          [2, 4, 8, 16, 32, 60, 60, 60, 60].map((s) => s * 1000).concat([undefined as any])
        )
        const permanent = events.find((e) => e._tag === "PermanentlyFailed")
        assert.strictEqual(permanent?._tag === "PermanentlyFailed" ? permanent.attempts : 0, 10)
        const error = yield* Effect.flip(Effect.scoped(acquireFake()))
        assert.strictEqual(error._tag, "ResourceQuarantined")
        assert.isTrue(error.permanent)
        assert.isFalse(error.retryable)
        fake.create = () => Fake.ok
        assert.isTrue(yield* Manager.restore("fake"))
        yield* Effect.scoped(acquireFake())
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Random.Random, noJitter)
      )
    })

    it.effect("recovery delays are jittered within the configured fraction", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.fail("down")
      const R = checked(fake, { current: healthy }, { health: { recoveryJitter: 0.5, recoveryAttempts: 4 } })
      const random: Random.Random = { nextDoubleUnsafe: () => 1, nextIntUnsafe: () => 0 }
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["RecoveryAttempt"] })
        yield* Manager.quarantine("fake", "test")
        yield* advance(20_000, 100)
        assert.deepStrictEqual(events.map((e) => e.at), [500, 1500, 3500, 7500])
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Random.Random, random)
      )
    })

    it.effect("US5-4 / SC-008: a quarantined resource that recovers is back in service within one recovery cycle", () => {
      const fake = new Fake.Fake()
      fake.create = [Fake.fail("down"), Fake.fail("down")]
      const R = checked(fake, { current: healthy })
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["Recovered", "RecoveryAttempt"] })
        yield* Manager.quarantine("fake", "test")
        yield* advance(3000)
        assert.strictEqual(events.filter((e) => e._tag === "RecoveryAttempt").length, 2)
        assert.isUndefined(events.find((e) => e._tag === "Recovered"))
        yield* advance(4000)
        const recovered = events.find((e) => e._tag === "Recovered")
        assert.strictEqual(recovered?.at, 7000)
        assert.isUndefined((yield* snapshotOf("fake")).quarantine)
        yield* Effect.scoped(acquireFake())
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Random.Random, noJitter)
      )
    })

    it.effect("only one recovery probe runs at a time, even under 100 concurrent acquires", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.slow(2000)
      const R = checked(fake, { current: healthy }, {
        health: { recoveryAttempts: 3 },
        pool: { createTimeout: "10 seconds" }
      })
      return Effect.gen(function*() {
        yield* Manager.quarantine("fake", "test")
        yield* advance(1100)
        assert.strictEqual(fake.creating, 1)
        const errors = yield* Effect.all(
          Array.from({ length: 100 }, () => Effect.flip(Effect.scoped(acquireFake()))),
          { concurrency: "unbounded" }
        )
        assert.isTrue(errors.every((e) => e._tag === "ResourceQuarantined"))
        assert.strictEqual(fake.creating, 1)
        assert.strictEqual(fake.createCalls, 1)
        yield* advance(2000)
        assert.isUndefined((yield* snapshotOf("fake")).quarantine)
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Random.Random, noJitter)
      )
    })

    it.effect("a probe that hangs is cut off and never leaves the gate stuck; a manual restore interrupts it", () => {
      const fake = new Fake.Fake()
      fake.create = () => Fake.hang
      const R = checked(fake, { current: healthy }, { pool: { max: 5, createTimeout: "500 millis" } })
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["RecoveryAttempt"] })
        yield* Manager.quarantine("fake", "test")
        yield* advance(1600)
        assert.strictEqual(events.length, 1)
        assert.strictEqual((yield* snapshotOf("fake")).quarantine?.attempts, 1)
        yield* advance(2000)
        assert.strictEqual(fake.creating, 2)
        fake.create = () => Fake.ok
        assert.isTrue(yield* Manager.restore("fake"))
        assert.isUndefined((yield* snapshotOf("fake")).quarantine)
        yield* Effect.scoped(acquireFake())
        assert.isTrue(yield* Manager.quarantine("fake", "again"))
        assert.isFalse(yield* Manager.quarantine("fake", "twice"))
        yield* advance(1100)
        assert.isUndefined((yield* snapshotOf("fake")).quarantine)
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Random.Random, noJitter)
      )
    })

    it.effect("Manager.restore ends a manual quarantine at once: acquires are served again and Recovered says manual", () => {
      const fake = new Fake.Fake()
      const R = checked(fake, { current: healthy }, { health: { recoveryBaseDelay: "1 minute" } })
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["Quarantined", "Recovered"] })
        assert.isFalse(yield* Manager.restore("fake"))
        assert.isTrue(yield* Manager.quarantine("fake", "failover"))
        const refused = yield* Effect.flip(Effect.scoped(acquireFake()))
        assert.strictEqual(refused._tag, "ResourceQuarantined")
        assert.isTrue(yield* Manager.restore("fake"))
        assert.isUndefined((yield* snapshotOf("fake")).quarantine)
        assert.strictEqual((yield* snapshotOf("fake")).health.status, "Unknown")
        yield* Effect.scoped(acquireFake())
        assert.isFalse(yield* Manager.restore("fake"))
        yield* settle
        assert.deepStrictEqual(
          events.map((e) => e._tag === "Recovered" ? `Recovered manual=${e.manual}` : e._tag),
          ["Quarantined", "Recovered manual=true"]
        )
        const missing = yield* Effect.flip(Manager.restore("nope"))
        assert.strictEqual(missing._tag, "NotRegistered")
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Random.Random, noJitter)
      )
    })

    it.effect("US5-3: a failing dependency degrades its transitive dependents up to the depth limit, with a structured cause", () => {
      const fakes = Array.from({ length: 5 }, () => new Fake.Fake())
      const broken = { current: healthy }
      const A = checked(fakes[0]!, broken, { key: "a" })
      const B = checked(fakes[1]!, { current: healthy }, { key: "b", dependencies: ["a"] })
      const C = checked(fakes[2]!, { current: healthy }, { key: "c", dependencies: ["b"] })
      const D = checked(fakes[3]!, { current: healthy }, { key: "d", dependencies: ["c"] })
      const E = checked(fakes[4]!, { current: healthy }, { key: "e", dependencies: ["d"] })
      const layer = Layer.mergeAll(
        A.layer({ label: "a" }),
        B.layer({ label: "b" }),
        C.layer({ label: "c" }),
        D.layer({ label: "d" }),
        E.layer({ label: "e" })
      ).pipe(Layer.provideMerge(Manager.layer))
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["DegradedByDependency", "DependencyRecovered"] })
        yield* advance(1000)
        broken.current = () => Effect.succeed(Health.unhealthy("down"))
        yield* advance(1000)
        const statuses = Object.fromEntries((yield* Manager.snapshot).map((s) => [s.key, s.health.status]))
        assert.deepStrictEqual(statuses, { a: "Unhealthy", b: "Degraded", c: "Degraded", d: "Degraded", e: "Healthy" })
        assert.deepStrictEqual(
          events.map((e) => e._tag === "DegradedByDependency" ? [e.key, e.dependency, e.depth] : []),
          [["b", "a", 1], ["c", "a", 2], ["d", "a", 3]]
        )
        const b = yield* snapshotOf("b")
        assert.deepStrictEqual(b.health.degradedBy, [{ dependency: "a", depth: 1 }])
        assert.deepStrictEqual((yield* snapshotOf("d")).health.degradedBy, [{ dependency: "a", depth: 3 }])
        yield* Effect.scoped(acquireFake("b"))
        broken.current = healthy
        yield* advance(1000)
        const after = Object.fromEntries((yield* Manager.snapshot).map((s) => [s.key, s.health.status]))
        assert.deepStrictEqual(after, { a: "Healthy", b: "Healthy", c: "Healthy", d: "Healthy", e: "Healthy" })
        assert.strictEqual(events.filter((e) => e._tag === "DependencyRecovered").length, 3)
      }).pipe(Effect.provide(layer))
    })

    it.effect("recovery clears exactly the degradations it caused", () => {
      const fakes = Array.from({ length: 3 }, () => new Fake.Fake())
      const left = { current: healthy }
      const right = { current: healthy }
      const L = checked(fakes[0]!, left, { key: "left" })
      const Rr = checked(fakes[1]!, right, { key: "right" })
      const Top = checked(fakes[2]!, { current: healthy }, { key: "top", dependencies: ["left", "right"] })
      const layer = Layer.mergeAll(L.layer({ label: "l" }), Rr.layer({ label: "r" }), Top.layer({ label: "t" })).pipe(
        Layer.provideMerge(Manager.layer)
      )
      return Effect.gen(function*() {
        yield* advance(1000)
        left.current = () => Effect.succeed(Health.unhealthy("down"))
        right.current = () => Effect.succeed(Health.unhealthy("down"))
        yield* advance(1000)
        assert.deepStrictEqual((yield* snapshotOf("top")).health.degradedBy, [
          { dependency: "left", depth: 1 },
          { dependency: "right", depth: 1 }
        ])
        left.current = healthy
        yield* advance(1000)
        const top = yield* snapshotOf("top")
        assert.deepStrictEqual(top.health.degradedBy, [{ dependency: "right", depth: 1 }])
        assert.strictEqual(top.health.status, "Degraded")
        assert.strictEqual(top.health.reason, "dependency right unhealthy")
      }).pipe(Effect.provide(layer))
    })

    it.effect("when every instance fails at once a critical total-failure event is emitted", () => {
      const fake = new Fake.Fake()
      const script = { current: healthy }
      const R = checked(fake, script, { pool: { min: 2, max: 2 }, health: { failureThreshold: 9 } })
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["TotalFailure"] })
        yield* settle
        script.current = () => Effect.succeed(Health.unhealthy("down"))
        yield* advance(1000)
        assert.strictEqual(events.length, 1)
        assert.strictEqual(events[0]!._tag === "TotalFailure" ? events[0]!.instances : 0, 2)
        yield* advance(1000)
        assert.strictEqual(events.length, 1)
      }).pipe(Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))))
    })
  })

  describe("ejection cap and probes", () => {
    it.effect("with 10 instances and 30 % failing, at most the configured fraction is evicted per check; all failing fails closed", () => {
      const fake = new Fake.Fake()
      const bad = new Set<number>([1, 2, 3])
      const script = {
        current: ((i) => Effect.succeed(bad.has(i.id) ? Health.unhealthy("stale") : Health.healthy)) as Script
      }
      const R = checked(fake, script, {
        pool: { min: 10, max: 10 },
        health: { maxEvictionFraction: 0.2, failureThreshold: 9 }
      })
      return Effect.gen(function*() {
        yield* settle
        assert.strictEqual(fake.live.size, 10)
        yield* advance(1000)
        assert.strictEqual(fake.destroyedIds.length, 2)
        const snapshot = yield* snapshotOf("fake")
        assert.strictEqual(snapshot.health.status, "Degraded")
        assert.strictEqual(snapshot.health.reason, "3 of 10 instances failed their health check")
        yield* Effect.scoped(acquireFake())
        script.current = () => Effect.succeed(Health.unhealthy("down"))
        yield* advance(1000)
        assert.strictEqual((yield* snapshotOf("fake")).health.status, "Unhealthy")
        const error = yield* Effect.flip(Effect.scoped(acquireFake()))
        assert.strictEqual(error._tag, "ResourceUnhealthy")
      }).pipe(Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))))
    })

    it.effect("readiness counts only critical resources; liveness never follows health", () => {
      const fakes = [new Fake.Fake(), new Fake.Fake()]
      const critical = { current: healthy }
      const optional = { current: healthy }
      const layer = Layer.mergeAll(
        checked(fakes[0]!, critical, { key: "db" }).layer({ label: "db" }),
        checked(fakes[1]!, optional, { key: "metrics-sink", health: { critical: false } }).layer({ label: "m" })
      ).pipe(Layer.provideMerge(Manager.layer))
      return Effect.gen(function*() {
        yield* advance(1000)
        assert.isTrue((yield* Manager.readiness).ready)
        optional.current = () => Effect.succeed(Health.unhealthy("down"))
        yield* advance(1000)
        const withOptionalDown = yield* Manager.readiness
        assert.isTrue(withOptionalDown.ready)
        assert.deepStrictEqual(withOptionalDown.resources.find((r) => r.key === "metrics-sink"), {
          key: "metrics-sink",
          critical: false,
          ready: false,
          status: "Unhealthy"
        })
        assert.isTrue(yield* Manager.liveness)
        critical.current = () => Effect.succeed(Health.unhealthy("down"))
        yield* advance(1000)
        assert.isFalse((yield* Manager.readiness).ready)
        assert.isTrue(yield* Manager.liveness)
        yield* Manager.shutdown
        assert.isFalse(yield* Manager.liveness)
      }).pipe(Effect.provide(layer))
    })
  })

  describe("leak watchdog", () => {
    it.effect("a lease held past the maximum hold duration is reported with the caller's ids, never force-released", () => {
      const fake = new Fake.Fake()
      const R = Fake.make(fake, { pool: { min: 0, max: 2, maxHoldDuration: "10 seconds" } })
      return Effect.gen(function*() {
        const events = yield* collect({ tags: ["HoldDeadlineExceeded", "HoldDeadlineReturned"] })
        const holder = yield* Effect.forkChild(
          Effect.scoped(Effect.andThen(acquireFake(), Effect.sleep("15 seconds"))).pipe(
            Caller.provide(Tenancy.action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" }))
          )
        )
        yield* advance(9000, 500)
        assert.strictEqual(events.length, 0)
        yield* advance(2000, 500)
        assert.strictEqual(events.length, 1)
        const exceeded = events[0]!
        assert.strictEqual(exceeded._tag, "HoldDeadlineExceeded")
        if (exceeded._tag === "HoldDeadlineExceeded") {
          assert.isAtLeast(exceeded.heldMs, 10_000)
          assert.deepStrictEqual([exceeded.tenantId, exceeded.workflowId, exceeded.executionId], ["t1", "w1", "e1"])
        }
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 1)
        yield* advance(5000, 500)
        yield* Fiber.join(holder)
        const returned = events[1]
        assert.strictEqual(returned?._tag, "HoldDeadlineReturned")
        assert.strictEqual(returned?._tag === "HoldDeadlineReturned" ? returned.heldMs : 0, 15_000)
        assert.match(yield* Metrics.prometheus(), /resource_hold_deadline_exceeded_total\{resource_id="fake"\} 1/)
      }).pipe(
        Effect.provide(R.layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
    })
  })
})
