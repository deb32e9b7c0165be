/**
 * Typed errors of the resource framework. Every error carries a `kind` from one small taxonomy and a
 * `retryable` flag, so callers and engines decide what to do without matching on messages. No error
 * ever holds a secret: causes are kept as redacted strings.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * What a caller should do with an error.
 *
 * - `Transient`: retry with backoff.
 * - `Permanent`: never retry.
 * - `Exhausted`: retry after the hint (the pool was full).
 * - `NotFound`: a wiring bug (the key is not registered).
 * - `Cancelled`: propagate (the resource is shutting down or closed).
 *
 * @category models
 * @since 0.1.0
 */
export type ErrorKind = "Transient" | "Permanent" | "Exhausted" | "NotFound" | "Cancelled"

/**
 * One violated constraint of a config: where, what was expected, what was given (secrets shown as
 * `<redacted>`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Violation {
  readonly path: string
  readonly constraint: string
  readonly actual: string
}

/**
 * The pool's numbers at the moment an acquire gave up.
 *
 * @category models
 * @since 0.1.0
 */
export interface PoolNumbers {
  readonly size: number
  readonly inUse: number
  readonly idle: number
  readonly waiters: number
  readonly max: number
}

/**
 * The phase of an acquire that was running when its timeout fired.
 *
 * @category models
 * @since 0.1.0
 */
export type AcquirePhase = "wait" | "create" | "validate"

/**
 * A resource config or pool options failed validation; lists every violation.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidConfig extends Data.TaggedError("InvalidConfig")<{
  readonly key: string
  readonly violations: ReadonlyArray<Violation>
}> {
  readonly kind: ErrorKind = "Permanent"
  readonly retryable = false
  override get message() {
    return `Invalid config for resource "${this.key}": ` +
      this.violations.map((v) => `${v.path}: ${v.constraint} (actual: ${v.actual})`).join("; ")
  }
}

/**
 * Registering a resource would close a dependency cycle; `cycle` lists the keys, first key repeated
 * at the end.
 *
 * @category errors
 * @since 0.1.0
 */
export class CircularDependency extends Data.TaggedError("CircularDependency")<{
  readonly cycle: ReadonlyArray<string>
}> {
  readonly kind: ErrorKind = "Permanent"
  readonly retryable = false
  override get message() {
    return `Circular dependency: ${this.cycle.join(" -> ")}`
  }
}

/**
 * A resource with this key is already registered with the Manager.
 *
 * @category errors
 * @since 0.1.0
 */
export class AlreadyRegistered extends Data.TaggedError("AlreadyRegistered")<{ readonly key: string }> {
  readonly kind: ErrorKind = "Permanent"
  readonly retryable = false
  override get message() {
    return `Resource "${this.key}" is already registered`
  }
}

/**
 * No resource with this key is registered.
 *
 * @category errors
 * @since 0.1.0
 */
export class NotRegistered extends Data.TaggedError("NotRegistered")<{ readonly key: string }> {
  readonly kind: ErrorKind = "NotFound"
  readonly retryable = false
  override get message() {
    return `Resource "${this.key}" is not registered`
  }
}

/**
 * The resource's tenancy does not contain the caller's tenancy.
 *
 * @category errors
 * @since 0.1.0
 */
export class AccessDenied extends Data.TaggedError("AccessDenied")<{
  readonly key: string
  readonly resourceTenancy: string
  readonly callerTenancy: string
}> {
  readonly kind: ErrorKind = "Permanent"
  readonly retryable = false
  override get message() {
    return `Access to resource "${this.key}" (${this.resourceTenancy}) denied for caller ${this.callerTenancy}`
  }
}

/**
 * A tenancy was built from invalid input, such as an empty id.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidTenancy extends Data.TaggedError("InvalidTenancy")<{
  readonly field: string
  readonly reason: string
}> {
  readonly kind: ErrorKind = "Permanent"
  readonly retryable = false
  override get message() {
    return `Invalid tenancy: ${this.field} ${this.reason}`
  }
}

/**
 * A credential needed to create an instance is not available. Names the credential, never its value.
 *
 * @category errors
 * @since 0.1.0
 */
export class MissingCredential extends Data.TaggedError("MissingCredential")<{
  readonly credentialId: string
  readonly key: string
}> {
  readonly kind: ErrorKind = "Permanent"
  readonly retryable = false
  override get message() {
    return `Credential "${this.credentialId}" needed by resource "${this.key}" is missing`
  }
}

/**
 * The resource stopped issuing leases (shutdown, or its tenancy was closed). Fails at once.
 *
 * @category errors
 * @since 0.1.0
 */
export class ResourceClosed extends Data.TaggedError("ResourceClosed")<{ readonly key: string }> {
  readonly kind: ErrorKind = "Cancelled"
  readonly retryable = false
  override get message() {
    return `Resource "${this.key}" is shut down and issues no leases`
  }
}

/**
 * The acquire timeout fired. `phase` says what was running: `wait` means the pool was exhausted
 * (every instance in use), `create` a slow create, `validate` a slow validation.
 *
 * @category errors
 * @since 0.1.0
 */
