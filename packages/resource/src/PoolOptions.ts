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
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ConfigSchema from "./ConfigSchema.ts"
import type { InvalidConfig } from "./ResourceError.ts"

const duration = (defaultValue: Duration.Duration, options?: Parameters<typeof ConfigSchema.duration>[0]) =>
  ConfigSchema.duration(options).pipe(ConfigSchema.withDefault(defaultValue))

/**
 * The schema of pool options; decoding fills defaults. Counts are integers (`min` ≥ 0, `max` ≥ 1),
 * durations are finite, greater than 0 (`validateSkipWindow` may be 0) and at most
 * `ConfigSchema.maxTimerMillis`; `lifetimeJitter` is from 0 to 0.5. Rules: `min ≤ max` and
 * `createBackoff ≤ createBackoffMax`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const PoolOptions = Schema.Struct({
  min: ConfigSchema.int({ minimum: 0 }).pipe(ConfigSchema.withDefault(1)),
  max: ConfigSchema.int({ minimum: 1 }).pipe(ConfigSchema.withDefault(10)),
  acquireTimeout: duration(Duration.seconds(30)),
  createTimeout: duration(Duration.seconds(30)),
  validateTimeout: duration(Duration.seconds(5)),
  validateSkipWindow: duration(Duration.millis(500), { allowZero: true }),
  recycleTimeout: duration(Duration.seconds(5)),
  idleTimeout: duration(Duration.minutes(10)),
  maxLifetime: duration(Duration.minutes(30)),
  lifetimeJitter: ConfigSchema.between(0, 0.5).pipe(ConfigSchema.withDefault(0.025)),
  selection: Schema.Literals(["lifo", "fifo"]).pipe(ConfigSchema.withDefault("lifo")),
  createBackoff: duration(Duration.millis(50)),
  createBackoffMax: duration(Duration.seconds(5)),
  drainTimeout: duration(Duration.seconds(30)),
  cleanupTimeout: duration(Duration.seconds(10)),
  maxHoldDuration: Schema.optionalKey(ConfigSchema.duration())
}).check(
  ConfigSchema.rule(
    ["min", "max"],
    (o) => o.min <= o.max ? undefined : { path: ["min"], message: "Expected min to be at most max" }
  ),
  ConfigSchema.atMost("createBackoff", "createBackoffMax")
)

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
 * Validates pool options strictly (see `ConfigSchema.decode`); fails with `InvalidConfig` listing every
 * violation under `pool.`. A known field set to `undefined` takes its default.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decode = (key: string, input: unknown): Effect.Effect<PoolOptions, InvalidConfig> =>
  ConfigSchema.decode(key, PoolOptions, stripUndefined(input ?? {}), "pool.")

const stripUndefined = (input: unknown): unknown =>
  typeof input === "object" && input !== null && !Array.isArray(input)
    ? Object.fromEntries(
      Object.entries(input).filter(([name, value]) => value !== undefined || !Object.hasOwn(PoolOptions.fields, name))
    )
    : input
