import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Schema } from "effect"
import * as ConfigSchema from "../src/ConfigSchema.ts"
import * as Health from "../src/Health.ts"
import * as Manager from "../src/Manager.ts"
import * as PoolOptions from "../src/PoolOptions.ts"
import * as Resource from "../src/Resource.ts"
import type * as ResourceError from "../src/ResourceError.ts"

const Db = Resource.make({
  key: "db",
  config: Schema.Struct({ url: Schema.String, passwordCredential: Schema.optionalKey(Schema.String) }),
  create: () => Effect.succeed({})
})

const violationsOf = <A>(effect: Effect.Effect<A, ResourceError.InvalidConfig>) =>
  Effect.map(Effect.flip(effect), (error) => error.violations.map((v) => [v.path, v.constraint, v.actual]))

const layerViolations = <A>(layer: Layer.Layer<A, ResourceError.RegisterError, Manager.Manager>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(layer))
    assert.isTrue(Exit.isFailure(exit))
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { readonly error: unknown }).error : undefined
    assert.strictEqual((error as ResourceError.RegisterError)._tag, "InvalidConfig")
    assert.deepStrictEqual(yield* Manager.list, [])
    return (error as ResourceError.InvalidConfig).violations.map((v) => [v.path, v.constraint, v.actual])
  }).pipe(Effect.scoped, Effect.provide(Manager.layer))

