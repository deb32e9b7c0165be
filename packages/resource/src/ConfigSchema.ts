/**
 * Strict configs: range-checked field schemas, cross-field rules, and the decoder every resource
 * layer runs on its config, pool options and health settings. The decoder rejects fields a schema
 * does not declare (naming the known field a misspelt one is closest to), and checks the rules
 * beside the field errors, so that one `InvalidConfig` lists every violation.
 *
 * **Example** (A config with a range and a rule)
 *
 * ```ts
 * import { ConfigSchema } from "@nebula/resource"
 * import { Duration, Schema } from "effect"
 *
 * const Config = Schema.Struct({
 *   timeout: ConfigSchema.duration().pipe(ConfigSchema.withDefault(Duration.seconds(5))),
 *   retries: ConfigSchema.int({ minimum: 0, maximum: 10 }),
 *   maxRetries: ConfigSchema.int({ minimum: 0, maximum: 10 })
 * }).check(ConfigSchema.atMost("retries", "maxRetries"))
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { formatPath, fromSchemaError, renderActual, unknownField, valueAt } from "./internal/violations.ts"
import { InvalidConfig, type Violation } from "./ResourceError.ts"

// -----------------------------------------------------------------------------
// fields
// -----------------------------------------------------------------------------

/**
 * The longest delay a Node.js timer accepts: 2^31 − 1 ms, about 24.8 days. Durations that arm a timer
 * are at most this long.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxTimerMillis = 2_147_483_647

const durationExpected = "a Duration, a number of milliseconds or a string such as \"5 seconds\""

const isDurationInput = (u: unknown): u is Duration.Duration | number | string =>
  Duration.isDuration(u) || typeof u === "number" || typeof u === "string"

/**
 * A duration as a config writes it: a `Duration`, a finite number of milliseconds or a string such as
 * `"5 seconds"`. `NaN` and infinite numbers are rejected here, before they could become a duration.
 *
 * @category schemas
 * @since 0.1.0
 */
export const DurationInput = Schema.declare(isDurationInput, { expected: durationExpected }).pipe(
  Schema.decodeTo(
    Schema.Duration,
    SchemaTransformation.transformEffect({
      decode: (input, options) =>
        Option.match(toDuration(input), {
          onNone: () =>
            Effect.fail(
              new SchemaIssue.InvalidValue(
                {
                  message: typeof input === "number"
                    ? "Expected a finite number of milliseconds"
                    : "Expected a duration string such as \"5 seconds\""
                },
                input,
                options
              )
            ),
          onSome: Effect.succeed
        }),
      encode: (duration) => Effect.succeed(duration)
    })
  )
)

const toDuration = (input: Duration.Duration | number | string): Option.Option<Duration.Duration> =>
  typeof input === "number"
    ? Number.isFinite(input) ? Option.some(Duration.millis(input)) : Option.none()
    : typeof input === "string"
    ? Duration.fromInput(input as Duration.Input)
    : Option.some(input)

/**
 * A finite duration in a range: greater than 0 by default (`allowZero` admits 0), at most
 * `maxTimerMillis` by default; `wholeMillis` also requires a whole number of milliseconds.
 *
 * @category schemas
 * @since 0.1.0
 */
export const duration = (options?: {
  readonly allowZero?: boolean | undefined
  readonly maximumMillis?: number | undefined
  readonly wholeMillis?: boolean | undefined
}) => {
  const allowZero = options?.allowZero ?? false
  const maximum = options?.maximumMillis ?? maxTimerMillis
  const whole = options?.wholeMillis ?? false
  const range = allowZero ? `from 0 to ${maximum}` : `greater than 0 and at most ${maximum}`
  const message = whole ? `Expected a whole number of milliseconds ${range}` : `Expected a duration ${range} ms`
  return DurationInput.check(Schema.makeFilter((d: Duration.Duration) => {
    if (!Duration.isFinite(d)) return message
    const ms = Duration.toMillis(d)
    return (allowZero ? ms >= 0 : ms > 0) && ms <= maximum && (!whole || Number.isInteger(ms)) || message
  }))
}

/**
 * An integer (never `NaN` or infinite) from `minimum` to `maximum` (default `Number.MAX_SAFE_INTEGER`).
 *
 * @category schemas
 * @since 0.1.0
 */
export const int = (options: { readonly minimum: number; readonly maximum?: number | undefined }) => {
  const maximum = options.maximum ?? Number.MAX_SAFE_INTEGER
  const message = maximum === Number.MAX_SAFE_INTEGER
    ? `Expected an integer of at least ${options.minimum}`
    : `Expected an integer from ${options.minimum} to ${maximum}`
  return Schema.Number.check(
    Schema.makeFilter((n: number) => Number.isSafeInteger(n) && n >= options.minimum && n <= maximum || message)
  )
}

/**
 * A finite number from `minimum` to `maximum`, such as a fraction.
 *
 * @category schemas
 * @since 0.1.0
 */
export const between = (minimum: number, maximum: number) =>
  Schema.Number.check(
    Schema.makeFilter((n: number) => n >= minimum && n <= maximum || `Expected a number from ${minimum} to ${maximum}`)
  )

/**
 * A default used when the key is absent.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withDefault: {
  <S extends Defaultable>(value: S["Type"]): (schema: S) => Schema.withDecodingDefaultTypeKey<S>
  <S extends Defaultable>(schema: S, value: S["Type"]): Schema.withDecodingDefaultTypeKey<S>
} = dual(
  2,
  <S extends Defaultable>(schema: S, value: S["Type"]) =>
    schema.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(value)))
)

type Defaultable = Schema.Top & { readonly "~type.make.in": unknown }

// -----------------------------------------------------------------------------
// rules
// -----------------------------------------------------------------------------

const RuleId = "~@nebula/resource/ConfigSchema/Rule"

/**
 * A broken rule: where it is reported (relative to the struct) and what it expects.
 *
 * @category models
 * @since 0.1.0
 */