export class AcquireTimeout extends Data.TaggedError("AcquireTimeout")<{
  readonly key: string
  readonly phase: AcquirePhase
  readonly timeoutMs: number
  readonly pool: PoolNumbers
}> {
  get kind(): ErrorKind {
    return this.phase === "wait" ? "Exhausted" : "Transient"
  }
  readonly retryable = true
  /** True when every instance was in use: the pool, not the backend, was the bottleneck. */
  get exhausted(): boolean {
    return this.phase === "wait"
  }
  override get message() {
    const p = this.pool
    const what = this.phase === "wait" ? "pool exhausted" : `${this.phase} too slow`
    return `Acquire of "${this.key}" timed out after ${this.timeoutMs} ms (${what}; size ${p.size}/${p.max}, ` +
      `in use ${p.inUse}, idle ${p.idle}, waiters ${p.waiters})`
  }
}

/**
 * Creating an instance failed: the backend is down or refused. `reason` is the redacted cause of the
 * last attempt; `attempts` counts the creates this acquire tried.
 *
 * @category errors
 * @since 0.1.0
 */
export class CreateFailed extends Data.TaggedError("CreateFailed")<{
  readonly key: string
  readonly reason: string
  readonly attempts: number
  readonly retryable: boolean
}> {
  get kind(): ErrorKind {
    return this.retryable ? "Transient" : "Permanent"
  }
  override get message() {
    return `Creating an instance of "${this.key}" failed after ${this.attempts} attempt(s): ${this.reason}`
  }
}

/**
 * A create took longer than the create timeout; the attempt was interrupted and cleaned up.
 *
 * @category errors
 * @since 0.1.0
 */
export class CreateTimeout extends Data.TaggedError("CreateTimeout")<{
  readonly key: string
  readonly timeoutMs: number
  readonly attempts: number
}> {
  readonly kind: ErrorKind = "Transient"
  readonly retryable = true
  override get message() {
    return `Creating an instance of "${this.key}" exceeded the create timeout of ${this.timeoutMs} ms ` +
      `(${this.attempts} attempt(s))`
  }
}

/**
 * The resource's health check says it is unhealthy: acquires fail fast instead of handing out a
 * broken instance. Retryable when the failure is recoverable.
 *
 * @category errors
 * @since 0.1.0
 */
export class ResourceUnhealthy extends Data.TaggedError("ResourceUnhealthy")<{
  readonly key: string
  readonly reason: string
  readonly recoverable: boolean
}> {
  get kind(): ErrorKind {
    return this.recoverable ? "Transient" : "Permanent"
  }
  get retryable(): boolean {
    return this.recoverable
  }
  override get message() {
    return `Resource "${this.key}" is unhealthy: ${this.reason}`
  }
}

/**
 * The resource is quarantined: acquires fail fast while recovery probes run. `retryAfterMs` says
 * when the next probe is due; `permanent` means recovery gave up until an operator restores it.
 *
 * @category errors
 * @since 0.1.0
 */
export class ResourceQuarantined extends Data.TaggedError("ResourceQuarantined")<{
  readonly key: string
  readonly reason: string
  readonly retryAfterMs: number | undefined
  readonly permanent: boolean
}> {
  get kind(): ErrorKind {
    return this.permanent ? "Permanent" : "Exhausted"
  }
  get retryable(): boolean {
    return !this.permanent
  }
  override get message() {
    return this.permanent
      ? `Resource "${this.key}" is quarantined until an operator restores it: ${this.reason}`
      : `Resource "${this.key}" is quarantined (${this.reason}); retry after ${this.retryAfterMs} ms`
  }
}

/**
 * Every error the framework raises.
 *
 * @category errors
 * @since 0.1.0
 */
export type ResourceError =
  | InvalidConfig
  | CircularDependency
  | AlreadyRegistered
  | NotRegistered
  | AccessDenied
  | InvalidTenancy
  | MissingCredential
  | ResourceClosed
  | AcquireTimeout
  | CreateFailed
  | CreateTimeout
  | ResourceUnhealthy
  | ResourceQuarantined

/**
 * The errors `acquire` and `use` can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type AcquireError =
  | NotRegistered
  | AccessDenied
  | MissingCredential
  | ResourceClosed
  | AcquireTimeout
  | CreateFailed
  | CreateTimeout
  | ResourceUnhealthy
  | ResourceQuarantined

/**
 * The errors building a resource layer can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type RegisterError = InvalidConfig | CircularDependency | AlreadyRegistered | ResourceClosed

const tags = new Set<string>([
  "InvalidConfig",
  "CircularDependency",
  "AlreadyRegistered",
  "NotRegistered",
  "AccessDenied",
  "InvalidTenancy",
  "MissingCredential",
  "ResourceClosed",
  "AcquireTimeout",
  "CreateFailed",
  "CreateTimeout",
  "ResourceUnhealthy",
  "ResourceQuarantined"
])

/**
 * Whether a value is one of the framework's errors.
 *
 * @category guards
 * @since 0.1.0
 */
export const isResourceError = (u: unknown): u is ResourceError =>
  typeof u === "object" && u !== null && "_tag" in u && tags.has((u as { _tag: string })._tag)

const connectionLostCodes: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN"
])

/**
 * Whether a Node.js socket error code (`ECONNRESET`, `EPIPE`, `ENOTFOUND`, ...) means the connection
 * is gone or could not be made. Drivers use it to mark an instance broken, so that it is evicted.
 *
 * @category guards
 * @since 0.1.0
 */
export const isConnectionLostCode = (code: string | undefined): boolean =>
  code !== undefined && connectionLostCodes.has(code)
