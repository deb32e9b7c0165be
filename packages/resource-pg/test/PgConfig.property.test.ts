/**
 * Randomized tests of the PostgreSQL config (issue #12); no server needed, since a config is
 * validated before anything connects.
 *
 * Each run starts from a valid config (a `url`, or `database` and `user` with an optional `host` and
 * `port`), applies one to four faults on distinct fields (wrong types, NaN, ±Infinity, negatives,
 * huge numbers, fractions of a millisecond, bad URLs, empty strings, unknown and misspelt fields,
 * missing `database` or `user`, a `url` beside the other endpoint fields), builds the layer and
 * checks that it fails with one typed `InvalidConfig` naming exactly the faults' paths (a misspelt
 * field suggests a field within one edit of it), and that nothing is registered. A second property
 * decodes valid configs with the decoder the layer runs, round-trips them through their encoding and
 * maps them to a `pg.Client` config.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigSchema from "@nebula/resource/ConfigSchema"
import * as Manager from "@nebula/resource/Manager"
import { InvalidConfig } from "@nebula/resource/ResourceError"
import { Duration, Effect, Exit, Layer, References, Schema } from "effect"
import * as fc from "fast-check"
import * as PgResource from "../src/PgResource.ts"

// -----------------------------------------------------------------------------
// the model
// -----------------------------------------------------------------------------

type Category =
  | "wrongType"
  | "nan"
  | "infinite"
  | "negative"
  | "huge"
  | "fractional"
  | "outOfRange"
  | "unknown"
  | "misspelt"
  | "missing"
  | "crossField"

interface Fault {
  readonly category: Category
  readonly claims: ReadonlyArray<string>
  readonly set: Readonly<Record<string, unknown>>
  readonly remove: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
  readonly suggests?: boolean
}

const known = Object.keys(PgResource.Config.fields)
const endpoint = ["host", "port", "database", "user"] as const
const letters = "abcdefghijklmnopqrstuvwxyz"

const fault = (category: Category, name: string, value: unknown): Fault => ({
  category,
  claims: [name],
  set: { [name]: value },
  remove: [],
  paths: [`config.${name}`]
})

const nonEmptyFaults = (name: string): ReadonlyArray<fc.Arbitrary<Fault>> => [
  fc.constantFrom<unknown>(5, true, null, {}).map((value) => fault("wrongType", name, value)),
  fc.constant(fault("outOfRange", name, ""))
]

const statementTimeoutFaults: ReadonlyArray<fc.Arbitrary<Fault>> = (
  [
    ["wrongType", fc.constantFrom<unknown>(true, null, {}, "soon", 5n)],
    ["nan", fc.constant(Number.NaN)],
    ["infinite", fc.constantFrom<unknown>(Infinity, -Infinity, "Infinity", Duration.infinity)],
    ["negative", fc.oneof(fc.integer({ min: -1e9, max: -1 }), fc.constantFrom<unknown>("-5 seconds"))],
    [
      "huge",
      fc.oneof(
        fc.integer({ min: PgResource.maxStatementTimeoutMillis + 1, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom<unknown>(1e300, "25 days", Duration.days(30))
      )
    ],
    [
      "fractional",
      fc.oneof(
        fc.integer({ min: 0, max: 1_000_000 }).map((n) => n + 0.5),
        fc.constantFrom<unknown>("1.5 millis", "100 micros", Duration.nanos(1n))
      )
    ]
  ] as const
).map(([category, values]) => values.map((value) => fault(category, "statementTimeout", value)))

const portFaults: ReadonlyArray<fc.Arbitrary<Fault>> = (
  [
    ["wrongType", fc.constantFrom<unknown>("5432", true, null)],
    ["nan", fc.constant(Number.NaN)],
    ["infinite", fc.constantFrom(Infinity, -Infinity)],
    ["negative", fc.integer({ min: -1_000_000, max: -1 })],
    ["huge", fc.oneof(fc.integer({ min: 65_536, max: Number.MAX_SAFE_INTEGER }), fc.constant(1e300))],
    ["fractional", fc.integer({ min: 1, max: 65_534 }).map((n) => n + 0.5)],
    ["outOfRange", fc.constant(0)]
  ] as const
).map(([category, values]) => values.map((value) => fault(category, "port", value)))

const urlFaults: ReadonlyArray<fc.Arbitrary<Fault>> = [
  fc.constantFrom<unknown>(5432, true, null).map((value) => fault("wrongType", "url", value)),
  fc.constantFrom(
    "http://db/app",
    "not a url",
    "mysql://app@db/app",
    "postgres://app:hunter2@db/app",
    "postgresql://:hunter2@db:5432/app"
  ).map((value) => fault("outOfRange", "url", value))
]

const valueFaults: ReadonlyArray<fc.Arbitrary<Fault>> = [
  ...urlFaults,
  ...nonEmptyFaults("host"),
  ...portFaults,
  ...nonEmptyFaults("database"),
  ...nonEmptyFaults("user"),
  fc.constantFrom<unknown>(5, null, {}).map((value) => fault("wrongType", "applicationName", value)),
  ...statementTimeoutFaults,
  ...nonEmptyFaults("passwordCredential")
]

const validEndpoint: Record<(typeof endpoint)[number], fc.Arbitrary<unknown>> = {
  host: fc.string({ minLength: 1, maxLength: 12 }),
  port: fc.integer({ min: 1, max: 65_535 }),
  database: fc.string({ minLength: 1, maxLength: 12 }),
  user: fc.string({ minLength: 1, maxLength: 12 })
}

const missing: fc.Arbitrary<Fault> = fc.subarray(["database", "user"], { minLength: 1 }).chain((absent) =>
  fc.string({ minLength: 1, maxLength: 8 }).map((value): Fault => ({
    category: "missing",
    claims: ["url", "database", "user"],
    set: Object.fromEntries(["database", "user"].filter((f) => !absent.includes(f)).map((f) => [f, value])),
    remove: ["url", ...absent],
    paths: absent.map((f) => `config.${f}`)
  }))
)

const urlBesideEndpoint: fc.Arbitrary<Fault> = fc.subarray([...endpoint], { minLength: 1 }).chain((beside) =>
  fc.tuple(...beside.map((f) => validEndpoint[f])).map((values): Fault => ({
    category: "crossField",
    claims: ["url", ...endpoint],
    set: { url: "postgres://app@db:5432/app", ...Object.fromEntries(beside.map((f, i) => [f, values[i]])) },
    remove: endpoint.filter((f) => !beside.includes(f)),
    paths: beside.map((f) => `config.${f}`)
  }))
)

const misspell = (name: string, op: number, at: number, letter: string): string => {
  const i = at % name.length
  switch (op) {
    case 0:
      return name.slice(0, i) + name.slice(i + 1)
    case 1:
      return name.slice(0, i) + letter + name.slice(i)
    case 2:
      return name.slice(0, i) + letter + name.slice(i + 1)
    case 3:
      return i + 1 < name.length ? name.slice(0, i) + name[i + 1] + name[i] + name.slice(i + 2) : name
    case 4:
      return name.slice(0, i) + name[i]!.toUpperCase() + name.slice(i + 1)
    default:
      return name.slice(0, Math.max(1, i)) + "_" + name.slice(Math.max(1, i))
  }
}

const misspelt: fc.Arbitrary<Fault> = fc.tuple(
  fc.constantFrom(...known.filter((name) => name.length >= 4)),
  fc.nat(5),
  fc.nat(),
  fc.constantFrom(...letters)
).map(([name, op, at, letter]) => misspell(name, op, at, letter)).filter((name) => !known.includes(name)).chain(
  (name) =>
    fc.constantFrom<unknown>("x", 1, true).map((value) => ({ ...fault("misspelt", name, value), suggests: true }))
)

const unknownField: fc.Arbitrary<Fault> = fc.tuple(
  fc.constantFrom("ssl", "sslmode", "options", "keepAlive", "zzz", "connectionTimeoutMillis"),
  fc.anything()
).map(([name, value]) => fault("unknown", name, value))

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  ...valueFaults.map((arbitrary) => ({ arbitrary, weight: 1 })),
  { arbitrary: misspelt, weight: 6 },
  { arbitrary: unknownField, weight: 6 },
  { arbitrary: missing, weight: 5 },
  { arbitrary: urlBesideEndpoint, weight: 5 }
)

const validArb: fc.Arbitrary<Record<string, unknown>> = fc.record({
  endpoint: fc.oneof(
    fc.constantFrom("postgres://app@db:5432/app", "postgresql://db.internal/app?sslmode=require", "postgres://db")
      .map((url) => ({ url })),
    fc.record(validEndpoint, { requiredKeys: ["database", "user"] })
  ),
  rest: fc.record({
    applicationName: fc.string({ maxLength: 20 }),
    statementTimeout: fc.oneof(
      fc.integer({ min: 0, max: PgResource.maxStatementTimeoutMillis }),
      fc.integer({ min: 0, max: 3600 }).map((n) => `${n} seconds`),
      fc.integer({ min: 0, max: 1_000_000 }).map(Duration.millis)
    ),
    passwordCredential: fc.string({ minLength: 1, maxLength: 8 })
  }, { requiredKeys: [] })
}).map(({ endpoint, rest }) => ({ ...endpoint, ...rest }))

interface Scenario {
  readonly config: Record<string, unknown>
  readonly faults: ReadonlyArray<Fault>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.tuple(validArb, fc.array(faultArb, { minLength: 1, maxLength: 4 })).map(
  ([valid, candidates]) => {
    const claimed = new Set<string>()
    const faults = candidates.filter((f) => {
      if (f.claims.some((c) => claimed.has(c))) return false
      f.claims.forEach((c) => claimed.add(c))
      return true
    })
    const config: Record<string, unknown> = { ...valid }
    for (const f of faults) {
      for (const name of f.remove) delete config[name]
      Object.assign(config, f.set)
    }
    return { config, faults }
  }
)

// -----------------------------------------------------------------------------
// checks
// -----------------------------------------------------------------------------

const Db = PgResource.make("db")

const normalize = (name: string) => name.toLowerCase().replace(/[-_]/g, "")

const withinOneEdit = (a: string, b: string): boolean => {
  const [x, y] = [normalize(a), normalize(b)]
  if (x === y) return true
  if (Math.abs(x.length - y.length) > 1) return false
  if (x.length === y.length) {
    const diff = [...x].flatMap((c, i) => c === y[i] ? [] : [i])
    return diff.length === 1 ||
      (diff.length === 2 && diff[1] === diff[0]! + 1 && x[diff[0]!] === y[diff[1]!] && x[diff[1]!] === y[diff[0]!])
  }
  const [short, long] = x.length < y.length ? [x, y] : [y, x]
  return [...long].some((_, i) => long.slice(0, i) + long.slice(i + 1) === short)
}

const coverage: Record<string, number> = {}

const quiet = <A, E>(effect: Effect.Effect<A, E, Manager.Manager>) =>
  effect.pipe(Effect.provide(Manager.layer), Effect.provideService(References.MinimumLogLevel, "None"))

const buildFailure = (config: unknown) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(Db.layer(config as PgResource.ConfigInput)))
    assert.isTrue(Exit.isFailure(exit), "a bad config built")
    assert.deepStrictEqual(Exit.isFailure(exit) ? exit.cause.reasons.map((r) => r._tag) : [], ["Fail"])
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { readonly error: unknown }).error : undefined
    assert.instanceOf(error, InvalidConfig)
    assert.deepStrictEqual(yield* Manager.list, [])
    return error as InvalidConfig
  }).pipe(Effect.scoped)

const checkBad = (scenario: Scenario) =>
  Effect.gen(function*() {
    const error = yield* buildFailure(scenario.config)
    assert.deepStrictEqual(
      [...new Set(error.violations.map((v) => v.path))].sort(),
      [...new Set(scenario.faults.flatMap((f) => f.paths))].sort(),
      error.message
    )
    assert.notInclude(error.message, "hunter2")
    for (const f of scenario.faults.filter((f) => f.suggests)) {
      const suggested = error.violations.find((v) => v.path === f.paths[0])?.constraint.match(
        /did you mean `(\w+)`\?/
      )?.[1]
      assert.isDefined(suggested, `no suggestion for ${f.paths[0]}`)
      assert.include(known, suggested!)
      assert.isTrue(withinOneEdit(f.claims[0]!, suggested!), suggested)
    }
    for (const f of scenario.faults) coverage[f.category] = (coverage[f.category] ?? 0) + 1
    if (scenario.faults.length > 1) coverage.several = (coverage.several ?? 0) + 1
  }).pipe(quiet)

const checkValid = (config: Record<string, unknown>) =>
  Effect.gen(function*() {
    const decoded = yield* ConfigSchema.decode("db", PgResource.Config, config, "config.")
    const encoded = yield* Schema.encodeEffect(PgResource.Config)(decoded)
    assert.deepStrictEqual(yield* ConfigSchema.decode("db", PgResource.Config, encoded, "config."), decoded)
    const client = PgResource.clientConfig(decoded, undefined)
    if (decoded.statementTimeout !== undefined) {
      assert.isTrue(Number.isSafeInteger(client.statement_timeout), String(client.statement_timeout))
    }
    if (decoded.url === undefined) {
      assert.include(client, { host: decoded.host ?? "127.0.0.1", port: decoded.port ?? 5432 })
    }
  })

describe("PgResource config properties (no server needed)", () => {
  it.effect("the issue's examples: misspelt and unknown fields, NaN and negative statement timeouts", () =>
    quiet(Effect.gen(function*() {
      const error = yield* buildFailure({
        url: "postgres://app@db/app",
        pasword: "hunter2",
        ssl: true,
        statement_timeout: 5000
      })
      assert.deepStrictEqual(error.violations.map((v) => [v.path, v.constraint, v.actual]), [
        ["config.pasword", "Unknown field; did you mean `passwordCredential`?", "<redacted>"],
        ["config.ssl", "Unknown field", "true"],
        ["config.statement_timeout", "Unknown field; did you mean `statementTimeout`?", "5000"]
      ])
      for (const statementTimeout of [-1, Number.NaN, 2 ** 31, 1.5]) {
        const timeout = yield* buildFailure({ url: "postgres://app@db/app", statementTimeout })
        assert.deepStrictEqual(timeout.violations.map((v) => v.path), ["config.statementTimeout"])
      }
      const both = yield* buildFailure({ url: "postgres://app@db/app", host: "db", statementTimeout: "soon" })
      assert.deepStrictEqual(both.violations.map((v) => v.path), ["config.statementTimeout", "config.host"])
    })))

  it.effect(
    "a bad config fails with one InvalidConfig naming every fault, and registers nothing",
    () =>
      Effect.gen(function*() {
        yield* Effect.promise(() =>
          fc.assert(fc.asyncProperty(scenarioArb, (scenario) => Effect.runPromise(checkBad(scenario))), {
            numRuns: 1000
          })
        )
        console.log("Pg config property coverage:", JSON.stringify(coverage))
        for (
          const category of [
            "wrongType",
            "nan",
            "infinite",
            "negative",
            "huge",
            "fractional",
            "outOfRange",
            "unknown",
            "misspelt",
            "missing",
            "crossField",
            "several"
          ]
        ) {
          assert.isAbove(coverage[category] ?? 0, 0, `no ${category} fault`)
        }
      }),
    120_000
  )

  it.effect("a valid config decodes, round-trips and maps to a pg.Client config", () =>
    Effect.promise(() =>
      fc.assert(fc.asyncProperty(validArb, (config) => Effect.runPromise(checkValid(config))), { numRuns: 1000 })
    ))
})
