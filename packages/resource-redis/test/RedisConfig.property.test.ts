/**
 * Randomized tests of the Redis config (issue #12); no server needed, since a config is validated
 * before anything connects.
 *
 * Each run starts from a valid config (a `url`, or `host` and `port`), applies one to four faults on
 * distinct fields (wrong types, NaN, ±Infinity, negatives, huge numbers, zero, fractions, bad URLs,
 * empty strings, unknown and misspelt fields, `url` beside `host`), builds the layer and checks that
 * it fails with one typed `InvalidConfig` naming exactly the faults' paths (a misspelt field suggests
 * a field within one edit of it), and that nothing is registered. A second property decodes valid
 * configs with the decoder the layer runs, and round-trips them through their encoding.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigSchema from "@nebula/resource/ConfigSchema"
import * as Manager from "@nebula/resource/Manager"
import { InvalidConfig } from "@nebula/resource/ResourceError"
import { Duration, Effect, Exit, Layer, References, Schema } from "effect"
import * as fc from "fast-check"
import { RedisResource } from "../src/index.ts"

// -----------------------------------------------------------------------------
// the model
// -----------------------------------------------------------------------------

type Category =
  | "wrongType"
  | "nan"
  | "infinite"
  | "negative"
  | "huge"
  | "zero"
  | "fractional"
  | "outOfRange"
  | "unknown"
  | "misspelt"
  | "crossField"

interface Fault {
  readonly category: Category
  readonly claims: ReadonlyArray<string>
  readonly set: Readonly<Record<string, unknown>>
  readonly path: string
  readonly suggests?: boolean
}

const known = Object.keys(RedisResource.Config.fields)
const letters = "abcdefghijklmnopqrstuvwxyz"

const durationFaults: ReadonlyArray<readonly [Category, fc.Arbitrary<unknown>]> = [
  ["wrongType", fc.constantFrom<unknown>(true, null, {}, [], "soon", 5n)],
  ["nan", fc.constant(Number.NaN)],
  ["infinite", fc.constantFrom<unknown>(Infinity, -Infinity, "Infinity", Duration.infinity)],
  ["negative", fc.oneof(fc.integer({ min: -1e9, max: -1 }), fc.constantFrom<unknown>("-1 second"))],
  [
    "huge",
    fc.oneof(
      fc.integer({ min: ConfigSchema.maxTimerMillis + 1, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom<unknown>(1e300, "25 days")
    )
  ],
  ["zero", fc.constantFrom<unknown>(0, "0 seconds", Duration.zero)]
]

const intFaults = (minimum: number, maximum: number): ReadonlyArray<readonly [Category, fc.Arbitrary<unknown>]> => [
  ["wrongType", fc.constantFrom<unknown>("6379", true, null, [])],
  ["nan", fc.constant(Number.NaN)],
  ["infinite", fc.constantFrom(Infinity, -Infinity)],
  ["negative", fc.integer({ min: -1_000_000, max: -1 })],
  ["huge", fc.oneof(fc.integer({ min: maximum + 1, max: Number.MAX_SAFE_INTEGER }), fc.constant(1e300))],
  ["fractional", fc.integer({ min: minimum, max: maximum - 1 }).map((n) => n + 0.5)],
  ...(minimum > 0 ? [["outOfRange", fc.constant(0)] as const] : [])
]

const nonEmptyFaults: ReadonlyArray<readonly [Category, fc.Arbitrary<unknown>]> = [
  ["wrongType", fc.constantFrom<unknown>(5, true, null, {})],
  ["outOfRange", fc.constant("")]
]

const valueFaults: ReadonlyArray<fc.Arbitrary<Fault>> = [
  ...nonEmptyFaults.map(([category, values]) => ({ name: "host", category, values })),
  ...intFaults(1, 65_535).map(([category, values]) => ({ name: "port", category, values })),
  ...intFaults(0, 2_147_483_647).map(([category, values]) => ({ name: "database", category, values })),
  ...nonEmptyFaults.map(([category, values]) => ({ name: "username", category, values })),
  ...nonEmptyFaults.map(([category, values]) => ({ name: "passwordCredential", category, values })),
  { name: "clientName", category: "wrongType" as const, values: fc.constantFrom<unknown>(5, null) },
  { name: "clientName", category: "outOfRange" as const, values: fc.constantFrom("has space", "", "tab\there") },
  ...durationFaults.map(([category, values]) => ({ name: "connectTimeout", category, values }))
].map(({ category, name, values }) =>
  values.map((value): Fault => ({ category, claims: [name], set: { [name]: value }, path: `config.${name}` }))
)

const urlFaults: ReadonlyArray<fc.Arbitrary<Fault>> = [
  fc.constantFrom<unknown>(6379, true, null).map((url) => ({ path: "config.url", url, category: "wrongType" })),
  fc.constantFrom(
    { url: "http://127.0.0.1:6379", path: "config.url" },
    { url: "not a url", path: "config.url" },
    { url: "ftp://user:secret@host", path: "config.url.credentials" },
    { url: "redis :: user@host", path: "config.url.credentials" },
    { url: "redis://user:hunter2@127.0.0.1:6379", path: "config.url.password" },
    { url: "rediss://:hunter2@cache.internal", path: "config.url.password" },
    { url: "redis://127.0.0.1:6379/3", path: "config.url.database" }
  ).map(({ path, url }) => ({ path, url, category: "outOfRange" }))
].map((arb) =>
  arb.map(({ category, path, url }): Fault => ({
    category: category as Category,
    claims: ["url"],
    set: { url },
    path
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
    fc.constantFrom<unknown>("x", 1, true).map((value): Fault => ({
      category: "misspelt",
      claims: [name],
      set: { [name]: value },
      path: `config.${name}`,
      suggests: true
    }))
)

const unknownField: fc.Arbitrary<Fault> = fc.tuple(
  fc.constantFrom("ssl", "tls", "zzz", "retries", "family", "keepAlive"),
  fc.anything()
).map(([name, value]) => ({ category: "unknown", claims: [name], set: { [name]: value }, path: `config.${name}` }))

const urlBesideHost: fc.Arbitrary<Fault> = fc.constantFrom("127.0.0.1", "cache.internal").map((host) => ({
  category: "crossField",
  claims: ["url", "host", "port"],
  set: { url: "redis://127.0.0.1:6379", host },
  path: "config.host"
}))

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  ...valueFaults.map((arbitrary) => ({ arbitrary, weight: 1 })),
  ...urlFaults.map((arbitrary) => ({ arbitrary, weight: 3 })),
  { arbitrary: misspelt, weight: 6 },
  { arbitrary: unknownField, weight: 6 },
  { arbitrary: urlBesideHost, weight: 6 }
)

const validArb: fc.Arbitrary<Record<string, unknown>> = fc.record({
  endpoint: fc.oneof(
    fc.constantFrom(
      "redis://127.0.0.1:6379",
      "rediss://cache.internal:6380",
      "redis://app@cache.internal",
      "redis://h/"
    )
      .map((url) => ({ url })),
    fc.record({ host: fc.string({ minLength: 1, maxLength: 12 }), port: fc.integer({ min: 1, max: 65_535 }) }, {
      requiredKeys: []
    })
  ),
  rest: fc.record({
    database: fc.integer({ min: 0, max: 2_147_483_647 }),
    username: fc.string({ minLength: 1, maxLength: 8 }),
    passwordCredential: fc.string({ minLength: 1, maxLength: 8 }),
    clientName: fc.string({ unit: fc.constantFrom(..."abcXYZ-_:0123456789"), minLength: 1, maxLength: 10 }),
    connectTimeout: fc.oneof(
      fc.integer({ min: 1, max: ConfigSchema.maxTimerMillis }),
      fc.integer({ min: 1, max: 60 }).map((n) => `${n} seconds`),
      fc.integer({ min: 1, max: 100_000 }).map(Duration.millis)
    )
  }, { requiredKeys: [] })
}).map(({ endpoint, rest }) => ({ ...endpoint, ...rest }))

interface Scenario {
  readonly config: Record<string, unknown>
  readonly faults: ReadonlyArray<Fault>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.tuple(validArb, fc.array(faultArb, { minLength: 1, maxLength: 4 })).map(
  ([valid, candidates]) => {
    const claimed = new Set<string>()
    const faults = candidates.filter((fault) => {
      if (fault.claims.some((c) => claimed.has(c))) return false
      fault.claims.forEach((c) => claimed.add(c))
      return true
    })
    return { config: Object.assign({ ...valid }, ...faults.map((f) => f.set)), faults }
  }
)

// -----------------------------------------------------------------------------
// checks
// -----------------------------------------------------------------------------

const Cache = RedisResource.make("cache")

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

const checkBad = (scenario: Scenario) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(Cache.layer(scenario.config as RedisResource.ConfigInput)))
    assert.isTrue(Exit.isFailure(exit), "a bad config built")
    if (!Exit.isFailure(exit)) return
    assert.deepStrictEqual(exit.cause.reasons.map((r) => r._tag), ["Fail"], "not one typed failure")
    const error = (exit.cause.reasons[0] as { readonly error: unknown }).error
    assert.instanceOf(error, InvalidConfig)
    const violations = (error as InvalidConfig).violations
    assert.deepStrictEqual(
      [...new Set(violations.map((v) => v.path))].sort(),
      [...new Set(scenario.faults.map((f) => f.path))].sort(),
      (error as InvalidConfig).message
    )
    assert.notInclude((error as InvalidConfig).message, "hunter2")
    for (const fault of scenario.faults.filter((f) => f.suggests)) {
      const suggested = violations.find((v) => v.path === fault.path)?.constraint.match(/did you mean `(\w+)`\?/)?.[1]
      assert.isDefined(suggested, `no suggestion for ${fault.path}`)
      assert.include(known, suggested!)
      assert.isTrue(withinOneEdit(fault.path.slice("config.".length), suggested!), suggested)
    }
    assert.deepStrictEqual(yield* Manager.list, [])
    for (const fault of scenario.faults) coverage[fault.category] = (coverage[fault.category] ?? 0) + 1
    if (scenario.faults.length > 1) coverage.several = (coverage.several ?? 0) + 1
  }).pipe(
    Effect.scoped,
    Effect.provide(Manager.layer),
    Effect.provideService(References.MinimumLogLevel, "None")
  )

const checkValid = (config: Record<string, unknown>) =>
  Effect.gen(function*() {
    const decoded = yield* ConfigSchema.decode("cache", RedisResource.Config, config, "config.")
    const encoded = yield* Schema.encodeEffect(RedisResource.Config)(decoded)
    assert.deepStrictEqual(yield* ConfigSchema.decode("cache", RedisResource.Config, encoded, "config."), decoded)
  })

describe("RedisResource config properties (no server needed)", () => {
  it.effect(
    "a bad config fails with one InvalidConfig naming every fault, and registers nothing",
    () =>
      Effect.gen(function*() {
        yield* Effect.promise(() =>
          fc.assert(fc.asyncProperty(scenarioArb, (scenario) => Effect.runPromise(checkBad(scenario))), {
            numRuns: 1000
          })
        )
        console.log("Redis config property coverage:", JSON.stringify(coverage))
        for (
          const category of [
            "wrongType",
            "nan",
            "infinite",
            "negative",
            "huge",
            "zero",
            "fractional",
            "outOfRange",
            "unknown",
            "misspelt",
            "crossField",
            "several"
          ]
        ) {
          assert.isAbove(coverage[category] ?? 0, 0, `no ${category} fault`)
        }
      }),
    120_000
  )

  it.effect("a valid config decodes and round-trips", () =>
    Effect.promise(() =>
      fc.assert(fc.asyncProperty(validArb, (config) => Effect.runPromise(checkValid(config))), { numRuns: 1000 })
    ))
})
