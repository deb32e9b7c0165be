/**
 * Health of a resource: a status (Healthy, Degraded, Unhealthy, Unknown), the checks a driver
 * declares to compute it, and the stages those checks are composed of. The Manager runs a resource's
 * check on a `Schedule` in a fiber bound to the resource's scope, probes its idle instances, evicts
 * the ones that fail, and quarantines the resource after consecutive failures.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ConfigSchema from "./ConfigSchema.ts"
import type { InvalidConfig } from "./ResourceError.ts"

/**
 * A health status.
 *
 * - `Healthy`: serve.
 * - `Degraded`: serve and warn; `impact` in [0, 1] says how much worse it is.
 * - `Unhealthy`: stop serving; `recoverable` says whether recovery is attempted.
 * - `Unknown`: never checked yet; does not block acquire.
 *
 * @category models
 * @since 0.1.0
 */
export type Status = Data.TaggedEnum<{
  Healthy: {}
  Degraded: { readonly reason: string; readonly impact: number }
  Unhealthy: { readonly reason: string; readonly recoverable: boolean }
  Unknown: {}
}>

const Status = Data.taggedEnum<Status>()

/**
 * @category constructors
 * @since 0.1.0
 */
export const healthy: Status = Status.Healthy()

/**
 * @category constructors
 * @since 0.1.0
 */
export const unknown: Status = Status.Unknown()

/**
 * A degraded status; the impact is clamped to [0, 1].
 *
 * @category constructors
 * @since 0.1.0
 */
export const degraded = (reason: string, impact: number): Status =>
  Status.Degraded({ reason, impact: Math.min(1, Math.max(0, Number.isFinite(impact) ? impact : 1)) })

/**
 * An unhealthy status, recoverable unless said otherwise.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unhealthy = (reason: string, options?: { readonly recoverable?: boolean | undefined }): Status =>
  Status.Unhealthy({ reason, recoverable: options?.recoverable ?? true })

/**
 * A score in [0, 1]: Healthy 1, Degraded 1 − impact, Unknown 0.5, Unhealthy 0.
 *
 * @category getters
 * @since 0.1.0
 */
export const score = (self: Status): number => {
  switch (self._tag) {
    case "Healthy":
      return 1
    case "Degraded":
      return 1 - self.impact
    case "Unknown":
      return 0.5
    case "Unhealthy":
      return 0
  }
}

/**
 * A short human-readable form: `Healthy`, `Degraded(reason, impact)`, `Unhealthy(reason)`, `Unknown`.
 *
 * @category getters
 * @since 0.1.0
 */
export const format = (self: Status): string => {
  switch (self._tag) {
    case "Degraded":
      return `Degraded(${self.reason}, ${self.impact.toFixed(2)})`
    case "Unhealthy":
      return `Unhealthy(${self.reason}${self.recoverable ? "" : ", not recoverable"})`
    default:
      return self._tag
  }
}

/**
 * Whether two statuses are the same state (tag, reason and impact).
 *
 * @category predicates
 * @since 0.1.0
 */
export const equals = (a: Status, b: Status): boolean => format(a) === format(b)

/**
 * A quarantine as the operator sees it.
 *
 * @category models
 * @since 0.1.0
 */
export interface QuarantineView {
  readonly reason: string
  readonly since: number
  readonly attempts: number
  /** When the next recovery probe runs; undefined once permanently failed. */
  readonly nextProbeAt: number | undefined
  readonly permanent: boolean
  readonly manual: boolean
}

/**
 * A dependency whose failure degrades a resource, and how far away it is in the dependency graph.
 *
 * @category models
 * @since 0.1.0
 */
export interface DegradationCause {
  readonly dependency: string
  readonly depth: number
}

/**
 * One step of a health check, run against an instance.
 *
 * @category models
 * @since 0.1.0
 */
export type Stage<I> = (instance: I) => Effect.Effect<Status, unknown>

