/**
 * The Redis driver for `@nebula/resource`. Each pooled instance is one node-redis connection whose
 * own reconnection is disabled: a connection that loses its socket is marked broken, fails its
 * recycle and is destroyed, and the pool creates a replacement. The password is a credential id
 * resolved when a connection is created, never a config value. Commands run through `command`,
 * which turns the client's promises into effects failing with a tagged `RedisError`.
 *
 * **Example** (A cache resource)
 *
 * ```ts
 * const Cache = RedisResource.make("cache")
 * const CacheLive = Cache.layer({ url: "redis://127.0.0.1:6379", database: 1 }).pipe(
 *   Layer.provideMerge(Manager.layer)
 * )
 * const value = Cache.use((connection) => RedisResource.command(connection, (client) => client.get("k")))
 * ```
 *
 * @since 0.1.0
 */
import * as ConfigSchema from "@nebula/resource/ConfigSchema"
import * as Health from "@nebula/resource/Health"
import type * as PoolOptions from "@nebula/resource/PoolOptions"
import * as Resource from "@nebula/resource/Resource"
import type { MissingCredential } from "@nebula/resource/ResourceError"
import type * as Tenancy from "@nebula/resource/Tenancy"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { hasProperty } from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as internal from "./internal/connection.ts"

/**
 * The node-redis client of a connection (RESP3, no modules).
 *
 * @category models
 * @since 0.1.0
 */
export type Client = internal.Client

/**
 * A leased connection. Use its `client` through `command`, so that connection-level failures mark
 * it broken; `isBroken` is then true and the pool destroys it when it comes back.
 *
 * @category models
 * @since 0.1.0
 */
export interface Connection {
  readonly [internal.TypeId]: typeof internal.TypeId
  readonly client: Client
  /** The database index the connection was configured with (and is reset to on return). */
  readonly database: number
  /** The client name set with `CLIENT SETNAME` during the handshake, if any. */
  readonly name: string | undefined
  readonly isBroken: boolean
}

/**
 * Whether a value is a connection of this driver.
 *
 * @category guards
 * @since 0.1.0
 */
export const isConnection = (u: unknown): u is Connection => hasProperty(u, internal.TypeId)

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * The socket closed, was reset or refused, or the client is closed. The connection is broken.
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectionError extends Data.TaggedError("ConnectionError")<{
  readonly message: string
  readonly cause?: unknown
}> {
  readonly retryable = true
}

/**
 * Connecting, or waiting on the socket, took too long. The connection is broken.
 *
 * @category errors
 * @since 0.1.0
 */
export class TimeoutError extends Data.TaggedError("TimeoutError")<{
  readonly message: string
  readonly cause?: unknown
}> {
  readonly retryable = true
}

/**
 * The server refused the credentials (`WRONGPASS`, `NOAUTH`). Retrying will not help.
 *
 * @category errors
 * @since 0.1.0
 */
export class AuthenticationError extends Data.TaggedError("AuthenticationError")<{
  readonly message: string
  readonly cause?: unknown
}> {
  readonly retryable = false
}

/**
 * The server answered with an error reply (`WRONGTYPE`, `ERR ...`) or a watched key changed. The
 * connection stays usable.
 *
 * @category errors
 * @since 0.1.0
 */
export class ReplyError extends Data.TaggedError("ReplyError")<{
  readonly message: string
  readonly cause?: unknown
}> {
  readonly retryable = false
}

/**
 * Anything else the command function threw.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnknownError extends Data.TaggedError("UnknownError")<{
  readonly message: string
  readonly cause?: unknown
}> {
  readonly retryable = false
}

/**
 * Why a Redis operation failed.
 *
 * @category errors
 * @since 0.1.0
 */
export type RedisErrorReason = ConnectionError | TimeoutError | AuthenticationError | ReplyError | UnknownError

/**
 * A failed Redis operation: `connect` (in `create`), `command` or `recycle`, with its reason.
 *
 * @category errors
 * @since 0.1.0
 */
export class RedisError extends Data.TaggedError("RedisError")<{
  readonly operation: "connect" | "command" | "recycle"
  readonly reason: RedisErrorReason
}> {
  get retryable(): boolean {
    return this.reason.retryable
  }
  override get message(): string {
    return `Redis ${this.operation} failed (${this.reason._tag}): ${this.reason.message}`
  }
}

