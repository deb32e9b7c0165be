/**
 * Randomized tests of strict config validation (issue #12).
 *
 * Each run starts from a valid user config, pool options and health settings, applies one to five
 * faults on distinct fields (wrong types, NaN, ±Infinity, negatives, huge numbers, zero where a
 * duration must be positive, fractions, out-of-range values, unknown and misspelt fields, missing
 * required fields, broken cross-field rules, an unknown layer option), builds the layer and checks:
 *
 * 1. the layer fails with one typed `InvalidConfig` (a `Fail`, never a defect);
 * 2. its violations name exactly the paths of the faults; a misspelt field suggests a known field
 *    within one edit of it;
 * 3. nothing is registered, and the key registers afterwards.
 *
 * A second property builds valid configs: the layer registers, and each part decodes and round-trips
 * through its encoding.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, References, Schema } from "effect"
import * as fc from "fast-check"
import * as ConfigSchema from "../src/ConfigSchema.ts"
import * as Health from "../src/Health.ts"
import * as Manager from "../src/Manager.ts"
import * as PoolOptions from "../src/PoolOptions.ts"
import * as Resource from "../src/Resource.ts"
import { InvalidConfig } from "../src/ResourceError.ts"

// -----------------------------------------------------------------------------
// the model: fields, their valid and bad values
// -----------------------------------------------------------------------------

type Kind =
  | { readonly _tag: "duration"; readonly allowZero?: boolean }
  | { readonly _tag: "int"; readonly minimum: number; readonly maximum?: number }
  | { readonly _tag: "number"; readonly minimum: number; readonly maximum: number }
  | { readonly _tag: "literal"; readonly values: ReadonlyArray<string> }
  | { readonly _tag: "string" }
  | { readonly _tag: "boolean" }

interface Field {
  readonly name: string
  readonly kind: Kind
  readonly required?: boolean
}

/** A rule `lower ≤ upper`, reported at `lower`. */
interface Pair {
  readonly lower: string
  readonly upper: string
  readonly valid: fc.Arbitrary<readonly [number, number]>
  readonly broken: fc.Arbitrary<readonly [number, number]>
}

type Section = "config" | "pool" | "health"

interface SectionSpec {
  readonly section: Section
  readonly fields: ReadonlyArray<Field>
  readonly pairs: ReadonlyArray<Pair>
}

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
  | "crossField"
  | "unknownOption"

const duration = (name: string, allowZero = false): Field => ({ name, kind: { _tag: "duration", allowZero } })

const UserConfig = Schema.Struct({
  host: Schema.NonEmptyString,
  port: ConfigSchema.int({ minimum: 1, maximum: 65_535 }),
  timeout: Schema.optionalKey(ConfigSchema.duration()),
  retries: ConfigSchema.int({ minimum: 0, maximum: 10 }).pipe(ConfigSchema.withDefault(3)),
  maxRetries: ConfigSchema.int({ minimum: 0, maximum: 10 }).pipe(ConfigSchema.withDefault(5))
}).check(ConfigSchema.atMost("retries", "maxRetries"))

const durationPair = (lower: string, upper: string): Pair => ({
  lower,
  upper,
  valid: fc.integer({ min: 1, max: 1_000_000 }).chain((u) => fc.tuple(fc.integer({ min: 1, max: u }), fc.constant(u))),
  broken: fc.integer({ min: 1, max: 1_000_000 }).chain((u) =>
    fc.tuple(fc.integer({ min: u + 1, max: ConfigSchema.maxTimerMillis }), fc.constant(u))
  )
})

