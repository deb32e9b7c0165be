import { isConnectionLostCode } from "@nebula/resource/ResourceError"
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  createClient,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  type RedisClientType,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  WatchError
} from "@redis/client"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

/** @internal */
export type Client = RedisClientType

/** @internal */
export const TypeId = "~@nebula/resource-redis/Connection"

/** @internal */
export type Operation = "connect" | "command" | "recycle"

/** @internal */
export type ReasonTag = "ConnectionError" | "TimeoutError" | "AuthenticationError" | "ReplyError" | "UnknownError"

/** @internal */
export interface Classified {
  readonly tag: ReasonTag
  readonly message: string
  readonly cause: unknown
}

/** @internal */
export interface ConnectOptions {
  readonly url: string | undefined
  readonly host: string
  readonly port: number
  readonly database: number
  readonly username: string | undefined
  readonly password: Redacted.Redacted<string> | undefined
  readonly clientName: string | undefined
  readonly connectTimeout: Duration.Duration
}

/**
 * One pooled connection: the node-redis client and whether a connection-level failure was seen.
 *
 * @internal
 */
export class ConnectionImpl {
  readonly [TypeId] = TypeId
  readonly client: Client
  readonly database: number
  readonly name: string | undefined
  brokenBy: string | undefined = undefined
  constructor(client: Client, database: number, name: string | undefined) {
    this.client = client
    this.database = database
    this.name = name
    client.on("error", (error: unknown) => this.markBroken(describe(error)))
  }
  get isBroken(): boolean {
    return this.brokenBy !== undefined || !this.client.isOpen
  }
  markBroken(reason: string): void {
    this.brokenBy ??= reason
  }
}

const closeTimeout = Duration.seconds(1)

/**
 * Opens one connection with the client's reconnection and offline queue disabled: a lost socket
 * closes the client for good, and the pool replaces it. The whole handshake (TCP, HELLO with AUTH
 * and SETNAME, SELECT) is bounded by `connectTimeout`, and an interruption destroys the client.
 *
 * @internal
 */
export const connect = <E>(
  options: ConnectOptions,
  onError: (connection: ConnectionImpl, classified: Classified) => E
): Effect.Effect<ConnectionImpl, E> =>
  Effect.suspend(() => {
    const connectTimeout = Duration.toMillis(options.connectTimeout)
    const client: Client = createClient({
      ...(options.url === undefined ? {} : { url: options.url }),
      socket: {
        ...(options.url === undefined ? { host: options.host, port: options.port } : {}),
        connectTimeout,
        reconnectStrategy: false
      },
      database: options.database,
      disableOfflineQueue: true,
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: Redacted.value(options.password) }),
      ...(options.clientName === undefined ? {} : { name: options.clientName })
    })
    const connection = new ConnectionImpl(client, options.database, options.clientName)
    return Effect.tryPromise({
      try: () => client.connect(),
      catch: (error) => onError(connection, classify(connection, error))
    }).pipe(
      Effect.timeoutOrElse({
        duration: options.connectTimeout,
        orElse: () =>
          Effect.fail(onError(connection, {
            tag: "TimeoutError",
            message: `connect timed out after ${connectTimeout} ms`,
            cause: undefined
          }))
      }),
      Effect.onError(() => Effect.sync(() => client.destroy())),
      Effect.as(connection)
    )
  })

/**
 * Closes a connection: gracefully (pending replies are awaited, up to one second) while it is
 * healthy, at once otherwise.
 *
 * @internal
 */
export const close = (connection: ConnectionImpl): Effect.Effect<void> =>
  Effect.suspend(() => {
    const client = connection.client
    const destroy = Effect.sync(() => client.destroy())
    if (connection.isBroken || !client.isReady) return destroy
    return Effect.tryPromise(() => client.close()).pipe(
      Effect.timeoutOrElse({ duration: closeTimeout, orElse: () => destroy }),
      Effect.catch(() => destroy)
    )
  })

/** @internal */
export const isUsable = (connection: ConnectionImpl): boolean => !connection.isBroken && connection.client.isReady

/**
 * Sorts a client error into a reason. Connection-level errors (the socket closed or reset, the
 * client closed, a socket timeout) mark the connection broken, so its return to the pool destroys it.
 *
 * @internal
 */
export const classify = (connection: ConnectionImpl, error: unknown): Classified => {
  const message = describe(error)
  if (error instanceof ErrorReply || error instanceof WatchError) {
    return { tag: authFailure.test(message) ? "AuthenticationError" : "ReplyError", message, cause: error }
  }
  if (isConnectionLevel(error) || !connection.client.isOpen) {
    connection.markBroken(message)
    const timeout = error instanceof ConnectionTimeoutError || error instanceof SocketTimeoutError
    return { tag: timeout ? "TimeoutError" : "ConnectionError", message, cause: error }
  }
  return { tag: "UnknownError", message, cause: error }
}

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const authFailure = /^(WRONGPASS|NOAUTH)\b|\bAUTH\b.*\b(without any password|failed)\b|invalid (username-)?password/i

const isConnectionLevel = (error: unknown): boolean =>
  error instanceof ClientClosedError ||
  error instanceof ClientOfflineError ||
  error instanceof SocketClosedUnexpectedlyError ||
  error instanceof DisconnectsClientError ||
  error instanceof ConnectionTimeoutError ||
  error instanceof SocketTimeoutError ||
  error instanceof ReconnectStrategyError ||
  (typeof error === "object" && error !== null && "code" in error && isConnectionLostCode(String(error.code)))

/** @internal */
export const describe = (error: unknown): string => {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0])
  if (error instanceof Error) {
    const code = "code" in error && typeof error.code === "string" ? error.code : undefined
    return code !== undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message
  }
  return String(error)
}
