import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Redacted, Schema, Scope, Tracer } from "effect"
import * as Caller from "../src/Caller.ts"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"
import type * as ResourceError from "../src/ResourceError.ts"
import * as Tenancy from "../src/Tenancy.ts"
import { settle20 as settle } from "./utils/time.ts"

const DbConfig = Schema.Struct({
  host: Schema.String,
  port: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })),
  password: Schema.RedactedFromValue(Schema.String),
  database: Schema.String.check(Schema.isNonEmpty())
})

const makeDb = (creates: { n: number }) =>
  Resource.make({
    key: "db",
    config: DbConfig,
    create: (config) => Effect.sync(() => ({ n: ++creates.n, host: config.host }))
  })

const failureOf = <E>(exit: Exit.Exit<unknown, E>): E => {
  assert.isTrue(Exit.isFailure(exit))
  const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  assert.strictEqual(reason?._tag, "Fail")
  return (reason as any).error as E
}

/** A resource that logs its instances' creation and destruction into a shared log. */
const logged = (key: string, log: Array<string>, dependencies: ReadonlyArray<Resource.Any | string> = []) =>
  Resource.make({
    key,
    config: Schema.Struct({}),
    dependencies,
    pool: { min: 1, max: 1 },
    create: () =>
      Effect.acquireRelease(
        Effect.sync(() => {
          log.push(`create ${key}`)
          return { key }
        }),
        () => Effect.sync(() => log.push(`destroy ${key}`))
      )
  })