const specs: ReadonlyArray<SectionSpec> = [
  {
    section: "config",
    fields: [
      { name: "host", kind: { _tag: "string" }, required: true },
      { name: "port", kind: { _tag: "int", minimum: 1, maximum: 65_535 }, required: true },
      duration("timeout"),
      { name: "retries", kind: { _tag: "int", minimum: 0, maximum: 10 } },
      { name: "maxRetries", kind: { _tag: "int", minimum: 0, maximum: 10 } }
    ],
    pairs: [{
      lower: "retries",
      upper: "maxRetries",
      valid: fc.integer({ min: 0, max: 10 }).chain((u) => fc.tuple(fc.integer({ min: 0, max: u }), fc.constant(u))),
      broken: fc.integer({ min: 0, max: 9 }).chain((u) => fc.tuple(fc.integer({ min: u + 1, max: 10 }), fc.constant(u)))
    }]
  },
  {
    section: "pool",
    fields: [
      { name: "min", kind: { _tag: "int", minimum: 0 } },
      { name: "max", kind: { _tag: "int", minimum: 1 } },
      duration("acquireTimeout"),
      duration("createTimeout"),
      duration("validateTimeout"),
      duration("validateSkipWindow", true),
      duration("recycleTimeout"),
      duration("idleTimeout"),
      duration("maxLifetime"),
      { name: "lifetimeJitter", kind: { _tag: "number", minimum: 0, maximum: 0.5 } },
      { name: "selection", kind: { _tag: "literal", values: ["lifo", "fifo"] } },
      duration("createBackoff"),
      duration("createBackoffMax"),
      duration("drainTimeout"),
      duration("cleanupTimeout"),
      duration("maxHoldDuration")
    ],
    pairs: [
      {
        lower: "min",
        upper: "max",
        valid: fc.integer({ min: 1, max: 3 }).chain((u) => fc.tuple(fc.integer({ min: 0, max: u }), fc.constant(u))),
        broken: fc.integer({ min: 1, max: 50 }).chain((u) =>
          fc.tuple(fc.integer({ min: u + 1, max: u + 50 }), fc.constant(u))
        )
      },
      durationPair("createBackoff", "createBackoffMax")
    ]
  },
  {
    section: "health",
    fields: [
      duration("interval"),
      duration("timeout"),
      { name: "failureThreshold", kind: { _tag: "int", minimum: 1 } },
      duration("recoveryBaseDelay"),
      duration("recoveryMaxDelay"),
      { name: "recoveryAttempts", kind: { _tag: "int", minimum: 1 } },
      { name: "recoveryJitter", kind: { _tag: "number", minimum: 0, maximum: 1 } },
      { name: "cascadeDepth", kind: { _tag: "int", minimum: 0 } },
      { name: "maxEvictionFraction", kind: { _tag: "number", minimum: 0, maximum: 1 } },
      { name: "critical", kind: { _tag: "boolean" } }
    ],
    pairs: [durationPair("recoveryBaseDelay", "recoveryMaxDelay")]
  }
]

const validValue = (kind: Kind): fc.Arbitrary<unknown> => {
  switch (kind._tag) {
    case "duration":
      return fc.oneof(
        fc.integer({ min: kind.allowZero ? 0 : 1, max: ConfigSchema.maxTimerMillis }),
        fc.double({ min: 0.001, max: 1e9, noNaN: true }),
        fc.integer({ min: 1, max: 86_400 }).map((n) => `${n} seconds`),
        fc.integer({ min: 1, max: 1_000_000 }).map(Duration.millis)
      )
    case "int":
      return fc.integer({ min: kind.minimum, max: kind.maximum ?? kind.minimum + 1000 })
    case "number":
      return fc.double({ min: kind.minimum, max: kind.maximum, noNaN: true })
    case "literal":
      return fc.constantFrom(...kind.values)
    case "string":
      return fc.string({ minLength: 1, maxLength: 12 })
    case "boolean":
      return fc.boolean()
  }
}

