/**
 * Effect `Metric`s of every resource, labelled by resource key (`resource_id`), never by free text a
 * tenant controls. The pools keep their numbers in plain fields; each series is registered with
 * `Metric.registerUnsafe` and read when metrics are exported, so the acquire/release hot path pays no
 * metric update.
 *
 * | metric | type | labels | meaning |
 * |---|---|---|---|
 * | `resource.acquire.total` | counter | `resource_id` | leases handed out |
 * | `resource.release.total` | counter | `resource_id` | leases returned |
 * | `resource.create.total` | counter | `resource_id` | instances created |
 * | `resource.cleanup.total` | counter | `resource_id`, `reason` | instances destroyed, by reason |
 * | `resource.error.total` | counter | `resource_id`, `kind` | failed acquires, by error kind |
 * | `resource.acquire.timeout.total` | counter | `resource_id` | acquires that hit the acquire timeout |
 * | `resource.pool.size` | gauge | `resource_id` | live instances |
 * | `resource.pool.available` | gauge | `resource_id` | idle instances |
 * | `resource.pool.in_use` | gauge | `resource_id` | leased instances |
 * | `resource.pool.waiters` | gauge | `resource_id` | callers waiting for an instance |
 * | `resource.acquire.duration_seconds` | histogram | `resource_id` | time an acquire waited |
 * | `resource.create.duration_seconds` | histogram | `resource_id` | time a create took |
 * | `resource.usage.duration_seconds` | histogram | `resource_id` | time a lease was held (1 in 8 fast-path leases sampled) |
 * | `resource.health.state` | gauge | `resource_id` | health score: 1 healthy, 1 − impact degraded, 0.5 unknown, 0 unhealthy |
 * | `resource.quarantine.total` | counter | `resource_id` | times the resource was quarantined |
 * | `resource.recovery.attempt.total` | counter | `resource_id` | recovery probes run while quarantined |
 * | `resource.hold_deadline.exceeded.total` | counter | `resource_id` | leases held past the maximum hold duration |
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { PrometheusMetrics } from "effect/observability"
import { boundaries } from "./internal/histogram.ts"

/**
 * @category metrics
 * @since 0.1.0
 */
export const acquireTotal = Metric.counter("resource.acquire.total", { description: "Leases handed out" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const releaseTotal = Metric.counter("resource.release.total", { description: "Leases returned" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const createTotal = Metric.counter("resource.create.total", { description: "Instances created" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const cleanupTotal = Metric.counter("resource.cleanup.total", { description: "Instances destroyed, by reason" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const errorTotal = Metric.counter("resource.error.total", { description: "Failed acquires, by error kind" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const acquireTimeoutTotal = Metric.counter("resource.acquire.timeout.total", {
  description: "Acquires that hit the acquire timeout"
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const poolSize = Metric.gauge("resource.pool.size", { description: "Live instances" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const poolAvailable = Metric.gauge("resource.pool.available", { description: "Idle instances" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const poolInUse = Metric.gauge("resource.pool.in_use", { description: "Leased instances" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const poolWaiters = Metric.gauge("resource.pool.waiters", { description: "Callers waiting for an instance" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const acquireDuration = Metric.histogram("resource.acquire.duration_seconds", {
  description: "Time an acquire waited",
  boundaries
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const createDuration = Metric.histogram("resource.create.duration_seconds", {
  description: "Time a create took",
  boundaries
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const usageDuration = Metric.histogram("resource.usage.duration_seconds", {
  description: "Time a lease was held",
  boundaries
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const healthState = Metric.gauge("resource.health.state", {
  description: "Health score: 1 healthy, 1 - impact degraded, 0.5 unknown, 0 unhealthy"
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const quarantineTotal = Metric.counter("resource.quarantine.total", { description: "Times quarantined" })

/**
 * @category metrics
 * @since 0.1.0
 */
export const recoveryAttemptTotal = Metric.counter("resource.recovery.attempt.total", {
  description: "Recovery probes run while quarantined"
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const holdDeadlineExceededTotal = Metric.counter("resource.hold_deadline.exceeded.total", {
  description: "Leases held past the maximum hold duration"
})

/**
 * Renders every metric of the current registry as Prometheus exposition text (names with `.`
 * become `_`).
 *
 * @category exporters
 * @since 0.1.0
 */
export const prometheus = (options?: { readonly prefix?: string | undefined }): Effect.Effect<string> =>
  PrometheusMetrics.format(options)