// -----------------------------------------------------------------------------
// config
// -----------------------------------------------------------------------------

/**
 * The config of a Redis resource. Give either `url` (`redis://` or `rediss://`, without a password
 * or a database path) or `host` and `port`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Config = Schema.Struct({
  url: Schema.optionalKey(Schema.String.check(Schema.makeFilter((url: string) => urlIssue(url) ?? true))),
  /** @default "127.0.0.1" */
  host: Schema.optionalKey(Schema.NonEmptyString),
  /** From 1 to 65535. @default 6379 */
  port: Schema.optionalKey(ConfigSchema.int({ minimum: 1, maximum: 65_535 })),
  /** The database index (0 to 2^31 − 1) selected on connect and restored when a connection comes back. @default 0 */
  database: ConfigSchema.int({ minimum: 0, maximum: 2_147_483_647 }).pipe(ConfigSchema.withDefault(0)),
  /** The ACL user; without it the password authenticates the `default` user. */
  username: Schema.optionalKey(Schema.NonEmptyString),
  /** The id of the credential that holds the password, resolved on each create. */
  passwordCredential: Schema.optionalKey(Schema.NonEmptyString),
  /** Set on every connection with `CLIENT SETNAME` (no spaces). */
  clientName: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^[!-~]+$/))),
  /**
   * Bounds the whole connect: TCP, `HELLO` (with `AUTH` and `SETNAME`) and `SELECT`; greater than 0 and
   * at most `ConfigSchema.maxTimerMillis`. @default "5 seconds"
   */
  connectTimeout: ConfigSchema.duration().pipe(ConfigSchema.withDefault(Duration.seconds(5)))
}).check(
  ConfigSchema.rule(
    ["url", "host", "port"],
    (config) =>
      config.url !== undefined && (config.host !== undefined || config.port !== undefined)
        ? { path: ["host"], message: "Expected either url or host and port, not both" }
        : undefined
  )
)

/**
 * A decoded config.
 *
 * @category models
 * @since 0.1.0
 */
export type Config = typeof Config.Type

/**
 * A config as written in a layer call: `database` and `connectTimeout` may be omitted, durations
 * accept a `Duration`, milliseconds or a string such as `"2 seconds"`.
 *
 * @category models
 * @since 0.1.0
 */
export type ConfigInput = typeof Config.Encoded

// -----------------------------------------------------------------------------
// resource
// -----------------------------------------------------------------------------

/**
 * A declared Redis resource.
 *
 * @category models
 * @since 0.1.0
 */
export type RedisResource<Key extends string> = Resource.Resource<
  Key,
  Connection,
  Config,
  ConfigInput,
  RedisError | MissingCredential,
  never,
  readonly []
>

/**
 * Options of `make`. Pool and health settings can also be overridden per layer.
 *
 * @category models
 * @since 0.1.0
 */
export interface MakeOptions {
  readonly pool?: PoolOptions.Input | undefined
  readonly tenancy?: Tenancy.Tenancy | undefined
  /** Health settings; the check defaults to `PING` connectivity followed by `PING` latency. */
  readonly health?: Health.Options<Connection> | undefined
  /** Latency thresholds of the default check. @default { warn: "100 millis", fail: "1 second" } */
  readonly latency?: { readonly warn: Duration.Input; readonly fail: Duration.Input } | undefined
}

/**
 * Declares a Redis resource under `key`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const Key extends string>(key: Key, options?: MakeOptions): RedisResource<Key> =>
  Resource.make<Key, Connection, Config, ConfigInput, RedisError | MissingCredential, never, readonly []>({
    key,
    config: Config,
    pool: options?.pool,
    tenancy: options?.tenancy,
    health: { check: healthCheck(options?.latency ?? defaultLatency), ...options?.health },
    isRetryable: (error) => error._tag === "RedisError" && error.retryable,
    create: (config, context) =>
      Effect.flatMap(
        config.passwordCredential === undefined ? Effect.undefined : context.credential(config.passwordCredential),
        (password) => Effect.acquireRelease(connect(config, password), internal.close, { interruptible: true })
      ),
    validate: (connection) => Effect.sync(() => internal.isUsable(connection as internal.ConnectionImpl)),
    recycle: (connection, config) => reset(connection, config.database)
  })

/**
 * Runs a command (or several, a `multi()`, a script...) on a leased connection. A rejection becomes a
 * `RedisError`; a connection-level one also marks the connection broken, so it is destroyed when it
 * goes back to the pool. So does an interruption (a timeout around a `BLPOP`, say): the reply may
 * still be pending, and the next caller must not queue behind it. A connection already known to be
 * broken fails at once.
 *
 * @category commands
 * @since 0.1.0
 */
