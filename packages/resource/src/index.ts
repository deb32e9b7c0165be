/**
 * @since 0.1.0
 */

/**
 * The caller's context: tenancy, ids and metadata of whoever acquires.
 *
 * @since 0.1.0
 */
export * as Caller from "./Caller.ts"

/**
 * Strict configs: range-checked field schemas, cross-field rules and the strict decoder.
 *
 * @since 0.1.0
 */
export * as ConfigSchema from "./ConfigSchema.ts"

/**
 * The credential provider service: `Redacted` secrets resolved at instance creation.
 *
 * @since 0.1.0
 */
export * as Credentials from "./Credentials.ts"

/**
 * Health statuses, checks and their stages.
 *
 * @since 0.1.0
 */
export * as Health from "./Health.ts"

/**
 * The Manager: registry, acquire/use, statistics and phased shutdown.
 *
 * @since 0.1.0
 */
export * as Manager from "./Manager.ts"

/**
 * Effect metrics of every resource and their Prometheus rendering.
 *
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.ts"

/**
 * Pool options and their Schema.
 *
 * @since 0.1.0
 */
export * as PoolOptions from "./PoolOptions.ts"

/**
 * The driver contract and its Layer.
 *
 * @since 0.1.0
 */
export * as Resource from "./Resource.ts"

/**
 * Typed errors with a kind and a retryable flag.
 *
 * @since 0.1.0
 */
export * as ResourceError from "./ResourceError.ts"

/**
 * Typed lifecycle events.
 *
 * @since 0.1.0
 */
export * as ResourceEvent from "./ResourceEvent.ts"

/**
 * Tenancy: Global, Tenant, Workflow, Execution, Action and Custom, with containment.
 *
 * @since 0.1.0
 */
export * as Tenancy from "./Tenancy.ts"
