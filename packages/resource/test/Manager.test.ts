import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Caller from "../src/Caller.ts"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"
import * as Tenancy from "../src/Tenancy.ts"
import * as Fake from "./utils/fake.ts"
import { settle20 as settle } from "./utils/time.ts"

const withLayer = <A, E, R>(layer: Layer.Layer<any, any, any>) => (body: Effect.Effect<A, E, R>) =>
  Effect.scoped(body).pipe(Effect.provide(Layer.provideMerge(layer, Manager.layer) as Layer.Layer<any, any, never>))

const fakeLayer = (fake: Fake.Fake, options: Parameters<typeof Fake.make>[1] = {}) =>
  Fake.make(fake, { pool: { min: 0, max: 2 }, ...options }).layer({ label: "x" })

const acquireFake = (key = "fake") => Manager.acquire(key) as Effect.Effect<Fake.FakeInstance, any, any>

describe("Manager", () => {
  describe("US1: a workflow author connects to external services", () => {
    it.effect("US1-1: an action asks a registered resource by name and gets a ready instance within the timeout", () => {
      const fake = new Fake.Fake()
      fake.create = [Fake.slow(200)]
      return Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.scoped(acquireFake()))
        yield* TestClock.adjust("200 millis")
        const instance = yield* Fiber.join(fiber)
        assert.strictEqual(instance.id, 1)
        assert.isFalse(instance.destroyed)
      }).pipe(withLayer(fakeLayer(fake)))
    })

    it.effect("US1-2: the lease goes back to the pool when the action succeeds, fails or is interrupted", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.scoped(acquireFake())
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
        yield* Effect.exit(Effect.scoped(Effect.andThen(acquireFake(), Effect.fail("action failed"))))
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 0)
        const fiber = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake(), Effect.never)))
        yield* settle
        assert.strictEqual((yield* Manager.stats("fake")).inUse, 1)
        yield* Fiber.interrupt(fiber)
        const stats = yield* Manager.stats("fake")
        assert.strictEqual(stats.inUse, 0)
        assert.strictEqual(stats.idle, 1)
        assert.strictEqual(stats.acquisitions, 3)
        assert.strictEqual(fake.created, 1)
      }).pipe(withLayer(fakeLayer(fake)))
    })

    it.effect("US1-3: idle instances are reused, no new ones are created", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const ids = []
        for (let i = 0; i < 5; i++) ids.push((yield* Effect.scoped(acquireFake())).id)
        assert.deepStrictEqual(ids, [1, 1, 1, 1, 1])
        assert.strictEqual(fake.created, 1)
        const viaUse = yield* Manager.use("fake", (instance) => Effect.succeed((instance as Fake.FakeInstance).id))
        assert.strictEqual(viaUse, 1)
        assert.strictEqual(fake.created, 1)
      }).pipe(withLayer(fakeLayer(fake)))
    })

    it.effect("US1-4: shutdown cleans up every pooled instance and nothing leaks", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.scoped(Effect.all([acquireFake(), acquireFake()], { concurrency: "unbounded" }))
        assert.strictEqual(fake.live.size, 2)
        const report = yield* Manager.shutdown
        assert.deepStrictEqual(report.resources, [{
          key: "fake",
          drained: true,
          outstanding: 0,
          forced: 0,
          cleanedUp: true
        }])
        assert.strictEqual(fake.live.size, 0)
        assert.strictEqual(fake.destroyed, 2)
      }).pipe(withLayer(fakeLayer(fake)))
    })

    it.effect("the handle and Manager.use give the same pooled instances, with typed errors for unknown keys", () => {
      const fake = new Fake.Fake()
      const Typed = Fake.make(fake, { pool: { min: 0, max: 1 } })
      return Effect.gen(function*() {
        const handle = yield* Typed.tag
        const a = yield* Effect.scoped(handle.acquire)
        const b = yield* Effect.scoped(Typed.acquire)
        const c = yield* Typed.use((instance) => Effect.succeed(instance))
        assert.strictEqual(a, b)
        assert.strictEqual(b, c)
        assert.strictEqual((yield* handle.stats).acquisitions, 3)
        const missing = yield* Effect.flip(Effect.scoped(Manager.acquire("nope")))
        assert.strictEqual(missing._tag, "NotRegistered")
        assert.strictEqual(missing.kind, "NotFound")
        const missingStats = yield* Effect.flip(Manager.stats("nope"))
        assert.strictEqual(missingStats._tag, "NotRegistered")
      }).pipe(withLayer(Typed.layer({ label: "x" })))
    })

    it.effect("lists registered keys with their tenancy and dependencies", () => {
      const a = new Fake.Fake()
      const b = new Fake.Fake()
      const A = Fake.make(a, { key: "a" })
      const B = Fake.make(b, { key: "b", dependencies: [A, "external"], tenancy: Tenancy.tenant("t1") })
      const layer = B.layer({ label: "b" }).pipe(Layer.provideMerge(A.layer({ label: "a" })))
      return Effect.gen(function*() {
        const list = yield* Manager.list
        assert.deepStrictEqual(list, [
          { key: "a", tenancy: Tenancy.global, dependencies: [] },
          { key: "b", tenancy: Tenancy.tenant("t1"), dependencies: ["a", "external"] }
        ])
      }).pipe(withLayer(layer))
    })
  })

  describe("US4: a multi-tenant platform isolates resources", () => {
    const tenantResource = (fake: Fake.Fake, key: string, tenancy: Tenancy.Tenancy) =>
      Fake.make(fake, { key, tenancy, pool: { min: 0, max: 2 } }).layer({ label: key })

    it.effect("US4-1: tenant B acquiring tenant A's resource is denied with a clear access error", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const own = yield* Effect.scoped(acquireFake("db-a")).pipe(Caller.provide(Tenancy.tenant("A")))
        assert.strictEqual(own.id, 1)
        const denied = yield* Effect.flip(Effect.scoped(acquireFake("db-a"))).pipe(Caller.provide(Tenancy.tenant("B")))
        assert.strictEqual(denied._tag, "AccessDenied")
        assert.strictEqual(denied.message, "Access to resource \"db-a\" (tenant:A) denied for caller tenant:B")
        assert.isFalse(denied.retryable)
        const asGlobal = yield* Effect.flip(Effect.scoped(acquireFake("db-a")))
        assert.strictEqual(asGlobal._tag, "AccessDenied")
        const viaUse = yield* Effect.flip(Manager.use("db-a", Effect.succeed)).pipe(Caller.provide(Tenancy.tenant("B")))
        assert.strictEqual(viaUse._tag, "AccessDenied")
        assert.strictEqual(fake.created, 1)
      }).pipe(withLayer(tenantResource(fake, "db-a", Tenancy.tenant("A"))))
    })

    it.effect("US4-2: an action may use resources at its own level or broader in its branch, never in another branch", () => {
      const fake = new Fake.Fake()
      const layer = Layer.mergeAll(
        tenantResource(fake, "global", Tenancy.global),
        tenantResource(fake, "tenant", Tenancy.tenant("T")),
        tenantResource(fake, "workflow", Tenancy.workflow("W", "T")),
        tenantResource(fake, "execution", Tenancy.execution("E", { workflowId: "W", tenantId: "T" })),
        tenantResource(fake, "action", Tenancy.action("A", { executionId: "E", workflowId: "W", tenantId: "T" })),
        tenantResource(fake, "other-execution", Tenancy.execution("E2", { workflowId: "W", tenantId: "T" })),
        tenantResource(fake, "other-tenant", Tenancy.tenant("U"))
      )
      const caller = Tenancy.action("A", { executionId: "E", workflowId: "W", tenantId: "T" })
      return Effect.gen(function*() {
        const outcome = (key: string) =>
          Effect.scoped(acquireFake(key)).pipe(
            Effect.as("granted"),
            Effect.catchTag("AccessDenied", () => Effect.succeed("denied")),
            Caller.provide(caller)
          )
        const results: Record<string, string> = {}
        for (const key of ["global", "tenant", "workflow", "execution", "action", "other-execution", "other-tenant"]) {
          results[key] = yield* outcome(key)
        }
        assert.deepStrictEqual(results, {
          global: "granted",
          tenant: "granted",
          workflow: "granted",
          execution: "granted",
          action: "granted",
          "other-execution": "denied",
          "other-tenant": "denied"
        })
      }).pipe(withLayer(layer))
    })

    it.effect("US4-3: when a parent tenancy closes, every resource registered under its children is cleaned up", () => {
      const fake = new Fake.Fake()
      const layer = Layer.mergeAll(
        tenantResource(fake, "tenant", Tenancy.tenant("T")),
        tenantResource(fake, "workflow", Tenancy.workflow("W", "T")),
        tenantResource(fake, "execution", Tenancy.execution("E", { workflowId: "W", tenantId: "T" })),
        tenantResource(fake, "action", Tenancy.action("A", { executionId: "E", workflowId: "W", tenantId: "T" })),
        tenantResource(fake, "sibling-workflow", Tenancy.workflow("W2", "T"))
      )
      const caller = Tenancy.action("A", { executionId: "E", workflowId: "W", tenantId: "T" })
      return Effect.gen(function*() {
        for (const key of ["tenant", "workflow", "execution", "action"]) {
          yield* Effect.scoped(acquireFake(key)).pipe(Caller.provide(caller))
        }
        yield* Effect.scoped(acquireFake("sibling-workflow")).pipe(Caller.provide(Tenancy.workflow("W2", "T")))
        assert.strictEqual(fake.live.size, 5)
        const report = yield* Manager.closeTenancy(Tenancy.workflow("W", "T"))
        assert.deepStrictEqual(report.resources.map((r) => r.key).sort(), ["action", "execution", "workflow"])
        assert.strictEqual(fake.live.size, 2)
        assert.deepStrictEqual((yield* Manager.list).map((r) => r.key).sort(), ["sibling-workflow", "tenant"])
        const gone = yield* Effect.flip(Effect.scoped(acquireFake("execution"))).pipe(Caller.provide(caller))
        assert.strictEqual(gone._tag, "NotRegistered")
        yield* Effect.scoped(acquireFake("tenant")).pipe(Caller.provide(caller))
      }).pipe(withLayer(layer))
    })

    it.effect("a caller with an empty id is rejected before acquiring", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(acquireFake("tenant")).pipe(Caller.provide(Tenancy.tenant(""))))
        assert.strictEqual(error._tag, "InvalidTenancy")
        assert.strictEqual(fake.createCalls, 0)
      }).pipe(withLayer(tenantResource(fake, "tenant", Tenancy.tenant("T"))))
    })
  })

  describe("shutdown", () => {
    it.effect("cleans idle instances, and a lease returned after shutdown is destroyed, not re-pooled", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.scoped(acquireFake())
        const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake(), Effect.sleep("1 second"))))
        yield* settle
        assert.strictEqual(fake.live.size, 1)
        yield* Effect.scoped(acquireFake())
        assert.strictEqual(fake.live.size, 2)
        const shutdown = yield* Effect.forkChild(Manager.shutdown)
        yield* settle
        assert.strictEqual(fake.live.size, 1)
        assert.isUndefined(shutdown.pollUnsafe())
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
        const report = yield* Fiber.join(shutdown)
        assert.deepStrictEqual(report.resources[0], {
          key: "fake",
          drained: true,
          outstanding: 0,
          forced: 0,
          cleanedUp: true
        })
        assert.strictEqual(fake.live.size, 0)
        assert.strictEqual(fake.destroyed, 2)
      }).pipe(withLayer(fakeLayer(fake)))
    })

    it.effect("a new acquire during or after shutdown fails at once with ResourceClosed, waiters included", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake(), Effect.sleep("10 seconds"))))
        yield* settle
        const waiter = yield* Effect.forkChild(Effect.scoped(acquireFake()))
        yield* settle
        const shutdown = yield* Effect.forkChild(Manager.shutdown)
        yield* settle
        const waiterExit = yield* Fiber.await(waiter)
        assert.isTrue(Exit.isFailure(waiterExit))
        const during = yield* Effect.flip(Effect.scoped(acquireFake()))
        assert.strictEqual(during._tag, "ResourceClosed")
        assert.strictEqual(during.kind, "Cancelled")
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(holder)
        yield* Fiber.join(shutdown)
        const after = yield* Effect.flip(Effect.scoped(acquireFake()))
        assert.strictEqual(after._tag, "ResourceClosed")
        const afterUse = yield* Effect.flip(Manager.use("fake", Effect.succeed))
        assert.strictEqual(afterUse._tag, "ResourceClosed")
      }).pipe(withLayer(fakeLayer(fake, { pool: { min: 0, max: 1 } })))
    })

    it.effect("draining returns as soon as the last lease comes back, without waiting out the deadline", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake(), Effect.sleep("2 seconds"))))
        yield* settle
        const shutdown = yield* Effect.forkChild(Manager.shutdown)
        yield* TestClock.adjust("2 seconds")
        const report = yield* Fiber.join(shutdown)
        assert.isTrue(report.resources[0]!.drained)
      }).pipe(withLayer(fakeLayer(fake)))
    })

    it.effect("leases still out at the drain deadline are force-released and reported", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const stuck = yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake(), Effect.never)))
        yield* settle
        const shutdown = yield* Effect.forkChild(Manager.shutdown)
        yield* TestClock.adjust("29 seconds")
        assert.isUndefined(shutdown.pollUnsafe())
        yield* TestClock.adjust("1 second")
        const report = yield* Fiber.join(shutdown)
        assert.deepStrictEqual(report.resources[0], {
          key: "fake",
          drained: false,
          outstanding: 1,
          forced: 1,
          cleanedUp: true
        })
        assert.strictEqual(fake.live.size, 0)
        yield* Fiber.interrupt(stuck)
        assert.strictEqual(fake.destroyed, 1)
      }).pipe(withLayer(fakeLayer(fake, { pool: { min: 0, max: 2, drainTimeout: "30 seconds" } })))
    })

    it.effect("a second concurrent shutdown waits for the first and gets the same report", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        yield* Effect.forkChild(Effect.scoped(Effect.andThen(acquireFake(), Effect.sleep("1 second"))))
        yield* settle
        const first = yield* Effect.forkChild(Manager.shutdown)
        const second = yield* Effect.forkChild(Manager.shutdown)
        yield* settle
        assert.isUndefined(second.pollUnsafe())
        yield* TestClock.adjust("1 second")
        const [a, b] = [yield* Fiber.join(first), yield* Fiber.join(second)]
        assert.strictEqual(a, b)
      }).pipe(withLayer(fakeLayer(fake)))
    })

    it.effect("100 idle resources shut down without waiting on any clock (SC-003)", () => {
      const fakes = Array.from({ length: 100 }, () => new Fake.Fake())
      const layers = fakes.map((fake, i) =>
        Fake.make(fake, { key: `r${i}`, pool: { min: 2, max: 4 } }).layer({ label: `r${i}` }) as Layer.Layer<
          any,
          any,
          any
        >
      )
      const layer = Layer.mergeAll(layers[0]!, ...layers.slice(1))
      return Effect.gen(function*() {
        yield* settle
        assert.strictEqual(fakes.reduce((n, f) => n + f.live.size, 0), 200)
        const shutdown = yield* Effect.forkChild(Manager.shutdown)
        yield* settle
        const report = yield* Fiber.join(shutdown)
        assert.strictEqual(report.resources.length, 100)
        assert.isTrue(report.resources.every((r) => r.drained && r.cleanedUp && r.forced === 0))
        assert.strictEqual(fakes.reduce((n, f) => n + f.live.size, 0), 0)
      }).pipe(withLayer(layer as Layer.Layer<any, any, any>))
    })
  })

  describe("public face", () => {
    it.effect("the Manager service holds exactly the public operations, no registry internals", () =>
      Effect.gen(function*() {
        const manager = yield* Manager.Manager
        assert.deepStrictEqual(Object.keys(manager).sort(), [
          "acquire",
          "closeTenancy",
          "list",
          "liveness",
          "quarantine",
          "readiness",
          "restore",
          "shutdown",
          "snapshot",
          "stats",
          "subscribe",
          "use",
          "useCallback"
        ])
      }).pipe(Effect.provide(Manager.layer)))

    it.effect("a Manager provided on its own, as a captured service, still leases through the accessors", () => {
      const fake = new Fake.Fake()
      return Effect.gen(function*() {
        const alone = <A, E>(effect: Effect.Effect<A, E, Manager.Manager>) =>
          effect.pipe(
            Effect.updateContext((context: Context.Context<Manager.Manager>) => Context.pick(Manager.Manager)(context))
          )
        const viaAcquire = yield* alone(Effect.scoped(acquireFake()))
        const viaUse = yield* alone(Manager.use("fake", (instance) => Effect.succeed(instance)))
        const viaCallback = yield* alone(
          Manager.useCallback("fake", (instance, resume) => resume(Effect.succeed(instance)))
        )
        assert.strictEqual(viaAcquire, viaUse)
        assert.strictEqual(viaUse, viaCallback)
        assert.strictEqual(fake.created, 1)
      }).pipe(withLayer(fakeLayer(fake)))
    })

    it.effect("the accessors call a Manager that was not built by Manager.layer (a test double) through its methods", () => {
      const double = {
        acquire: (key: string) => Effect.succeed(`acquired ${key}`),
        use: (key: string, f: (instance: unknown) => Effect.Effect<any, any, any>) => f(`used ${key}`),
        useCallback: (key: string, start: Manager.Callback<unknown, any, any>) =>
          Effect.callback<unknown, any>((resume) => start(`called ${key}`, resume))
      } as unknown as Manager.ManagerShape
      return Effect.gen(function*() {
        assert.strictEqual(yield* Effect.scoped(Manager.acquire("db")), "acquired db")
        assert.strictEqual(yield* Manager.use("db", Effect.succeed), "used db")
        assert.strictEqual(
          yield* Manager.useCallback("db", (instance, resume) => resume(Effect.succeed(instance))),
          "called db"
        )
      }).pipe(Effect.provideService(Manager.Manager, double))
    })
  })

  describe("typed keys", () => {
    it.effect("Manager.acquire is typed by the augmented registry", () => {
      const Numbers = Resource.make({
        key: "numbers",
        config: Schema.Struct({ start: Schema.Number }),
        create: (config) => Effect.succeed({ next: config.start })
      })
      return Effect.gen(function*() {
        const counter = yield* Effect.scoped(Manager.acquire("numbers"))
        const next: number = counter.next
        assert.strictEqual(next, 7)
      }).pipe(withLayer(Numbers.layer({ start: 7 })))
    })
  })
})

declare module "../src/Manager.ts" {
  interface Registry {
    readonly numbers: { next: number }
  }
}