export const command: {
  <A>(f: (client: Client) => PromiseLike<A>): (connection: Connection) => Effect.Effect<A, RedisError>
  <A>(connection: Connection, f: (client: Client) => PromiseLike<A>): Effect.Effect<A, RedisError>
} = dual(
  2,
  <A>(connection: Connection, f: (client: Client) => PromiseLike<A>): Effect.Effect<A, RedisError> =>
    Effect.suspend(() => {
      const impl = connection as internal.ConnectionImpl
      if (impl.isBroken) {
        return Effect.fail(
          toError("command", { tag: "ConnectionError", message: brokenMessage(impl), cause: undefined })
        )
      }
      return Effect.tryPromise({ try: () => f(impl.client), catch: (error) => fail(impl, "command", error) }).pipe(
        Effect.onInterrupt(() => Effect.sync(() => impl.markBroken("a command was interrupted before its reply")))
      )
    })
)

/**
 * The default health check: `PING` connectivity, then `PING` latency against the thresholds.
 *
 * @category health
 * @since 0.1.0
 */
export const healthCheck = (
  latency: { readonly warn: Duration.Input; readonly fail: Duration.Input } = defaultLatency
): Health.Stage<Connection> => {
  const ping = command((client) => client.ping())
  return Health.pipeline([Health.connectivity(ping), Health.latency(latency, ping)])
}

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const defaultLatency = { warn: "100 millis", fail: "1 second" } as const

const reasons: Record<internal.ReasonTag, new(args: { message: string; cause?: unknown }) => RedisErrorReason> = {
  ConnectionError,
  TimeoutError,
  AuthenticationError,
  ReplyError,
  UnknownError
}

const toError = (operation: RedisError["operation"], classified: internal.Classified): RedisError =>
  new RedisError({
    operation,
    reason: new reasons[classified.tag]({ message: classified.message, cause: classified.cause })
  })

const fail = (connection: internal.ConnectionImpl, operation: RedisError["operation"], error: unknown) =>
  toError(operation, internal.classify(connection, error))

const brokenMessage = (connection: internal.ConnectionImpl): string =>
  `connection is broken (${connection.brokenBy ?? "The client is closed"})`

const connect = (config: Config, password: Redacted.Redacted<string> | undefined) =>
  internal.connect({
    url: config.url,
    host: config.host ?? "127.0.0.1",
    port: config.port ?? 6379,
    database: config.database,
    username: config.username,
    password,
    clientName: config.clientName,
    connectTimeout: config.connectTimeout
  }, (_, classified) => toError("connect", classified))

/**
 * Restores the configured database. The reply is not awaited: Redis runs a connection's commands in
 * order, so the next lessee's commands run after the `SELECT`, and a failed `SELECT` marks the
 * connection broken. A broken connection, or one left in subscriber mode, fails the recycle.
 */
const reset = (connection: Connection, database: number): Effect.Effect<void, RedisError> =>
  Effect.suspend(() => {
    const impl = connection as internal.ConnectionImpl
    if (!internal.isUsable(impl) || impl.client.isPubSubActive) {
      const message = impl.client.isPubSubActive ? "connection is in subscriber mode" : brokenMessage(impl)
      return Effect.fail(toError("recycle", { tag: "ConnectionError", message, cause: undefined }))
    }
    impl.client.select(database).catch((error: unknown) => internal.classify(impl, error))
    return Effect.void
  })

const urlIssue = (url: string): Schema.FilterIssue | undefined => {
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  if (parsed === undefined || (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")) {
    const issue = "Expected a redis:// or rediss:// URL"
    return url.includes("@") ? { path: ["credentials"], issue } : issue
  }
  if (parsed.password !== "") {
    return { path: ["password"], issue: "Expected no password in the url: name a credential in passwordCredential" }
  }
  if (parsed.pathname !== "" && parsed.pathname !== "/") {
    return { path: ["database"], issue: "Expected no database in the url: use the database field" }
  }
  return undefined
}