const badValues = (kind: Kind): ReadonlyArray<readonly [Category, fc.Arbitrary<unknown>]> => {
  switch (kind._tag) {
    case "duration":
      return [
        ["wrongType", fc.constantFrom<unknown>(true, null, {}, [], "soon", "5 parsecs", 5n)],
        ["nan", fc.constant(Number.NaN)],
        ["infinite", fc.constantFrom<unknown>(Infinity, -Infinity, "Infinity", "-Infinity", Duration.infinity)],
        [
          "negative",
          fc.oneof(
            fc.integer({ min: -1e9, max: -1 }),
            fc.double({ min: -1e9, max: -0.001, noNaN: true }),
            fc.constantFrom<unknown>("-5 seconds", Duration.millis(-1))
          )
        ],
        [
          "huge",
          fc.oneof(
            fc.integer({ min: ConfigSchema.maxTimerMillis + 1, max: Number.MAX_SAFE_INTEGER }),
            fc.constantFrom<unknown>(1e300, Number.MAX_VALUE, "30 days", Duration.days(365))
          )
        ],
        ...(kind.allowZero ? [] : [["zero", fc.constantFrom<unknown>(0, -0, "0 millis", Duration.zero)] as const])
      ]
    case "int":
      return [
        ["wrongType", fc.constantFrom<unknown>("5", true, null, [], {})],
        ["nan", fc.constant(Number.NaN)],
        ["infinite", fc.constantFrom(Infinity, -Infinity)],
        ["negative", fc.integer({ min: -1_000_000, max: -1 })],
        [
          "huge",
          kind.maximum === undefined
            ? fc.constantFrom(2 ** 53, 1e300, Number.MAX_VALUE)
            : fc.integer({ min: kind.maximum + 1, max: kind.maximum + 1_000_000 })
        ],
        [
          "fractional",
          fc.integer({ min: kind.minimum, max: (kind.maximum ?? kind.minimum + 101) - 1 }).map((n) => n + 0.5)
        ],
        ...(kind.minimum > 0 ? [["outOfRange", fc.integer({ min: 0, max: kind.minimum - 1 })] as const] : [])
      ]
    case "number":
      return [
        ["wrongType", fc.constantFrom<unknown>("0.1", true, null, {})],
        ["nan", fc.constant(Number.NaN)],
        ["infinite", fc.constantFrom(Infinity, -Infinity)],
        ["negative", fc.double({ min: -1e6, max: -1e-6, noNaN: true })],
        ["huge", fc.double({ min: kind.maximum + 1e-6, max: 1e300, noNaN: true })]
      ]
    case "literal":
      return [
        ["wrongType", fc.constantFrom<unknown>(1, true, null)],
        ["outOfRange", fc.string({ maxLength: 8 }).filter((s) => !kind.values.includes(s))]
      ]
    case "string":
      return [["wrongType", fc.constantFrom<unknown>(5, true, null, {})], ["outOfRange", fc.constant("")]]
    case "boolean":
      return [["wrongType", fc.constantFrom<unknown>("true", 1, null)]]
  }
}

// -----------------------------------------------------------------------------
// faults
// -----------------------------------------------------------------------------

interface Fault {
  readonly category: Category
  readonly section: Section | "options"
  /** The keys of its section the fault writes; faults of a run never share one. */
  readonly claims: ReadonlyArray<string>
  readonly set: Readonly<Record<string, unknown>>
  readonly remove: ReadonlyArray<string>
  readonly path: string
  /** For a misspelt field: the fields of its section, one of which must be suggested. */
  readonly known?: ReadonlyArray<string>
}

const letters = "abcdefghijklmnopqrstuvwxyz"

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

type Weighted = { readonly arbitrary: fc.Arbitrary<Fault>; readonly weight: number }

