/**
 * The error of the PostgreSQL driver. Every failure of a connect or a query becomes one tagged
 * `PgError` with the SQLSTATE `code` when the server sent one (or the socket error code), the
 * server's message, and whether the failure is connection-level: a connection-level error means the
 * connection is gone, so the instance is marked broken and destroyed when its lease ends. No
 * `PgError` ever holds a password.
 *
 * @since 0.1.0
 */
import { isConnectionLostCode } from "@nebula/resource/ResourceError"
import * as Data from "effect/Data"
import { hasProperty } from "effect/Predicate"

/**
 * A failed connect or query.
 *
 * - `code`: the SQLSTATE (`"42601"`) or the socket error code (`"ECONNREFUSED"`), when known.
 * - `reason`: the server's or the socket's message.
 * - `connection`: the connection is unusable (SQLSTATE class 08, 57P01–57P03, socket errors,
 *   "Connection terminated"): the instance is evicted.
 * - `constraint`: the violated constraint, for an integrity error.
 *
 * @category errors
 * @since 0.1.0
 */
export class PgError extends Data.TaggedError("PgError")<{
  readonly code: string | undefined
  readonly reason: string
  readonly connection: boolean
  readonly constraint?: string | undefined
}> {
  /** Whether a connect that failed this way is worth retrying: connection-level and resource errors. */
  get retryable(): boolean {
    return this.connection || (this.code !== undefined && this.code.startsWith("53"))
  }
  override get message() {
    return this.code === undefined || this.reason.includes(this.code) ? this.reason : `${this.reason} (${this.code})`
  }
}

/**
 * Whether a value is a `PgError`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isPgError = (u: unknown): u is PgError => hasProperty(u, "_tag") && u._tag === "PgError"

const connectionStates = new Set(["57P01", "57P02", "57P03"])
const connectionMessages = /Connection terminated|not queryable|Connection closed|socket hang up/i

/**
 * Whether a SQLSTATE, socket code or message denotes a connection-level failure.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isConnectionLevel = (code: string | undefined, reason: string): boolean =>
  code !== undefined && (code.startsWith("08") || connectionStates.has(code) || isConnectionLostCode(code)) ||
  connectionMessages.test(reason)

/**
 * Converts anything `pg` or a socket throws into a `PgError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromUnknown = (error: unknown): PgError => {
  if (isPgError(error)) return error
  const code = hasProperty(error, "code") && typeof error.code === "string" ? error.code : undefined
  const inner = error instanceof AggregateError && error.errors[0] instanceof Error ? error.errors[0] : undefined
  const reason = error instanceof Error
    ? error.message || inner?.message || code || error.name
    : hasProperty(error, "message")
    ? String(error.message)
    : String(error)
  const constraint = hasProperty(error, "constraint") && typeof error.constraint === "string"
    ? error.constraint
    : undefined
  return new PgError({ code, reason, connection: isConnectionLevel(code, reason), constraint })
}
