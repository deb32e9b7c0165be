import { assert, describe, it } from "@effect/vitest"
import * as Health from "@nebula/resource/Health"
import * as Manager from "@nebula/resource/Manager"
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as FaultyResource from "../src/FaultyResource.ts"
import { settle40 as settle } from "./utils/time.ts"

const context = { key: "faulty", credential: () => Effect.die("no credentials in this test") }

/** One create of the definition in its own scope: the instance's cleanup runs when the scope closes. */
const createIn = <Key extends string>(faulty: FaultyResource.FaultyResource<Key, readonly []>) =>
  faulty.resource.definition.create({}, context)

const withManager = <Key extends string>(faulty: FaultyResource.FaultyResource<Key, readonly []>) =>
  Effect.provide(faulty.layer().pipe(Layer.provideMerge(Manager.layer)))

describe("FaultyResource", () => {
  it.effect("an array script is consumed in order, then every call succeeds", () => {
    const faulty = FaultyResource.make({
      key: "faulty",
      pool: { min: 0, max: 1, createBackoff: 10 },
      create: [FaultyResource.fail(), FaultyResource.fail("refused")]
    })
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.scoped(faulty.resource.acquire))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      assert.strictEqual(faulty.state.calls.create, 3)
      assert.strictEqual(faulty.state.created, 1)
      assert.strictEqual([...faulty.state.instances][0].id, 3)
    }).pipe(withManager(faulty))
  })

  it.effect("a function script gets the step's call number; program replaces it", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({
        key: "faulty",
        create: (call) => call % 2 === 1 ? FaultyResource.fail() : FaultyResource.succeed
      })
      const first = yield* Effect.exit(Effect.scoped(createIn(faulty)))
      const second = yield* Effect.exit(Effect.scoped(createIn(faulty)))
      assert.isTrue(Exit.isFailure(first))
      const error = Exit.isFailure(first) ? Cause.squash(first.cause) : undefined
      assert.instanceOf(error, FaultyResource.InjectedFault)
      assert.strictEqual((error as FaultyResource.InjectedFault).call, 1)
      assert.match((error as FaultyResource.InjectedFault).message, /injected create failure of "faulty" \(call 1\)/)
      assert.isTrue(Exit.isSuccess(second))
      faulty.state.program({ create: () => FaultyResource.fail() })
      assert.isTrue(Exit.isFailure(yield* Effect.exit(Effect.scoped(createIn(faulty)))))
      faulty.state.clear()
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(Effect.scoped(createIn(faulty)))))
      assert.strictEqual(faulty.state.created, 2)
      assert.strictEqual(faulty.state.destroyed, 2)
    }))

  it.effect("slow sleeps on the TestClock, and the call counts as in progress meanwhile", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "faulty", create: [FaultyResource.slow("5 seconds")] })
      const fiber = yield* Effect.forkChild(Effect.scoped(createIn(faulty)))
      yield* TestClock.adjust("4999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      assert.strictEqual(faulty.state.inProgress.create, 1)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.strictEqual(faulty.state.inProgress.create, 0)
      assert.strictEqual(faulty.state.created, 1)
    }))

  it.effect("hang suspends until releaseHangs, then completes as a success; later hangs hang again", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "faulty", create: () => FaultyResource.hang })
      const first = yield* Effect.forkChild(Effect.scoped(createIn(faulty)))
      yield* TestClock.adjust("1 hour")
      assert.isUndefined(first.pollUnsafe())
      assert.strictEqual(faulty.state.hung, 1)
      faulty.state.releaseHangs()
      yield* Fiber.join(first)
      assert.strictEqual(faulty.state.hung, 0)
      assert.strictEqual(faulty.state.created, 1)
      const second = yield* Effect.forkChild(Effect.scoped(createIn(faulty)))
      yield* settle
      assert.strictEqual(faulty.state.hung, 1)
      faulty.state.releaseHangs()
      yield* Fiber.join(second)
      assert.strictEqual(faulty.state.created, 2)
    }))

  it.effect("the create cannot be interrupted by default (a connect inside acquireRelease), unless asked", () =>
    Effect.gen(function*() {
      const stubborn = FaultyResource.make({ key: "faulty", create: () => FaultyResource.slow("1 second") })
      const fiber = yield* Effect.forkChild(Effect.scoped(createIn(stubborn)), { startImmediately: true })
      const interrupt = yield* Effect.forkChild(Fiber.interrupt(fiber), { startImmediately: true })
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(interrupt)
      assert.strictEqual(stubborn.state.created, 1)
      assert.strictEqual(stubborn.state.destroyed, 1)

      const polite = FaultyResource.make({
        key: "faulty",
        create: () => FaultyResource.slow("1 second"),
        interruptibleCreate: true
      })
      const other = yield* Effect.forkChild(Effect.scoped(createIn(polite)), { startImmediately: true })
      yield* Fiber.interrupt(other)
      assert.strictEqual(polite.state.created, 0)
      assert.strictEqual(polite.state.inProgress.create, 0)
    }))

  it.effect("a cleanup that fails dies with its error and is counted once", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "faulty", cleanup: [FaultyResource.fail()] })
      const exit = yield* Effect.exit(Effect.scoped(createIn(faulty)))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      assert.deepStrictEqual(
        { destroyed: faulty.state.destroyed, live: faulty.state.live, failed: faulty.state.cleanupsFailed },
        { destroyed: 1, live: 0, failed: 1 }
      )
      assert.deepStrictEqual(faulty.state.violations(1), [])
    }))

  it.effect("a cleanup that hangs is counted once when it starts, and completes when released", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "faulty", cleanup: [FaultyResource.hang] })
      const fiber = yield* Effect.forkChild(Effect.scoped(createIn(faulty)))
      yield* settle
      assert.isUndefined(fiber.pollUnsafe())
      const hung = faulty.state.snapshot()
      assert.deepStrictEqual(
        [hung.destroyed, hung.live, hung.cleanupsCompleted, hung.inProgress.cleanup, hung.hung],
        [1, 0, 0, 1, 1]
      )
      faulty.state.releaseHangs()
      yield* Fiber.join(fiber)
      assert.deepStrictEqual([faulty.state.destroyed, faulty.state.cleanupsCompleted], [1, 1])
    }))

  it.effect("validate: succeed answers true, invalid false, and a destroyed instance is never valid", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "faulty", validate: [FaultyResource.succeed, FaultyResource.invalid] })
      const validate = faulty.resource.definition.validate!
      const instance = yield* Effect.scoped(
        Effect.tap(createIn(faulty), (i) => Effect.sync(() => assert.isFalse(i.destroyed)))
      )
      assert.isTrue(instance.destroyed)
      const live = yield* Effect.scoped(Effect.gen(function*() {
        const i = yield* createIn(faulty)
        return [yield* validate(i, {}), yield* validate(i, {}), yield* validate(i, {})]
      }))
      assert.deepStrictEqual(live, [true, false, true])
      assert.isFalse(yield* validate(instance, {}))
      assert.strictEqual(faulty.state.calls.validate, 4)
    }))

  it.effect("health outcomes: succeed is Healthy, a status is reported as is, fail fails", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({
        key: "faulty",
        health: {
          interval: "1 second",
          outcomes: [FaultyResource.succeed, FaultyResource.status(Health.degraded("slow", 0.5)), FaultyResource.fail()]
        }
      })
      const check = faulty.resource.definition.health!.check!
      const results = yield* Effect.scoped(Effect.gen(function*() {
        const instance = yield* createIn(faulty)
        return [
          yield* check(instance),
          yield* check(instance),
          yield* Effect.flip(check(instance))
        ]
      }))
      assert.deepStrictEqual(results.slice(0, 2).map((s) => Health.format(s as Health.Status)), [
        "Healthy",
        "Degraded(slow, 0.50)"
      ])
      assert.instanceOf(results[2], FaultyResource.InjectedFault)
      assert.strictEqual(faulty.resource.definition.health!.interval, "1 second")
    }))

  it.effect("use counts uses and fails with InstanceClosed after destruction, which violations reports", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "faulty" })
      const instance = yield* Effect.scoped(Effect.tap(createIn(faulty), FaultyResource.use))
      assert.strictEqual(instance.uses, 1)
      const error = yield* Effect.flip(FaultyResource.use(instance))
      assert.strictEqual(error._tag, "InstanceClosed")
      assert.deepStrictEqual(faulty.state.usedAfterDestroy, [instance.id])
      assert.deepStrictEqual(faulty.state.violations(), [`instances used after destruction: ${instance.id}`])
    }))

  it.effect("observe sees every create and destroy; maxLive is the high-water mark", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "faulty" })
      const changes: Array<string> = []
      const stop = faulty.state.observe((change) => changes.push(`${change._tag} #${change.instance.id}`))
      yield* Effect.scoped(Effect.all([createIn(faulty), createIn(faulty)]))
      stop()
      yield* Effect.scoped(createIn(faulty))
      assert.deepStrictEqual(changes, ["Created #1", "Created #2", "Destroyed #2", "Destroyed #1"])
      assert.strictEqual(faulty.state.maxLive, 2)
      assert.deepStrictEqual(faulty.state.violations(1), ["2 instances live at once > max 1"])
    }))

  it.effect("under a Manager its counters agree with the pool's statistics", () => {
    const faulty = FaultyResource.make({ key: "faulty", pool: { min: 0, max: 2 }, recycle: true })
    return Effect.gen(function*() {
      yield* Effect.scoped(Effect.all([faulty.resource.acquire, faulty.resource.acquire], { concurrency: 2 }))
      const stats = yield* Manager.stats("faulty")
      assert.deepStrictEqual([stats.created, stats.size], [faulty.state.created, faulty.state.live])
      assert.strictEqual(faulty.state.calls.recycle, 2)
      yield* Manager.shutdown
      const after = yield* Manager.stats("faulty")
      assert.deepStrictEqual([after.destroyed, faulty.state.destroyed, faulty.state.live], [2, 2, 0])
    }).pipe(withManager(faulty))
  })

  it.effect("resource dependencies: the dependent's instances are destroyed before its dependency's", () => {
    const cache = FaultyResource.make({ key: "cache", pool: { min: 1, max: 1 } })
    const db = FaultyResource.make({ key: "db", pool: { min: 1, max: 1 }, dependencies: [cache.resource] })
    const order: Array<string> = []
    cache.state.observe((change) => order.push(`${change._tag} cache`))
    db.state.observe((change) => order.push(`${change._tag} db`))
    return Effect.gen(function*() {
      yield* Effect.scoped(db.resource.acquire)
      yield* Effect.scoped(cache.resource.acquire)
      yield* Manager.shutdown
      assert.deepStrictEqual(order.filter((entry) => entry.startsWith("Destroyed")), [
        "Destroyed db",
        "Destroyed cache"
      ])
    }).pipe(
      Effect.provide(db.layer().pipe(Layer.provideMerge(cache.layer()), Layer.provideMerge(Manager.layer)))
    )
  })
})