/**
 * Runs stages in order: the first `Unhealthy` result stops the pipeline, otherwise the lowest score
 * wins. A stage that fails counts as `Unhealthy` with its error. An empty pipeline is `Healthy`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const pipeline = <I>(stages: ReadonlyArray<Stage<I>>): Stage<I> => (instance) =>
  Effect.gen(function*() {
    let worst: Status = healthy
    for (const stage of stages) {
      const status = yield* stage(instance).pipe(
        Effect.catchCause(() => Effect.succeed(unhealthy("health stage failed")))
      )
      if (status._tag === "Unhealthy") return status
      if (score(status) < score(worst)) worst = status
    }
    return worst
  })

/**
 * A connectivity stage: `Healthy` when the probe succeeds (and does not answer `false`),
 * `Unhealthy("connectivity check failed")` otherwise.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectivity = <I>(probe: (instance: I) => Effect.Effect<unknown, unknown>): Stage<I> => (instance) =>
  probe(instance).pipe(
    Effect.map((result) => result === false ? unhealthy("connectivity check failed") : healthy),
    Effect.catchCause(() => Effect.succeed(unhealthy("connectivity check failed")))
  )

/**
 * A latency stage: times the probe with the `Clock`; at or above `fail` it is `Unhealthy`, at or above
 * `warn` `Degraded` with impact (latency − warn) / (fail − warn), otherwise `Healthy`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const latency = <I>(
  thresholds: { readonly warn: Duration.Input; readonly fail: Duration.Input },
  probe: (instance: I) => Effect.Effect<unknown, unknown>
): Stage<I> => {
  const warn = toMillis(thresholds.warn)
  const fail = toMillis(thresholds.fail)
  return (instance) =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      yield* probe(instance)
      const elapsed = (yield* Clock.currentTimeMillis) - start
      if (elapsed >= fail) return unhealthy(`latency ${elapsed} ms at or above ${fail} ms`)
      if (elapsed >= warn) {
        return degraded(`latency ${elapsed} ms at or above ${warn} ms`, (elapsed - warn) / (fail - warn))
      }
      return healthy
    })
}

const toMillis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

/**
 * Health settings of a resource, as a driver or user writes them.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<I> {
  /** The check run against an idle instance; compose it from stages with `pipeline`. */
  readonly check?: Stage<I> | undefined
  /** @default "30 seconds" */
  readonly interval?: Duration.Input | undefined
  /** A check that takes longer is a failure. @default "5 seconds" */
  readonly timeout?: Duration.Input | undefined
  /** Consecutive failed checks before quarantine. @default 3 */
  readonly failureThreshold?: number | undefined
  /** First recovery delay; doubles per attempt. @default "1 second" */
  readonly recoveryBaseDelay?: Duration.Input | undefined
  /** @default "60 seconds" */
  readonly recoveryMaxDelay?: Duration.Input | undefined
  /** Recovery probes before the resource is permanently failed. @default 10 */
  readonly recoveryAttempts?: number | undefined
  /** Each delay is shortened by up to this fraction at random. @default 0.1 */
  readonly recoveryJitter?: number | undefined
  /** How far an unhealthy status degrades dependents. @default 3 */
  readonly cascadeDepth?: number | undefined
  /** At most this fraction of the instances is evicted per check (at least one); the rest are reported. @default 0.5 */
  readonly maxEvictionFraction?: number | undefined
  /** Whether this resource's health counts toward the Manager's readiness. @default true */
  readonly critical?: boolean | undefined
}

const duration = (defaultValue: Duration.Duration) =>
  ConfigSchema.duration().pipe(ConfigSchema.withDefault(defaultValue))

/**
 * The schema of the numeric health settings; decoding fills defaults. Durations are finite, greater
 * than 0 and at most `ConfigSchema.maxTimerMillis`; counts are integers; fractions are from 0 to 1.
 * Rule: `recoveryBaseDelay ≤ recoveryMaxDelay`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Settings = Schema.Struct({
  interval: duration(Duration.seconds(30)),
  timeout: duration(Duration.seconds(5)),
  failureThreshold: ConfigSchema.int({ minimum: 1 }).pipe(ConfigSchema.withDefault(3)),
  recoveryBaseDelay: duration(Duration.seconds(1)),
  recoveryMaxDelay: duration(Duration.seconds(60)),
  recoveryAttempts: ConfigSchema.int({ minimum: 1 }).pipe(ConfigSchema.withDefault(10)),
  recoveryJitter: ConfigSchema.between(0, 1).pipe(ConfigSchema.withDefault(0.1)),
  cascadeDepth: ConfigSchema.int({ minimum: 0 }).pipe(ConfigSchema.withDefault(3)),
  maxEvictionFraction: ConfigSchema.between(0, 1).pipe(ConfigSchema.withDefault(0.5)),
  critical: Schema.Boolean.pipe(ConfigSchema.withDefault(true))
}).check(ConfigSchema.atMost("recoveryBaseDelay", "recoveryMaxDelay"))

/**
 * Decoded health settings.
 *
 * @category models
 * @since 0.1.0
 */
export type Settings = typeof Settings.Type

/**
 * Validates health settings strictly (see `ConfigSchema.decode`), besides `check`; fails with
 * `InvalidConfig` listing every violation under `health.`. A known setting set to `undefined` takes
 * its default.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decodeSettings = (
  key: string,
  input: Options<unknown> | undefined
): Effect.Effect<Settings, InvalidConfig> => {
  const { check: _check, ...rest } = input ?? {}
  const defined = Object.fromEntries(
    Object.entries(rest).filter(([name, value]) => value !== undefined || !Object.hasOwn(Settings.fields, name))
  )
  return ConfigSchema.decode(key, Settings, defined, "health.")
}