const faultsOf = (spec: SectionSpec): ReadonlyArray<Weighted> => {
  const prefix = `${spec.section}.`
  const known = spec.fields.map((f) => f.name)
  const base = { section: spec.section, remove: [] as ReadonlyArray<string> }
  const valueFaults = spec.fields.flatMap((field) =>
    badValues(field.kind).map(([category, values]) =>
      values.map((value): Fault => ({
        ...base,
        category,
        claims: [field.name],
        set: { [field.name]: value },
        path: prefix + field.name
      }))
    )
  )
  const unknown = fc.tuple(fc.string({ unit: fc.constantFrom(...letters), minLength: 1, maxLength: 8 }), fc.anything())
    .map(([suffix, value]): Fault => ({
      ...base,
      category: "unknown",
      claims: [`zz${suffix}`],
      set: { [`zz${suffix}`]: value },
      path: `${prefix}zz${suffix}`
    }))
  const misspelt = fc.tuple(
    fc.constantFrom(...spec.fields.filter((f) => f.name.length >= 4)),
    fc.nat(5),
    fc.nat(),
    fc.constantFrom(...letters)
  ).chain(([field, op, at, letter]) => {
    const name = misspell(field.name, op, at, letter)
    return validValue(field.kind).map((value): Fault | undefined =>
      known.includes(name) ? undefined : {
        ...base,
        category: "misspelt",
        claims: [name],
        set: { [name]: value },
        path: prefix + name,
        known
      }
    )
  }).filter((fault): fault is Fault => fault !== undefined)
  const missing = spec.fields.filter((f) => f.required).map((field) =>
    fc.constant<Fault>({
      ...base,
      category: "missing",
      claims: [field.name],
      set: {},
      remove: [field.name],
      path: prefix + field.name
    })
  )
  const broken = spec.pairs.map((pair) =>
    pair.broken.map(([lower, upper]): Fault => ({
      ...base,
      category: "crossField",
      claims: [pair.lower, pair.upper],
      set: { [pair.lower]: lower, [pair.upper]: upper },
      path: prefix + pair.lower
    }))
  )
  return [
    ...valueFaults.map((arbitrary) => ({ arbitrary, weight: 1 })),
    { arbitrary: unknown, weight: 4 },
    { arbitrary: misspelt, weight: 4 },
    ...missing.map((arbitrary) => ({ arbitrary, weight: 3 })),
    ...broken.map((arbitrary) => ({ arbitrary, weight: 4 }))
  ]
}

const unknownOption = fc.string({ unit: fc.constantFrom(...letters), minLength: 1, maxLength: 8 }).map((
  suffix
): Fault => ({
  category: "unknownOption",
  section: "options",
  claims: [`zz${suffix}`],
  set: { [`zz${suffix}`]: true },
  remove: [],
  path: `zz${suffix}`
}))

const faultArb: fc.Arbitrary<Fault> = fc.oneof(...specs.flatMap(faultsOf), { arbitrary: unknownOption, weight: 3 })

// -----------------------------------------------------------------------------
// configs
// -----------------------------------------------------------------------------

type Sections = Readonly<Record<Section | "options", Record<string, unknown>>>

const sectionArb = (spec: SectionSpec): fc.Arbitrary<Record<string, unknown>> => {
  const paired = new Set(spec.pairs.flatMap((p) => [p.lower, p.upper]))
  const fields = spec.fields.filter((f) => !paired.has(f.name))
  return fc.tuple(
    fc.tuple(...fields.map((f) => f.required ? validValue(f.kind) : fc.option(validValue(f.kind), { nil: undefined }))),
    fc.tuple(...spec.pairs.map((p) => fc.option(p.valid, { nil: undefined })))
  ).map(([values, pairs]) => {
    const out: Record<string, unknown> = {}
    fields.forEach((f, i) => {
      if (values[i] !== undefined) out[f.name] = values[i]
    })
    spec.pairs.forEach((p, i) => {
      const pair = pairs[i]
      if (pair !== undefined) {
        out[p.lower] = pair[0]
        out[p.upper] = pair[1]
      }
    })
    return out
  })
}

const validArb: fc.Arbitrary<Sections> = fc.tuple(...specs.map(sectionArb)).map(([config, pool, health]) => ({
  config: config!,
  pool: pool!,
  health: health!,
  options: {}
}))

