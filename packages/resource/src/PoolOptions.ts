/**
 * Pool options of a resource, validated by Schema when its layer is built. Every field is optional
 * on input; defaults follow the project's decisions (max 10, min 1, acquire timeout 30 s, create
 * timeout 30 s, validation and recycle timeouts 5 s, skip validation when idle < 500 ms, idle timeout 10 min,
 * max lifetime 30 min with up to 2.5 % jitter, LIFO selection).
 *
 * Durations accept a `Duration`, a number of milliseconds or a string such as `"5 seconds"`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { duration, DurationInput, nonNegative, positive, withDefault } from "./internal/schemas.ts"
import { fromSchemaError } from "./internal/violations.ts"
import { InvalidConfig } from "./ResourceError.ts"

/**
 * The schema of pool options; decoding fills defaults.
 *
 * @category schemas
 * @since 0.1.0
 */
export const PoolOptions = Schema.Struct({
  min: withDefault(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), 1),
  max: withDefault(Schema.Int.check(Schema.isGreaterThan(0)), 10),
  acquireTimeout: duration("30 seconds"),
  createTimeout: duration("30 seconds"),
  validateTimeout: duration("5 seconds"),
  validateSkipWindow: duration("500 millis", nonNegative),
  recycleTimeout: duration("5 seconds"),
  idleTimeout: duration("10 minutes"),
  maxLifetime: duration("30 minutes"),
  lifetimeJitter: withDefault(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 0.5 })), 0.025),
  selection: withDefault(Schema.Literals(["lifo", "fifo"]), "lifo"),
  createBackoff: duration("50 millis"),
  createBackoffMax: duration("5 seconds"),
  drainTimeout: duration("30 seconds"),
  cleanupTimeout: duration("10 seconds"),
  maxHoldDuration: Schema.optionalKey(DurationInput.check(positive))
}).check(Schema.makeFilter((o) => o.min <= o.max || { path: ["min"], issue: "Expected min to be at most max" }))

/**
 * Decoded pool options.
 *
 * @category models
 * @since 0.1.0
 */
export type PoolOptions = typeof PoolOptions.Type

/**
 * Pool options as a driver or user writes them: every field optional.
 *
 * @category models
 * @since 0.1.0
 */
export type Input = {
  readonly min?: number | undefined
  readonly max?: number | undefined
  readonly acquireTimeout?: Duration.Input | undefined
  readonly createTimeout?: Duration.Input | undefined
  readonly validateTimeout?: Duration.Input | undefined
  readonly validateSkipWindow?: Duration.Input | undefined
  readonly recycleTimeout?: Duration.Input | undefined
  readonly idleTimeout?: Duration.Input | undefined
  readonly maxLifetime?: Duration.Input | undefined
  readonly lifetimeJitter?: number | undefined
  readonly selection?: "lifo" | "fifo" | undefined
  readonly createBackoff?: Duration.Input | undefined
  readonly createBackoffMax?: Duration.Input | undefined
  readonly drainTimeout?: Duration.Input | undefined
  readonly cleanupTimeout?: Duration.Input | undefined
  /** Leases held longer are reported (event, metric, warning); never force-released. No limit by default. */
  readonly maxHoldDuration?: Duration.Input | undefined
}

/**
 * Validates pool options; fails with `InvalidConfig` listing every violation under `pool.`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decode = (key: string, input: unknown): Effect.Effect<PoolOptions, InvalidConfig> =>
  Schema.decodeUnknownEffect(PoolOptions)(stripUndefined(input ?? {}), { errors: "all" }).pipe(
    Effect.mapError((error) => new InvalidConfig({ key, violations: fromSchemaError(error, input, "pool.") }))
  )

const stripUndefined = (input: unknown): unknown =>
  typeof input === "object" && input !== null && !Array.isArray(input)
    ? Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined))
    : input
