/**
 * Randomized tests of the HTTP config (issue #12); no server needed, since a config is validated
 * before the client is created.
 *
 * Each run starts from a valid config, applies one to four faults on distinct fields (wrong types,
 * NaN, ±Infinity, negatives, huge numbers, zero, fractions, bad URLs and paths, empty strings,
 * non-string header values, unknown and misspelt fields, a missing `baseUrl`), builds the layer and
 * checks that it fails with one typed `InvalidConfig` naming exactly the faults' paths (a misspelt
 * field suggests a field within one edit of it), and that nothing is registered. The config has no
 * cross-field rule. A second property decodes valid configs with the decoder the layer runs, and
 * round-trips them through their encoding.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigSchema, Manager } from "@nebula/resource"
import { InvalidConfig } from "@nebula/resource/ResourceError"
import { Duration, Effect, Exit, Layer, References, Schema } from "effect"
import * as fc from "fast-check"
import * as HttpResource from "../src/HttpResource.ts"

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
  | "missing"

interface Fault {
  readonly category: Category
  readonly name: string
  readonly value?: unknown
  readonly remove?: boolean
  readonly path: string
  readonly suggests?: boolean
}

const known = Object.keys(HttpResource.Config.fields)
const letters = "abcdefghijklmnopqrstuvwxyz"

const faults = (name: string, cases: ReadonlyArray<readonly [Category, fc.Arbitrary<unknown>]>) =>
  cases.map(([category, values]) => values.map((value): Fault => ({ category, name, value, path: `config.${name}` })))

const valueFaults: ReadonlyArray<fc.Arbitrary<Fault>> = [
  ...faults("baseUrl", [
    ["wrongType", fc.constantFrom<unknown>(5, null, true, {})],
    ["outOfRange", fc.constantFrom("ftp://x", "localhost:8080", "", "//api")]
  ]),
  ...faults("headers", [["wrongType", fc.constantFrom<unknown>(5, "x-a: 1", null, true)]]),
  fc.tuple(fc.constantFrom("x-tenant", "accept", "authorization"), fc.constantFrom<unknown>(5, null, true, ["a"])).map((
    [header, value]
  ): Fault => ({
    category: "wrongType",
    name: "headers",
    value: { [header]: value },
    path: `config.headers.${header}`
  })),
  ...faults("tokenCredential", [
    ["wrongType", fc.constantFrom<unknown>(5, null, {})],
    ["outOfRange", fc.constant("")]
  ]),
  ...faults("timeout", [
    ["wrongType", fc.constantFrom<unknown>(true, null, {}, [], "soon", 5n)],
    ["nan", fc.constant(Number.NaN)],
    ["infinite", fc.constantFrom<unknown>(Infinity, -Infinity, "Infinity", Duration.infinity)],
    ["negative", fc.oneof(fc.integer({ min: -1e9, max: -1 }), fc.constantFrom<unknown>("-1 seconds"))],
    [
      "huge",
      fc.oneof(
        fc.integer({ min: ConfigSchema.maxTimerMillis + 1, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom<unknown>(1e300, "25 days")
      )
    ],
    ["zero", fc.constantFrom<unknown>(0, "0 millis", Duration.zero)]
  ]),
  ...faults("healthPath", [
    ["wrongType", fc.constantFrom<unknown>(5, null, true)],
    ["outOfRange", fc.constantFrom("health", "http://x/health", "")]
  ]),
  ...faults("maxConnections", [
    ["wrongType", fc.constantFrom<unknown>("16", true, null)],
    ["nan", fc.constant(Number.NaN)],
    ["infinite", fc.constantFrom(Infinity, -Infinity)],
    ["negative", fc.integer({ min: -1_000_000, max: -1 })],
    ["huge", fc.constantFrom(2 ** 53, 1e300, Number.MAX_VALUE)],
    ["fractional", fc.integer({ min: 1, max: 1000 }).map((n) => n + 0.5)],
    ["outOfRange", fc.constant(0)]
  ])
]

const missing: fc.Arbitrary<Fault> = fc.constant({
  category: "missing",
  name: "baseUrl",
  remove: true,
  path: "config.baseUrl"
})

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
      name,
      value,
      path: `config.${name}`,
      suggests: true
    }))
)

const unknownField: fc.Arbitrary<Fault> = fc.tuple(
  fc.constantFrom("proxy", "retries", "zzz", "keepAliveTimeout", "token"),
  fc.anything()
).map(([name, value]) => ({ category: "unknown", name, value, path: `config.${name}` }))

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  ...valueFaults.map((arbitrary) => ({ arbitrary, weight: 1 })),
  { arbitrary: misspelt, weight: 5 },
  { arbitrary: unknownField, weight: 5 },
  { arbitrary: missing, weight: 3 }
)

const validArb: fc.Arbitrary<Record<string, unknown>> = fc.record({
  baseUrl: fc.constantFrom("http://127.0.0.1:8080", "https://api.example.com/v1/", "http://h"),
  headers: fc.dictionary(fc.constantFrom("accept", "x-tenant", "user-agent"), fc.string({ maxLength: 10 })),
  tokenCredential: fc.string({ minLength: 1, maxLength: 8 }),
  timeout: fc.oneof(
    fc.integer({ min: 1, max: ConfigSchema.maxTimerMillis }),
    fc.integer({ min: 1, max: 600 }).map((n) => `${n} seconds`),
    fc.integer({ min: 1, max: 100_000 }).map(Duration.millis)
  ),
  healthPath: fc.constantFrom("/health", "/", "/v1/ready?deep=1"),
  maxConnections: fc.integer({ min: 1, max: 10_000 })
}, { requiredKeys: ["baseUrl"] })

interface Scenario {
  readonly config: Record<string, unknown>
  readonly faults: ReadonlyArray<Fault>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.tuple(validArb, fc.array(faultArb, { minLength: 1, maxLength: 4 })).map(
  ([valid, candidates]) => {
    const names = new Set<string>()
    const faults = candidates.filter((f) => {
      if (names.has(f.name)) return false
      names.add(f.name)
      return true
    })
    const config: Record<string, unknown> = { ...valid }
    for (const f of faults) {
      if (f.remove) delete config[f.name]
      else config[f.name] = f.value
    }
    return { config, faults }
  }
)

// -----------------------------------------------------------------------------
// checks
// -----------------------------------------------------------------------------

const Api = HttpResource.make("api")

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
    const exit = yield* Effect.exit(Layer.build(Api.layer(scenario.config as any)))
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
    for (const f of scenario.faults.filter((f) => f.suggests)) {
      const suggested = violations.find((v) => v.path === f.path)?.constraint.match(/did you mean `(\w+)`\?/)?.[1]
      assert.isDefined(suggested, `no suggestion for ${f.path}`)
      assert.include(known, suggested!)
      assert.isTrue(withinOneEdit(f.name, suggested!), suggested)
    }
    assert.deepStrictEqual(yield* Manager.list, [])
    for (const f of scenario.faults) coverage[f.category] = (coverage[f.category] ?? 0) + 1
    if (scenario.faults.length > 1) coverage.several = (coverage.several ?? 0) + 1
  }).pipe(
    Effect.scoped,
    Effect.provide(Manager.layer),
    Effect.provideService(References.MinimumLogLevel, "None")
  )

const checkValid = (config: Record<string, unknown>) =>
  Effect.gen(function*() {
    const decoded = yield* ConfigSchema.decode("api", HttpResource.Config, config, "config.")
    const encoded = yield* Schema.encodeEffect(HttpResource.Config)(decoded)
    assert.deepStrictEqual(yield* ConfigSchema.decode("api", HttpResource.Config, encoded, "config."), decoded)
  })

describe("HttpResource config properties (no server needed)", () => {
  it.effect(
    "a bad config fails with one InvalidConfig naming every fault, and registers nothing",
    () =>
      Effect.gen(function*() {
        yield* Effect.promise(() =>
          fc.assert(fc.asyncProperty(scenarioArb, (scenario) => Effect.runPromise(checkBad(scenario))), {
            numRuns: 1000
          })
        )
        console.log("HTTP config property coverage:", JSON.stringify(coverage))
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
            "missing",
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