interface Scenario {
  readonly sections: Sections
  readonly faults: ReadonlyArray<Fault>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.tuple(validArb, fc.array(faultArb, { minLength: 1, maxLength: 5 }))
  .map(([valid, candidates]) => {
    const faults: Array<Fault> = []
    const claimed = new Set<string>()
    for (const fault of candidates) {
      const keys = fault.claims.map((c) => `${fault.section}.${c}`)
      if (keys.some((k) => claimed.has(k))) continue
      keys.forEach((k) => claimed.add(k))
      faults.push(fault)
    }
    const sections = {
      config: { ...valid.config },
      pool: { ...valid.pool },
      health: { ...valid.health },
      options: {}
    }
    for (const fault of faults) {
      const target: Record<string, unknown> = sections[fault.section]
      for (const name of fault.remove) delete target[name]
      Object.assign(target, fault.set)
    }
    return { sections, faults }
  })

// -----------------------------------------------------------------------------
// checks
// -----------------------------------------------------------------------------

const KEY = "config-under-test"

const resourceWith = (health: Record<string, unknown>) =>
  Resource.make({
    key: KEY,
    config: UserConfig,
    health: health as Health.Options<{}>,
    create: () => Effect.succeed({})
  })

const layerOf = (sections: Sections) =>
  resourceWith(sections.health).layer(sections.config as any, { pool: sections.pool, ...sections.options })

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
    const exit = yield* Effect.exit(Layer.build(layerOf(scenario.sections)))
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
    for (const fault of scenario.faults) {
      if (fault.known === undefined) continue
      const suggested = violations.find((v) => v.path === fault.path)?.constraint.match(/did you mean `(\w+)`\?/)?.[1]
      assert.isDefined(suggested, `no suggestion for ${fault.path}`)
      assert.include(fault.known, suggested!)
      assert.isTrue(withinOneEdit(fault.path.slice(fault.path.indexOf(".") + 1), suggested!), suggested)
    }
    assert.deepStrictEqual(yield* Manager.list, [])
    yield* Layer.build(resourceWith({}).layer({ host: "h", port: 1 }, { pool: { min: 0, max: 1 } }))
    assert.deepStrictEqual((yield* Manager.list).map((r) => r.key), [KEY])
    for (const fault of scenario.faults) coverage[fault.category] = (coverage[fault.category] ?? 0) + 1
    if (scenario.faults.length > 1) coverage.several = (coverage.several ?? 0) + 1
  }).pipe(
    Effect.scoped,
    Effect.provide(Manager.layer),
    Effect.provideService(References.MinimumLogLevel, "None")
  )

const roundTrips = <A, I>(schema: Schema.Codec<A, I>, decoded: A) =>
  Effect.gen(function*() {
    const encoded = yield* Schema.encodeEffect(schema)(decoded)
    assert.deepStrictEqual(yield* ConfigSchema.decode("round-trip", schema, encoded, ""), decoded)
  })

const checkValid = (sections: Sections) =>
  Effect.gen(function*() {
    yield* Layer.build(layerOf(sections))
    assert.deepStrictEqual((yield* Manager.list).map((r) => r.key), [KEY])
    yield* roundTrips(UserConfig, yield* ConfigSchema.decode(KEY, UserConfig, sections.config, "config."))
    yield* roundTrips(PoolOptions.PoolOptions, yield* PoolOptions.decode(KEY, sections.pool))
    yield* roundTrips(Health.Settings, yield* Health.decodeSettings(KEY, sections.health))
  }).pipe(
    Effect.scoped,
    Effect.provide(Manager.layer),
    Effect.provideService(References.MinimumLogLevel, "None")
  )

describe("Config properties", () => {
  it.effect(
    "a bad config fails with one InvalidConfig naming every fault, and registers nothing",
    () =>
      Effect.gen(function*() {
        yield* Effect.promise(() =>
          fc.assert(fc.asyncProperty(scenarioArb, (scenario) => Effect.runPromise(checkBad(scenario))), {
            numRuns: 1000
          })
        )
        console.log("Config property coverage:", JSON.stringify(coverage))
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
            "crossField",
            "unknownOption",
            "several"
          ]
        ) {
          assert.isAbove(coverage[category] ?? 0, 0, `no ${category} fault`)
        }
      }),
    120_000
  )

  it.effect(
    "a valid config registers, and each part decodes and round-trips",
    () =>
      Effect.promise(() =>
        fc.assert(fc.asyncProperty(validArb, (sections) => Effect.runPromise(checkValid(sections))), { numRuns: 1000 })
      ),
    120_000
  )
})
