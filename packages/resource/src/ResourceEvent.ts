/**
 * Typed lifecycle events. Every transition of every resource is published on the Manager's event
 * bus as one of these, carrying the resource key, its tenancy and a timestamp from `Clock`. Errors are
 * carried as redacted strings, never as values that could hold a secret.
 *
 * Adding an event kind is a change to this module only: add a member to `ResourceEvent`.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * Why an instance was destroyed.
 *
 * @category models
 * @since 0.1.0
 */
export type CleanupReason =
  | "expired"
  | "idle"
  | "validation_failed"
  | "recycle_failed"
  | "shutdown"
  | "evicted"

/**
 * The phases of a resource's shutdown.
 *
 * @category models
 * @since 0.1.0
 */
export type ShutdownPhase = "stop" | "drain" | "cleanup" | "terminate"

/**
 * Fields every event carries.
 *
 * @category models
 * @since 0.1.0
 */
export interface Common {
  readonly key: string
  readonly tenancy: string
  /** Milliseconds since the epoch, from the `Clock`. */
  readonly at: number
}

/**
 * A lifecycle event.
 *
 * @category models
 * @since 0.1.0
 */
export type ResourceEvent = Data.TaggedEnum<{
  Registered: Common & { readonly dependencies: ReadonlyArray<string> }
  Deregistered: Common
  InstanceCreated: Common & { readonly createMs: number }
  Acquired: Common & { readonly waitMs: number }
  Released: Common & { readonly holdMs: number }
  AcquireFailed: Common & { readonly errorTag: string; readonly errorKind: string; readonly error: string }
  PoolExhausted: Common & { readonly waiters: number; readonly max: number }
  CleanedUp: Common & { readonly reason: CleanupReason }
  ShutdownPhaseStarted: Common & { readonly phase: ShutdownPhase }
  ShutdownPhaseFinished: Common & { readonly phase: ShutdownPhase }
  HealthChanged: Common & { readonly from: string; readonly to: string }
  Quarantined: Common & { readonly reason: string; readonly manual: boolean }
  RecoveryAttempt: Common & {
    readonly attempt: number
    readonly succeeded: boolean
    readonly nextDelayMs: number | undefined
  }
  Recovered: Common & { readonly attempts: number; readonly manual: boolean }
  PermanentlyFailed: Common & { readonly reason: string; readonly attempts: number }
  DegradedByDependency: Common & { readonly dependency: string; readonly depth: number }
  DependencyRecovered: Common & { readonly dependency: string }
  TotalFailure: Common & { readonly instances: number; readonly reason: string }
  HoldDeadlineExceeded: Common & {
    readonly heldMs: number
    readonly tenantId: string | undefined
    readonly workflowId: string | undefined
    readonly executionId: string | undefined
  }
  HoldDeadlineReturned: Common & { readonly heldMs: number }
}>

/**
 * Constructors and matchers for every event kind.
 *
 * @category constructors
 * @since 0.1.0
 */
export const ResourceEvent = Data.taggedEnum<ResourceEvent>()

/**
 * The tag of an event kind.
 *
 * @category models
 * @since 0.1.0
 */
export type Tag = ResourceEvent["_tag"]

/**
 * Which events a subscriber wants: all, one key, or every key with a prefix.
 *
 * @category models
 * @since 0.1.0
 */
export interface Filter {
  readonly key?: string | undefined
  readonly keyPrefix?: string | undefined
  readonly tags?: ReadonlyArray<Tag> | undefined
}

/**
 * Whether an event passes a filter.
 *
 * @category predicates
 * @since 0.1.0
 */
export const matches = (filter: Filter, event: ResourceEvent): boolean =>
  (filter.key === undefined || event.key === filter.key) &&
  (filter.keyPrefix === undefined || event.key.startsWith(filter.keyPrefix)) &&
  (filter.tags === undefined || filter.tags.includes(event._tag))
