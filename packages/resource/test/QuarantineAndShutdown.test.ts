/**
 * Regressions for findings of the core review: leases of failed acquires, drain after a discard,
 * quarantine stopping creates, shutdown stopping health fibers, secrets in create defects, and
 * shutdown stopping new leases everywhere at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Random, Redacted, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Credentials from "../src/Credentials.ts"
import * as Health from "../src/Health.ts"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"
import * as Fake from "./utils/fake.ts"
import { advance40 as advance, settle40 as settle } from "./utils/time.ts"

const acquire = (key = "fake") => Manager.acquire(key) as Effect.Effect<Fake.FakeInstance, any, any>
const noJitter: Random.Random = { nextDoubleUnsafe: () => 0, nextIntUnsafe: () => 0 }
const provide = (layer: Layer.Layer<any, any, any>) =>
  Effect.provide(layer.pipe(Layer.provideMerge(Manager.layer)) as Layer.Layer<any>)

describe("Review regressions", () => {
  it.effect("an acquire that times out while validating returns its lease at once, inside the caller's scope", () => {
    const fake = new Fake.Fake()
    fake.validate = [Fake.hang]
    return Effect.gen(function*() {
      yield* Effect.scoped(acquire())
      yield* TestClock.adjust("1 second")
      yield* Effect.scoped(Effect.gen(function*() {
        const attempt = yield* Effect.forkChild(Effect.exit(acquire()))
        yield* advance(2000)
        const exit = yield* Fiber.join(attempt)
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
      }))
    }).pipe(
      provide(
        Fake.make(fake, { withValidate: true, pool: { min: 1, max: 1, acquireTimeout: "2 seconds" } }).layer({
          label: "x"
        })
      )
    )
  })

  it.effect("a discarded instance returns its slot at once: never more than max created, shutdown cleans up at once", () => {
    const fake = new Fake.Fake()
    fake.validate = [false]
    return Effect.gen(function*() {
      yield* Effect.scoped(acquire())
      yield* TestClock.adjust("1 second")
      const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire(), Effect.never)))
      yield* settle
      const stats = yield* Manager.stats("fake")
      assert.strictEqual(stats.inUse, 1)
      assert.strictEqual(fake.created, 2)
      assert.isAtMost(fake.live.size, 2)
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      yield* advance(1000)
      const report = yield* Fiber.join(shutdown)
      assert.deepStrictEqual(report.resources[0], {
        key: "fake",
        drained: false,
        outstanding: 1,
        forced: 1,
        cleanedUp: true
      })
      yield* Fiber.interrupt(holder)
    }).pipe(
      provide(
        Fake.make(fake, { withValidate: true, pool: { min: 1, max: 2, drainTimeout: "1 second" } }).layer({
          label: "x"
        })
      )
    )
  })

  it.effect("draining ends as soon as the last lease is discarded, not at the deadline", () => {
    const fake = new Fake.Fake()
    fake.validate = (n) => n === 1 ? Fake.slow(1000) : false
    return Effect.gen(function*() {
      yield* Effect.scoped(acquire())
      yield* TestClock.adjust("1 second")
      const caller = yield* Effect.forkChild(Effect.exit(Effect.scoped(acquire())))
      yield* settle
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      yield* advance(2000)
      assert.isDefined(shutdown.pollUnsafe())
      yield* Fiber.join(caller)
    }).pipe(provide(Fake.make(fake, { withValidate: true, pool: { min: 1, max: 1 } }).layer({ label: "x" })))
  })

  it.effect("a quarantine stops creates against the backend until the recovery probe", () => {
    const fake = new Fake.Fake()
    return Effect.gen(function*() {
      yield* settle
      assert.strictEqual(fake.createCalls, 3)
      yield* Manager.quarantine("fake", "manual")
      yield* advance(30_000, 1000)
      assert.strictEqual(fake.createCalls, 3)
      const error = yield* Effect.flip(Effect.scoped(acquire()))
      assert.strictEqual(error._tag, "ResourceQuarantined")
      assert.isAtLeast(error.retryAfterMs ?? 0, 1000)
    }).pipe(
      provide(
        Fake.make(fake, { pool: { min: 3, max: 3 }, health: { recoveryBaseDelay: "60 seconds" } }).layer({ label: "x" })
      ),
      Effect.provideService(Random.Random, noJitter)
    )
  })

  it.effect("an acquire retrying creates stops with ResourceQuarantined once the resource is quarantined", () => {
    const fake = new Fake.Fake()
    fake.create = () => Fake.fail("down")
    return Effect.gen(function*() {
      const caller = yield* Effect.forkChild(Effect.flip(Effect.scoped(acquire())))
      yield* advance(500)
      yield* Manager.quarantine("fake", "manual")
      const calls = fake.createCalls
      yield* advance(5000)
      const error = yield* Fiber.join(caller)
      assert.strictEqual(error._tag, "ResourceQuarantined")
      assert.strictEqual(fake.createCalls, calls)
    }).pipe(
      provide(
        Fake.make(fake, { pool: { min: 0, max: 1 }, health: { recoveryBaseDelay: "60 seconds" } }).layer({ label: "x" })
      ),
      Effect.provideService(Random.Random, noJitter)
    )
  })

  it.effect("Manager.shutdown stops recovery probes and health checks", () => {
    const fake = new Fake.Fake()
    fake.create = () => Fake.fail("down")
    return Effect.gen(function*() {
      yield* Manager.quarantine("fake", "manual")
      yield* Manager.shutdown
      const calls = fake.createCalls
      yield* advance(120_000, 1000)
      assert.strictEqual(fake.createCalls, calls)
    }).pipe(
      provide(
        Fake.make(fake, { pool: { min: 0, max: 1 }, health: { check: () => Effect.succeed(Health.healthy) } }).layer({
          label: "x"
        })
      ),
      Effect.provideService(Random.Random, noJitter)
    )
  })

  it.effect("a create that dies with a secret in its message gives a redacted CreateFailed", () => {
    const Dies = Resource.make({
      key: "dies",
      config: Schema.Struct({}),
      pool: { min: 0, max: 1 },
      isRetryable: () => false,
      create: (_, context) =>
        Effect.flatMap(
          context.credential("pw"),
          (pw) => Effect.die(new Error(`auth failed for user:${Redacted.value(pw)}@db`))
        )
    })
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Manager.acquire("dies")))
      assert.isTrue(Exit.isFailure(exit))
      const text = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      assert.notInclude(text, "hunter2")
      assert.include(text, "<redacted>")
    }).pipe(
      provide(Dies.layer({})),
      Effect.provide(Credentials.layer(Credentials.fromRecord({ pw: "hunter2" })))
    )
  })

  it.effect("Manager.shutdown stops issuing everywhere at once: a dependency refuses new leases while dependents drain", () => {
    const db = new Fake.Fake()
    const app = new Fake.Fake()
    const Db = Fake.make(db, { key: "db", pool: { min: 0, max: 2 } })
    const App = Fake.make(app, { key: "app", dependencies: [Db], pool: { min: 0, max: 2 } })
    return Effect.gen(function*() {
      const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquire("app"), Effect.sleep("20 seconds"))))
      yield* settle
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      yield* advance(5000, 1000)
      const error = yield* Effect.flip(Effect.scoped(acquire("db")))
      assert.strictEqual(error._tag, "ResourceClosed")
      yield* advance(16_000, 1000)
      yield* Fiber.join(holder)
      yield* Fiber.join(shutdown)
    }).pipe(provide(App.layer({ label: "app" }).pipe(Layer.provideMerge(Db.layer({ label: "db" })))))
  })
})