describe("Resource", () => {
  describe("config validation (FR-005)", () => {
    it.effect("a bad config fails the layer listing every violation, secrets redacted, nothing registered", () => {
      const creates = { n: 0 }
      const Db = makeDb(creates)
      return Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(
          Db.layer({ host: 5, port: 70000, password: 12345 } as any, { pool: { max: 0, acquireTimeout: -1 } })
        ))
        const error = failureOf<ResourceError.RegisterError>(exit)
        assert.strictEqual(error._tag, "InvalidConfig")
        if (error._tag !== "InvalidConfig") return
        assert.deepStrictEqual(error.violations.map((v) => [v.path, v.actual]), [
          ["config.host", "5"],
          ["config.port", "70000"],
          ["config.password", "<redacted>"],
          ["config.database", "undefined"],
          ["pool.max", "0"],
          ["pool.acquireTimeout", "-1"]
        ])
        assert.match(error.violations[1]!.constraint, /between 1 and 65535/)
        assert.match(error.violations[3]!.constraint, /Missing key/)
        assert.match(error.message, /^Invalid config for resource "db": config\.host: Expected string \(actual: 5\)/)
        assert.notInclude(error.message, "12345")
        assert.strictEqual(error.kind, "Permanent")
        assert.deepStrictEqual(yield* Manager.list, [])
        assert.strictEqual(creates.n, 0)
      }).pipe(Effect.provide(Manager.layer))
    })

    it.effect("a valid secret never appears in an error about another field", () => {
      const Db = makeDb({ n: 0 })
      return Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(
          Db.layer({ host: "h", port: 0, password: "s3cr3t-value", database: "d" })
        ))
        const error = failureOf<ResourceError.RegisterError>(exit)
        assert.strictEqual(error._tag, "InvalidConfig")
        assert.notInclude(error.message, "s3cr3t-value")
        assert.notInclude(JSON.stringify(error), "s3cr3t-value")
      }).pipe(Effect.provide(Manager.layer))
    })

    it.effect("a decoded secret stays Redacted in the config create receives", () => {
      let seen: unknown
      const Secretive = Resource.make({
        key: "secretive",
        config: DbConfig,
        create: (config) => Effect.sync(() => (seen = config.password))
      })
      return Effect.gen(function*() {
        yield* Effect.scoped(Secretive.acquire)
        assert.isTrue(Redacted.isRedacted(seen))
        assert.strictEqual(String(seen), "<redacted>")
        assert.strictEqual(Redacted.value(seen as Redacted.Redacted<string>), "pw")
      }).pipe(
        Effect.provide(
          Secretive.layer({ host: "h", port: 1, password: "pw", database: "d" }).pipe(Layer.provideMerge(Manager.layer))
        )
      )
    })

    it.effect("pool options are validated: min must not exceed max", () => {
      const Db = makeDb({ n: 0 })
      return Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(
          Db.layer({ host: "h", port: 1, password: "p", database: "d" }, { pool: { min: 5, max: 2 } })
        ))
        const error = failureOf<ResourceError.RegisterError>(exit)
        assert.strictEqual(error._tag, "InvalidConfig")
        if (error._tag !== "InvalidConfig") return
        assert.deepStrictEqual(error.violations, [{
          path: "pool.min",
          constraint: "Expected min to be at most max",
          actual: "5"
        }])
        assert.deepStrictEqual(yield* Manager.list, [])
      }).pipe(Effect.provide(Manager.layer))
    })

    it.effect("an empty tenancy id is a config violation", () => {
      const Db = makeDb({ n: 0 })
      return Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(
          Db.layer({ host: "h", port: 1, password: "p", database: "d" }, { tenancy: Tenancy.tenant("") })
        ))
        const error = failureOf<ResourceError.RegisterError>(exit)
        assert.strictEqual(error._tag, "InvalidConfig")
        if (error._tag !== "InvalidConfig") return
        assert.strictEqual(error.violations[0]!.path, "tenancy.Tenant.tenantId")
      }).pipe(Effect.provide(Manager.layer))
    })
  })

  it.effect("credentials embedded in a URL are redacted in violations", () => {
    const Url = Resource.make({
      key: "url",
      config: Schema.Struct({ url: Schema.String.check(Schema.isPattern(/^postgres:/)) }),
      create: () => Effect.succeed({})
    })
    return Effect.gen(function*() {
      const error = failureOf<ResourceError.RegisterError>(
        yield* Effect.exit(Layer.build(Url.layer({ url: "mysql://admin:s3cr3t@db:3306/app" })))
      )
      assert.strictEqual(error._tag, "InvalidConfig")
      assert.notInclude(error.message, "s3cr3t")
      assert.include(error.message, "mysql://<redacted>@db:3306/app")
    }).pipe(Effect.provide(Manager.layer))
  })

  describe("dependencies (FR-004)", () => {
    it.effect("a 3-level chain initialises dependencies first and shuts down dependents first", () => {
      const log: Array<string> = []
      const A = logged("a", log)
      const B = logged("b", log, [A])
      const C = logged("c", log, [B])
      const layer = C.layer({}).pipe(
        Layer.provideMerge(B.layer({})),
        Layer.provideMerge(A.layer({})),
        Layer.provideMerge(Manager.layer)
      )
      return Effect.gen(function*() {
        const keys = yield* Effect.scoped(Effect.gen(function*() {
          const context = yield* Layer.build(layer)
          yield* settle
          return (yield* Manager.list.pipe(Effect.provideContext(context))).map((r) => r.key)
        }))
        assert.deepStrictEqual(keys, ["a", "b", "c"])
        assert.deepStrictEqual(log.filter((l) => l.startsWith("destroy")), ["destroy c", "destroy b", "destroy a"])
      })
    })

    it.effect("a diamond builds the shared dependency once, first, and closes it last", () => {
      const log: Array<string> = []
      const A = logged("a", log)
      const B = logged("b", log, [A])
      const C = logged("c", log, [A])
      const D = logged("d", log, [B, C])
      const la = A.layer({})
      const lb = B.layer({}).pipe(Layer.provide(la))
      const lc = C.layer({}).pipe(Layer.provide(la))
      const ld = D.layer({}).pipe(Layer.provide(Layer.mergeAll(lb, lc)))
      const layer = Layer.mergeAll(ld, lb, lc, la).pipe(Layer.provideMerge(Manager.layer))
      return Effect.gen(function*() {
        const keys = yield* Effect.scoped(Effect.gen(function*() {
          const context = yield* Layer.build(layer)
          yield* settle
          return (yield* Manager.list.pipe(Effect.provideContext(context))).map((r) => r.key)
        }))
        assert.strictEqual(keys[0], "a")
        assert.strictEqual(keys[3], "d")
        const destroys = log.filter((l) => l.startsWith("destroy"))
        assert.strictEqual(destroys.length, 4)
        assert.strictEqual(destroys[0], "destroy d")
        assert.strictEqual(destroys[3], "destroy a")
      })
    })

    it.effect("Manager.shutdown follows the dependency order too, dependents first", () => {
      const log: Array<string> = []
      const A = logged("a", log)
      const B = logged("b", log, [A])
      const C = logged("c", log, [B])
      const layer = C.layer({}).pipe(
        Layer.provideMerge(B.layer({})),
        Layer.provideMerge(A.layer({})),
        Layer.provideMerge(Manager.layer)
      )
      return Effect.gen(function*() {
        yield* settle
        const report = yield* Manager.shutdown
        assert.deepStrictEqual(report.resources.map((r) => r.key), ["c", "b", "a"])
        assert.deepStrictEqual(log.filter((l) => l.startsWith("destroy")), ["destroy c", "destroy b", "destroy a"])
      }).pipe(Effect.provide(layer))
    })

    it.effect("a dependency cycle among keys is rejected with an error that names the cycle", () => {
      const log: Array<string> = []
      const A = logged("a", log, ["b"])
      const B = logged("b", log, ["a"])
      return Effect.gen(function*() {
        yield* Layer.build(A.layer({}))
        const exit = yield* Effect.exit(Layer.build(B.layer({})))
        const error = failureOf<ResourceError.RegisterError>(exit)
        assert.strictEqual(error._tag, "CircularDependency")
        if (error._tag !== "CircularDependency") return
        assert.deepStrictEqual(error.cycle, ["b", "a", "b"])
        assert.strictEqual(error.message, "Circular dependency: b -> a -> b")
        assert.deepStrictEqual((yield* Manager.list).map((r) => r.key), ["a"])
        assert.isFalse(log.includes("create b"))
      }).pipe(Effect.provide(Manager.layer))
    })

    it.effect("a resource that depends on itself is a cycle", () => {
      const A = logged("a", [], ["a"])
      return Effect.gen(function*() {
        const error = failureOf<ResourceError.RegisterError>(yield* Effect.exit(Layer.build(A.layer({}))))
        assert.strictEqual(error._tag, "CircularDependency")
        assert.strictEqual(error.message, "Circular dependency: a -> a")
      }).pipe(Effect.provide(Manager.layer))
    })

    it.effect("a longer cycle through keys registered later is caught when it closes", () => {
      const A = logged("a", [], ["b"])
      const B = logged("b", [], ["c"])
      const C = logged("c", [], ["a"])
      return Effect.gen(function*() {
        yield* Layer.build(A.layer({}))
        yield* Layer.build(B.layer({}))
        const error = failureOf<ResourceError.RegisterError>(yield* Effect.exit(Layer.build(C.layer({}))))
        assert.strictEqual(error.message, "Circular dependency: c -> a -> b -> c")
      }).pipe(Effect.provide(Manager.layer))
    })
  })

  describe("registration", () => {
    it.effect("a second resource with the same key is rejected and the first keeps serving", () => {
      const first = logged("dup", [])
      const second = logged("dup", [])
      return Effect.gen(function*() {
        yield* Layer.build(first.layer({}))
        const error = failureOf<ResourceError.RegisterError>(yield* Effect.exit(Layer.build(second.layer({}))))
        assert.strictEqual(error._tag, "AlreadyRegistered")
        const instance = yield* Effect.scoped(Manager.acquire("dup"))
        assert.deepStrictEqual(instance, { key: "dup" })
      }).pipe(Effect.provide(Manager.layer))
    })

    it.effect("registering after the manager shut down fails with ResourceClosed", () => {
      return Effect.gen(function*() {
        yield* Manager.shutdown
        const error = failureOf<ResourceError.RegisterError>(
          yield* Effect.exit(Layer.build(logged("late", []).layer({})))
        )
        assert.strictEqual(error._tag, "ResourceClosed")
      }).pipe(Effect.provide(Manager.layer))
    })

    it.effect("a key freed by closeTenancy can be registered again, and the old layer's close leaves it alone", () => {
      const perExecution = (executionId: string) =>
        Resource.make({
          key: "per-execution",
          config: Schema.Struct({}),
          tenancy: Tenancy.execution(executionId),
          create: () => Effect.succeed({ executionId })
        })
      return Effect.gen(function*() {
        const firstScope = yield* Scope.make()
        yield* Layer.buildWithScope(perExecution("e1").layer({}), firstScope)
        yield* Manager.closeTenancy(Tenancy.execution("e1"))
        yield* Layer.build(perExecution("e2").layer({}))
        yield* Scope.close(firstScope, Exit.void)
        assert.deepStrictEqual((yield* Manager.list).map((r) => r.tenancy), [Tenancy.execution("e2")])
        const instance = yield* Effect.scoped(Manager.acquire("per-execution")).pipe(
          Caller.provide(Tenancy.execution("e2"))
        )
        assert.deepStrictEqual(instance, { executionId: "e2" })
      }).pipe(Effect.provide(Manager.layer))
    })
  })

  describe("tracing", () => {
    it.effect("register, acquire, release and shutdown produce spans with resource attributes", () => {
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const A = logged("traced", [])
      return Effect.gen(function*() {
        yield* Effect.scoped(Manager.acquire("traced")).pipe(Effect.withSpan("action"))
        yield* Manager.shutdown
        const byName = (name: string) => spans.find((s) => s.name === name)
        const register = byName("resource.register")
        const acquire = byName("resource.acquire")
        const release = byName("resource.release")
        const shutdown = byName("resource.shutdown")
        assert.isDefined(register)
        assert.strictEqual(register!.attributes.get("resource.id"), "traced")
        assert.strictEqual(register!.attributes.get("resource.scope"), "global")
        assert.isDefined(acquire)
        assert.strictEqual(acquire!.attributes.get("resource.id"), "traced")
        assert.strictEqual(acquire!.attributes.get("pool.size"), 1)
        assert.strictEqual(acquire!.attributes.get("pool.available"), 1)
        const parent = Option.getOrUndefined(acquire!.parent)
        assert.strictEqual(parent && "name" in parent ? parent.name : undefined, "action")
        assert.isDefined(release)
        assert.strictEqual(release!.attributes.get("resource.hold_ms"), 0)
        assert.isDefined(shutdown)
      }).pipe(
        Effect.provide(A.layer({}).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Tracer.Tracer, tracer)
      )
    })

    it.effect("an untraced acquire creates no span", () => {
      const spans: Array<string> = []
      const tracer = Tracer.make({
        span: (options) => {
          spans.push(options.name)
          return new Tracer.NativeSpan(options)
        }
      })
      const A = logged("quiet", [])
      return Effect.gen(function*() {
        const before = spans.length
        yield* Effect.scoped(Manager.acquire("quiet"))
        assert.strictEqual(spans.length, before)
      }).pipe(
        Effect.provide(A.layer({}).pipe(Layer.provideMerge(Manager.layer))),
        Effect.provideService(Tracer.Tracer, tracer)
      )
    })
  })
})