export interface RuleIssue {
  readonly path: ReadonlyArray<string>
  readonly message: string
}

/**
 * A cross-field rule of a struct: the top-level fields it reads, and a check of them.
 *
 * @category models
 * @since 0.1.0
 */
export interface Rule<A> {
  readonly fields: ReadonlyArray<keyof A & string>
  readonly check: (value: A) => RuleIssue | undefined
}

/**
 * A cross-field rule as a struct check. Plain Schema decoding runs it once every field is valid;
 * `decode` also runs it when other fields are invalid, as long as the fields it reads are valid.
 *
 * @category rules
 * @since 0.1.0
 */
export const rule = <A>(
  fields: ReadonlyArray<keyof A & string>,
  check: (value: A) => RuleIssue | undefined
): SchemaAST.Filter<A> =>
  Schema.makeFilter<A>(
    (value) => {
      const issue = check(value)
      return issue === undefined || { path: issue.path, issue: issue.message }
    },
    { [RuleId]: { fields, check } satisfies Rule<A> }
  )

/**
 * The rule `lower ≤ upper` between two numbers or two durations, reported at `lower`; it holds while
 * either is absent.
 *
 * @category rules
 * @since 0.1.0
 */
export const atMost = <A>(lower: keyof A & string, upper: keyof A & string): SchemaAST.Filter<A> =>
  rule<A>(
    [lower, upper],
    (value) =>
      isAtMost(value[lower], value[upper])
        ? undefined
        : { path: [lower], message: `Expected ${lower} to be at most ${upper}` }
  )

const isAtMost = (a: unknown, b: unknown): boolean =>
  Duration.isDuration(a) && Duration.isDuration(b)
    ? Duration.isLessThanOrEqualTo(a, b)
    : typeof a === "number" && typeof b === "number"
    ? a <= b
    : true

// -----------------------------------------------------------------------------
// decoding
// -----------------------------------------------------------------------------

/**
 * The parse options of a strict decode: every issue, and unknown fields are errors.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseOptions: SchemaAST.ParseOptions = { errors: "all", onExcessProperty: "error" }

/**
 * Decodes a config strictly; fails with one `InvalidConfig` listing every violation, each path after
 * `prefix` (such as `"config."`):
 *
 * - every field error, with the actual value (secret-looking fields redacted);
 * - every unknown field, at any depth (also beside a struct without fields), with a suggestion when a
 *   known field is a small edit away;
 * - every broken top-level `rule` whose fields are valid, even when other fields are not.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = <A, I>(
  key: string,
  schema: Schema.Codec<A, I>,
  input: unknown,
  prefix: string
): Effect.Effect<A, InvalidConfig> =>
  Schema.decodeUnknownEffect(schema)(input, parseOptions).pipe(
    Effect.catch((error) =>
      Effect.flatMap(ruleViolations(schema.ast, input, prefix), (rules) => {
        const fields = fromSchemaError(error, input, prefix)
        const reported = new Set(fields.map((v) => `${v.path}\n${v.constraint}`))
        const violations = [...fields, ...rules.filter((v) => !reported.has(`${v.path}\n${v.constraint}`))]
        return Effect.fail(new InvalidConfig({ key, violations }))
      })
    ),
    Effect.flatMap((value) => {
      const unknown = fieldsBesideEmptyStruct(schema.ast, input, prefix)
      return unknown.length === 0 ? Effect.succeed(value) : Effect.fail(new InvalidConfig({ key, violations: unknown }))
    })
  )

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const rulesOf = (ast: SchemaAST.AST): Array<Rule<Record<string, unknown>>> =>
  (ast.checks ?? []).flatMap((check) => {
    const found = check.annotations?.[RuleId]
    return found === undefined ? [] : [found as Rule<Record<string, unknown>>]
  })

const ruleViolations = (
  ast: SchemaAST.AST,
  input: unknown,
  prefix: string
): Effect.Effect<Array<Violation>> => {
  const rules = rulesOf(ast)
  if (rules.length === 0 || !SchemaAST.isObjects(ast) || !isRecord(input)) return Effect.succeed([])
  const read = new Set<PropertyKey>(rules.flatMap((r) => r.fields))
  return Effect.forEach(
    ast.propertySignatures.filter((ps) => read.has(ps.name)),
    (ps) =>
      Schema.decodeUnknownEffect(
        Schema.make<Schema.Codec<Record<PropertyKey, unknown>>>(new SchemaAST.Objects([ps], []))
      )(
        Object.hasOwn(input, ps.name) ? { [ps.name]: input[ps.name as string] } : {}
      ).pipe(Effect.option, Effect.map((decoded) => [ps.name, decoded] as const))
  ).pipe(Effect.map((decoded) => {
    const values: Record<string, unknown> = {}
    const valid = new Set<PropertyKey>()
    for (const [name, result] of decoded) {
      if (Option.isNone(result)) continue
      valid.add(name)
      values[name as string] = result.value[name]
    }
    return rules.flatMap((r) => {
      const issue = r.fields.every((field) => valid.has(field)) ? r.check(values) : undefined
      return issue === undefined ? [] : [{
        path: formatPath(prefix, issue.path),
        constraint: issue.message,
        actual: renderActual(issue.path, valueAt(input, issue.path))
      }]
    })
  }))
}

const fieldsBesideEmptyStruct = (ast: SchemaAST.AST, input: unknown, prefix: string): Array<Violation> =>
  SchemaAST.isObjects(ast) && ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0 &&
    isRecord(input)
    ? Object.keys(input).map((name) => unknownField([name], [], input[name], prefix))
    : []
