/**
 * Quarantine and shutdown stop work at once, everywhere.
 *
 * A quarantine used to turn away new acquires only: the pool's own creates (the `min` fill) and the
 * creates of an acquire already retrying kept reaching the backend it was meant to spare. A shutdown
 * left recovery probes and health checks running, and it stopped issuing leases one resource at a
 * time, so a dependency still handed out new leases while its dependents drained. Now a quarantine
 * stops every create until the recovery probe, and a shutdown stops the background checks and
 * refuses new leases on every resource at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Random } from "effect"
import * as Health from "../src/Health.ts"
import * as Manager from "../src/Manager.ts"
import * as Fake from "./utils/fake.ts"
import { advance40 as advance, settle40 as settle } from "./utils/time.ts"

const acquire = (key = "fake") => Manager.acquire(key) as Effect.Effect<Fake.FakeInstance, any, any>
const noJitter: Random.Random = { nextDoubleUnsafe: () => 0, nextIntUnsafe: () => 0 }
const provide = (layer: Layer.Layer<any, any, any>) =>
  Effect.provide(layer.pipe(Layer.provideMerge(Manager.layer)) as Layer.Layer<any>)

describe("quarantine and shutdown stop work at once", () => {
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