describe("strict config (issue #12)", () => {
  it.effect("a misspelt pool option is an error with a suggestion, and nothing is registered", () =>
    Effect.gen(function*() {
      const violations = yield* layerViolations(Db.layer({ url: "x" }, { pool: { acquireTimout: 5000 } as any }))
      assert.deepStrictEqual(violations, [[
        "pool.acquireTimout",
        "Unknown field; did you mean `acquireTimeout`?",
        "5000"
      ]])
    }))

  it.effect("unknown fields of the user's config are errors; a string value is never shown", () =>
    Effect.gen(function*() {
      const violations = yield* layerViolations(
        Db.layer({ url: "x", pasword: "hunter2", ssl: true, password_credential: "db" } as any)
      )
      assert.deepStrictEqual(violations, [
        ["config.pasword", "Unknown field; did you mean `passwordCredential`?", "<redacted>"],
        ["config.ssl", "Unknown field", "true"],
        ["config.password_credential", "Unknown field; did you mean `passwordCredential`?", "<redacted>"]
      ])
    }))

  it.effect("an unknown layer option is an error", () =>
    Effect.gen(function*() {
      const violations = yield* layerViolations(Db.layer({ url: "x" }, { pol: { max: 1 } } as any))
      assert.deepStrictEqual(violations, [["pol", "Unknown field; did you mean `pool`?", "object"]])
    }))

  it.effect("NaN, infinite, negative and too long durations are rejected, not read as 0 or forever", () =>
    Effect.gen(function*() {
      const violations = yield* violationsOf(PoolOptions.decode("db", {
        validateSkipWindow: Number.NaN,
        idleTimeout: Infinity,
        maxLifetime: "Infinity",
        createTimeout: -1,
        drainTimeout: 2 ** 31,
        acquireTimeout: "soon",
        recycleTimeout: true
      }))
      assert.deepStrictEqual(violations.map(([path]) => path), [
        "pool.acquireTimeout",
        "pool.createTimeout",
        "pool.validateSkipWindow",
        "pool.recycleTimeout",
        "pool.idleTimeout",
        "pool.maxLifetime",
        "pool.drainTimeout"
      ])
      assert.deepStrictEqual(violations[2], [
        "pool.validateSkipWindow",
        "Expected a finite number of milliseconds",
        "NaN"
      ])
      assert.deepStrictEqual(violations[6], [
        "pool.drainTimeout",
        "Expected a duration greater than 0 and at most 2147483647 ms",
        "2147483648"
      ])
    }))

  it.effect("counts are integers: NaN, fractions and huge numbers are rejected", () =>
    Effect.gen(function*() {
      const violations = yield* violationsOf(PoolOptions.decode("db", { min: 1.5, max: Number.NaN }))
      assert.deepStrictEqual(violations, [
        ["pool.min", "Expected an integer of at least 0", "1.5"],
        ["pool.max", "Expected an integer of at least 1", "NaN"]
      ])
      const huge = yield* violationsOf(Health.decodeSettings("db", { failureThreshold: 2 ** 53, recoveryJitter: 1.5 }))
      assert.deepStrictEqual(huge.map(([path]) => path), ["health.failureThreshold", "health.recoveryJitter"])
    }))

  it.effect("cross-field rules are reported together with field errors", () =>
    Effect.gen(function*() {
      const pool = yield* violationsOf(PoolOptions.decode("db", { min: 5, max: 3, selection: "x" }))
      assert.deepStrictEqual(pool, [
        ["pool.selection", "Expected \"lifo\" | \"fifo\"", "\"x\""],
        ["pool.min", "Expected min to be at most max", "5"]
      ])
      const backoff = yield* violationsOf(PoolOptions.decode("db", { createBackoff: "10 seconds", acquireTimout: 1 }))
      assert.deepStrictEqual(backoff.map(([path, constraint]) => [path, constraint]), [
        ["pool.acquireTimout", "Unknown field; did you mean `acquireTimeout`?"],
        ["pool.createBackoff", "Expected createBackoff to be at most createBackoffMax"]
      ])
      const health = yield* violationsOf(Health.decodeSettings("db", { recoveryBaseDelay: "2 minutes", timeout: 0 }))
      assert.deepStrictEqual(health.map(([path]) => path), ["health.timeout", "health.recoveryBaseDelay"])
    }))

  it.effect("a rule is not checked while one of its fields is invalid", () =>
    Effect.gen(function*() {
      const violations = yield* violationsOf(PoolOptions.decode("db", { min: 5, max: Number.NaN }))
      assert.deepStrictEqual(violations.map(([path]) => path), ["pool.max"])
    }))

  it("plain Schema decoding enforces the rules too", () => {
    assert.throws(() => Schema.decodeUnknownSync(PoolOptions.PoolOptions)({ min: 5, max: 3 }))
    assert.strictEqual(Schema.decodeUnknownSync(PoolOptions.PoolOptions)({ min: 3, max: 3 }).max, 3)
  })

  it.effect("a union of structs reports the member the input matches best", () =>
    Effect.gen(function*() {
      const Config = Schema.Union([
        Schema.Struct({ url: Schema.String }),
        Schema.Struct({ host: Schema.String, port: Schema.Number })
      ])
      const violations = yield* violationsOf(ConfigSchema.decode("db", Config, { host: "h", prot: 5432 }, "config."))
      assert.deepStrictEqual(violations, [
        ["config.prot", "Unknown field; did you mean `port`?", "5432"],
        ["config.port", "Missing key", "undefined"]
      ])
    }))

  it.effect("a struct without fields rejects every field", () =>
    Effect.gen(function*() {
      const violations = yield* violationsOf(ConfigSchema.decode("db", Schema.Struct({}), { label: 1 }, "config."))
      assert.deepStrictEqual(violations, [["config.label", "Unknown field", "1"]])
    }))

  it.effect("nested structs are strict too", () =>
    Effect.gen(function*() {
      const Config = Schema.Struct({ tls: Schema.Struct({ enabled: Schema.Boolean }) })
      const violations = yield* violationsOf(
        ConfigSchema.decode("db", Config, { tls: { enabled: true, enabeld: false } }, "config.")
      )
      assert.deepStrictEqual(violations, [["config.tls.enabeld", "Unknown field; did you mean `enabled`?", "false"]])
    }))

  it.effect("valid options decode with defaults, and a known option set to undefined takes its default", () =>
    Effect.gen(function*() {
      const options = yield* PoolOptions.decode("db", { acquireTimeout: undefined, validateSkipWindow: 0, max: 2 })
      assert.isTrue(Duration.equals(options.acquireTimeout, Duration.seconds(30)))
      assert.isTrue(Duration.equals(options.validateSkipWindow, Duration.zero))
      assert.strictEqual(options.max, 2)
    }))
})
