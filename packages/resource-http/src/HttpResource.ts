/**
 * An HTTP API as a resource: one shared undici client per resource (a resident resource: every
 * caller uses the same connection pool at once), with a base URL, default headers, a bearer token
 * resolved from the credential provider as `Redacted` when the client is created, a request timeout,
 * and an optional health check against a configured path.
 *
 * @since 0.1.0
 */
import { ConfigSchema, Health, Resource } from "@nebula/resource"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { Agent, fetch } from "undici"

/**
 * The config of an HTTP resource. `timeout` is greater than 0 and at most
 * `ConfigSchema.maxTimerMillis` (it arms an `AbortSignal.timeout`); `maxConnections` is an integer of
 * at least 1.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Config = Schema.Struct({
  baseUrl: Schema.String.check(Schema.isPattern(/^https?:\/\//)),
  headers: Schema.Record(Schema.String, Schema.String).pipe(ConfigSchema.withDefault({})),
  tokenCredential: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  timeout: ConfigSchema.duration().pipe(ConfigSchema.withDefault(Duration.seconds(10))),
  healthPath: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^\//))),
  maxConnections: ConfigSchema.int({ minimum: 1 }).pipe(ConfigSchema.withDefault(16))
})

/**
 * The leased client: the undici agent plus the resolved settings.
 *
 * @category models
 * @since 0.1.0
 */
export interface Client {
  readonly agent: Agent
  readonly baseUrl: string
  readonly headers: Readonly<Record<string, string>>
  readonly token: Redacted.Redacted<string> | undefined
  readonly timeoutMs: number
  readonly healthPath: string | undefined
}

/**
 * A failed request: transport errors and timeouts (`status` undefined) or a non-2xx response when
 * `expectOk` was asked. Never carries the token.
 *
 * @category errors
 * @since 0.1.0
 */
export class HttpError extends Data.TaggedError("HttpError")<{
  readonly method: string
  readonly path: string
  readonly status: number | undefined
  readonly reason: string
}> {
  get retryable(): boolean {
    return this.status === undefined || this.status >= 500 || this.status === 429
  }
  override get message() {
    return `${this.method} ${this.path} failed: ${this.reason}`
  }
}

/**
 * A response with its body read as text.
 *
 * @category models
 * @since 0.1.0
 */
export interface Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * Sends a request relative to the base URL with the default headers and the bearer token.
 *
 * @category requests
 * @since 0.1.0
 */
export const request = (client: Client, options: {
  readonly method?: string | undefined
  readonly path: string
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: string | undefined
  /** Fail with `HttpError` on a non-2xx status. @default false */
  readonly expectOk?: boolean | undefined
}): Effect.Effect<Response, HttpError> => {
  const method = options.method ?? "GET"
  const fail = (status: number | undefined, reason: string) =>
    new HttpError({ method, path: options.path, status, reason })
  return Effect.tryPromise({
    try: (signal) =>
      fetch(new URL(options.path, client.baseUrl), {
        method,
        headers: {
          ...client.headers,
          ...(client.token === undefined ? {} : { authorization: `Bearer ${Redacted.value(client.token)}` }),
          ...options.headers
        },
        ...(options.body === undefined ? {} : { body: options.body }),
        dispatcher: client.agent,
        signal: AbortSignal.any([signal, AbortSignal.timeout(client.timeoutMs)])
      }).then((response) =>
        response.text().then((body) => ({
          status: response.status,
          headers: Object.fromEntries(response.headers.entries()),
          body
        }))
      ),
    catch: (error) =>
      fail(undefined, error instanceof Error && error.name === "TimeoutError" ? "timed out" : describe(error))
  }).pipe(
    Effect.flatMap((response) =>
      options.expectOk === true && (response.status < 200 || response.status >= 300)
        ? Effect.fail(fail(response.status, `status ${response.status}`))
        : Effect.succeed(response)
    )
  )
}

/**
 * Declares an HTTP resource under `key`.
 *
 * **Example** (A shared API client)
 *
 * ```ts
 * const Api = HttpResource.make("billing-api")
 * const layer = Api.layer({ baseUrl: "http://127.0.0.1:8080", tokenCredential: "billing-token" })
 * const invoices = Api.use((client) => HttpResource.request(client, { path: "/invoices", expectOk: true }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const Key extends string>(key: Key, options?: {
  /** Health settings besides the check (interval, timeout, threshold, recovery). */
  readonly health?: Omit<Health.Options<Client>, "check"> | undefined
}) =>
  Resource.make({
    key,
    config: Config,
    resident: true,
    create: (config, context) =>
      Effect.gen(function*() {
        const token = config.tokenCredential === undefined
          ? undefined
          : yield* context.credential(config.tokenCredential)
        const agent = yield* Effect.acquireRelease(
          Effect.sync(() => new Agent({ connections: config.maxConnections })),
          (agent) => Effect.promise(() => agent.close())
        )
        const timeoutMs = Duration.toMillis(config.timeout)
        return {
          agent,
          baseUrl: config.baseUrl,
          headers: config.headers,
          token,
          timeoutMs,
          healthPath: config.healthPath
        }
      }),
    health: { ...options?.health, check: healthCheck }
  })

/**
 * `GET healthPath` must answer 2xx: Degraded from 1 s, Unhealthy at the request timeout or on failure.
 * Without a health path the status stays Unknown (served).
 *
 * @category health
 * @since 0.1.0
 */
export const healthCheck = (client: Client): Effect.Effect<Health.Status, unknown> =>
  client.healthPath === undefined
    ? Effect.succeed(Health.unknown)
    : Health.pipeline([
      Health.latency(
        { warn: Math.min(1000, client.timeoutMs / 2), fail: client.timeoutMs },
        (c: Client) => request(c, { path: client.healthPath!, expectOk: true })
      )
    ])(client)

const describe = (error: unknown): string =>
  error instanceof Error
    ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message)
    : String(error)
