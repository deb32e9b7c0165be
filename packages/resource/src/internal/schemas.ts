import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** A duration as a `Duration`, a number of milliseconds or a string such as "5 seconds". @internal */
export const DurationInput = Schema.Union([Schema.Duration, Schema.DurationFromMillis, Schema.DurationFromString])

/** @internal */
export const positive = Schema.makeFilter<Duration.Duration>(
  (d) => Duration.isGreaterThan(d, Duration.zero) || "Expected a duration greater than 0"
)

/** @internal */
export const nonNegative = Schema.makeFilter<Duration.Duration>(
  (d) => Duration.isGreaterThanOrEqualTo(d, Duration.zero) || "Expected a duration of at least 0"
)

/** @internal */
export const withDefault = <S extends Schema.Top & { readonly "~type.make.in": unknown }>(
  schema: S,
  value: S["Type"]
) => schema.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(value)))

/** @internal */
export const duration = (defaultValue: Duration.Input, check = positive) =>
  withDefault(DurationInput.check(check), Duration.fromInputUnsafe(defaultValue))
