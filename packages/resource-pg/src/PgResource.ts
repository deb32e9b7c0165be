/**
 * A PostgreSQL resource on node-postgres: each pooled instance is one `pg.Client` connection. The
 * config is a `Schema` (a `url`, or `host`/`port`/`database`/`user`); the password is never in it,
 * but resolved by credential id when a connection is created. Borrowing checks the connection's
 * state without a round trip, returning rolls back an open transaction and resets a session that a
 * statement changed, and a connection-level error marks the connection broken so that it is destroyed
 * when its lease ends.
 *
 * **Example** (A database resource)
 *
 * ```ts
 * import { Manager } from "@nebula/resource"
 * import { PgResource } from "@nebula/resource-pg"
 * import { Effect, Layer } from "effect"
 *
 * const Db = PgResource.make("db")
 * const layer = Db.layer({ url: "postgres://app@127.0.0.1:5432/app" }).pipe(Layer.provideMerge(Manager.layer))
 * const rows = Db.use(PgResource.query<{ readonly n: number }>("select 1 as n")).pipe(Effect.provide(layer))
 * ```
 *
 * @since 0.1.0
 */
import * as ConfigSchema from "@nebula/resource/ConfigSchema"
import * as Health from "@nebula/resource/Health"
import * as Manager from "@nebula/resource/Manager"
import type * as PoolOptions from "@nebula/resource/PoolOptions"
import * as Resource from "@nebula/resource/Resource"
import type { AcquireError, MissingCredential } from "@nebula/resource/ResourceError"
import type * as Tenancy from "@nebula/resource/Tenancy"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { hasProperty } from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Client, ClientConfig } from "pg"
import { parseIntoClientConfig } from "pg-connection-string"
import * as internal from "./internal/pgConnection.ts"
import type { PgError } from "./PgError.ts"

export type { PgError } from "./PgError.ts"

/**
 * A leased connection: the `pg.Client`, its backend process id, and whether it is broken. Run
 * statements with `PgResource.query`; a statement run on `client` directly bypasses the session
 * tracking, so reset what it changes before the lease ends.
 *
 * @category models
 * @since 0.1.0
 */
export interface PgConnection {
  readonly [internal.TypeId]: typeof internal.TypeId
  readonly client: Client
  readonly pid: number
  readonly broken: boolean
}

/**
 * Whether a value is a `PgConnection`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isPgConnection = (u: unknown): u is PgConnection => hasProperty(u, internal.TypeId)

// -----------------------------------------------------------------------------
// config
// -----------------------------------------------------------------------------

/**
 * The longest `statement_timeout` PostgreSQL accepts: 2^31 − 1 ms.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxStatementTimeoutMillis = 2_147_483_647

const withoutPassword = Schema.makeFilter<string>((url) => {
  if (!URL.canParse(url)) return "Expected a postgres:// URL"
  const parsed = new URL(url)
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") return "Expected a postgres:// URL"
  return parsed.password === "" || "Expected no password in the URL (use passwordCredential)"
})

type Endpoint = { readonly url?: string | undefined } & { readonly [field: string]: unknown }

const notBesideUrl = (field: "host" | "port" | "database" | "user") =>
  ConfigSchema.rule<Endpoint>(
    ["url", field],
    (config) =>
      config.url !== undefined && config[field] !== undefined
        ? { path: [field], message: `Expected no ${field} beside a url` }
        : undefined
  )

const requiredWithoutUrl = (field: "database" | "user") =>
  ConfigSchema.rule<Endpoint>(
    ["url", field],
    (config) =>
      config.url === undefined && config[field] === undefined
        ? { path: [field], message: `Expected ${field}, or a url` }
        : undefined
  )

/**
 * The config: a connection `url` (without a password), or `host` (default `"127.0.0.1"`), `port`
 * (default 5432), `database` and `user`; plus `applicationName`, `statementTimeout` and
 * `passwordCredential`. Unknown fields are errors (see `ConfigSchema.decode`).
 *
 * @category schemas
 * @since 0.1.0
 */
export const Config = Schema.Struct({
  /** `postgres://` or `postgresql://`, without a password. */
  url: Schema.optionalKey(Schema.String.check(withoutPassword)),
  /** Without a `url`. @default "127.0.0.1" */
  host: Schema.optionalKey(Schema.NonEmptyString),
  /** Without a `url`; from 1 to 65535. @default 5432 */
  port: Schema.optionalKey(ConfigSchema.int({ minimum: 1, maximum: 65_535 })),
  /** Required without a `url`. */
  database: Schema.optionalKey(Schema.NonEmptyString),
  /** Required without a `url`. */
  user: Schema.optionalKey(Schema.NonEmptyString),
  /** The `application_name` of every connection. @default "nebula-resource" */
  applicationName: Schema.String.pipe(ConfigSchema.withDefault("nebula-resource")),
  /**
   * The session's `statement_timeout`: whole milliseconds from 0 (no timeout) to
   * `maxStatementTimeoutMillis`. The server's default when absent.
   */
  statementTimeout: Schema.optionalKey(
    ConfigSchema.duration({ allowZero: true, maximumMillis: maxStatementTimeoutMillis, wholeMillis: true })
  ),
  /** The id of the credential that holds the password, resolved when a connection is created. */
  passwordCredential: Schema.optionalKey(Schema.NonEmptyString)
}).check(
  notBesideUrl("host"),
  notBesideUrl("port"),
  notBesideUrl("database"),
  notBesideUrl("user"),
  requiredWithoutUrl("database"),
  requiredWithoutUrl("user")
)

/**
 * The decoded config.
 *
 * @category models
 * @since 0.1.0
 */
export type Config = typeof Config.Type

/**
 * The config as a user writes it.
 *
 * @category models
 * @since 0.1.0
 */
export type ConfigInput = typeof Config.Encoded

/**
 * The `pg.Client` config of a decoded config and an optional password.
 *
 * @category constructors
 * @since 0.1.0
 */
export const clientConfig = (config: Config, password: Redacted.Redacted<string> | undefined): ClientConfig => ({
  ...(config.url !== undefined
    ? parseIntoClientConfig(config.url)
    : { host: config.host ?? "127.0.0.1", port: config.port ?? 5432, database: config.database, user: config.user }),
  ...(password === undefined ? {} : { password: Redacted.value(password) }),
  ...(config.statementTimeout === undefined ? {} : { statement_timeout: Duration.toMillis(config.statementTimeout) }),
  application_name: config.applicationName,
  keepAlive: true
})

// -----------------------------------------------------------------------------
// the resource
// -----------------------------------------------------------------------------

/**
 * A PostgreSQL resource declared under a key.
 *
 * @category models
 * @since 0.1.0
 */
export type PgResource<Key extends string> = Resource.Resource<
  Key,
  PgConnection,
  Config,
  ConfigInput,
  PgError | MissingCredential,
  never,
  readonly []
>

/**
 * What `make` lets a user override; pool options and health settings are merged over the driver's.
 *
 * @category models
 * @since 0.1.0
 */
export interface MakeOptions {
  readonly pool?: PoolOptions.Input | undefined
  readonly health?: Health.Options<PgConnection> | undefined
  readonly tenancy?: Tenancy.Tenancy | undefined
}

/**
 * The driver's pool defaults: a connect slower than 10 seconds is a create timeout.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultPool: PoolOptions.Input = { createTimeout: "10 seconds" }

const ping = (connection: PgConnection) => query(connection, "SELECT 1")

/**
 * Declares a PostgreSQL resource: `Db.layer(config)` registers it, `Db.use(f)` leases a connection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const Key extends string>(key: Key, options?: MakeOptions): PgResource<Key> =>
  Resource.make<Key, PgConnection, Config, ConfigInput, PgError | MissingCredential, never, readonly []>({
    key,
    config: Config,
    tenancy: options?.tenancy,
    pool: { ...defaultPool, ...options?.pool },
    create: (config, context) =>
      Effect.flatMap(
        config.passwordCredential === undefined ? Effect.undefined : context.credential(config.passwordCredential),
        (password): Effect.Effect<PgConnection, PgError, Scope.Scope> =>
          Effect.acquireRelease(internal.connect(clientConfig(config, password)), internal.close, {
            interruptible: true
          })
      ),
    validate: (connection) => Effect.sync(() => internal.isAlive(connection as internal.Connection)),
    recycle: (connection) => internal.recycle(connection as internal.Connection),
    needsRecycle: (connection) => internal.needsRecycle(connection as internal.Connection),
    health: {
      check: Health.pipeline([
        Health.connectivity(ping),
        Health.latency({ warn: "250 millis", fail: "2 seconds" }, ping)
      ]),
      ...options?.health
    },
    isRetryable: (error) => error._tag === "PgError" && error.retryable
  })

// -----------------------------------------------------------------------------
// queries
// -----------------------------------------------------------------------------

/**
 * Runs a statement on a leased connection and returns its rows (the last statement's, for a text
 * with several). Parameters are `$1`, `$2`, ... A connection-level failure marks the connection
 * broken; an interrupted statement does too, since the connection is then in an unknown state.
 *
 * @category queries
 * @since 0.1.0
 */
export const query: {
  <Row = Record<string, unknown>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ): (connection: PgConnection) => Effect.Effect<ReadonlyArray<Row>, PgError>
  <Row = Record<string, unknown>>(
    connection: PgConnection,
    sql: string,
    params?: ReadonlyArray<unknown>
  ): Effect.Effect<ReadonlyArray<Row>, PgError>
} = (...args: Array<any>): any =>
  isPgConnection(args[0])
    ? internal.query(args[0] as internal.Connection, args[1], args[2])
    : internal.prepare(args[0], args[1])

/**
 * Runs one statement on a pooled connection of `resource` and returns its rows: the single-statement
 * counterpart of `pg.Pool.query`. The connection is leased for the statement alone; when the pool is
 * full, the statement starts the moment a connection comes back, and the caller wakes once, with the
 * rows. Use `Db.use` for several statements (or a transaction) on one connection.
 *
 * **Example** (One statement)
 *
 * ```ts
 * import { Manager } from "@nebula/resource"
 * import { PgResource } from "@nebula/resource-pg"
 * import { Effect, Layer } from "effect"
 *
 * const Db = PgResource.make("db")
 * const layer = Db.layer({ url: "postgres://app@127.0.0.1:5432/app" }).pipe(Layer.provideMerge(Manager.layer))
 * const rows = PgResource.execute<{ readonly n: number }>(Db, "select $1::int as n", [1]).pipe(
 *   Effect.provide(layer)
 * )
 * ```
 *
 * @category queries
 * @since 0.1.0
 */
export const execute = <Row = Record<string, unknown>>(
  resource: PgResource<any>,
  sql: string,
  params?: ReadonlyArray<unknown>
): Effect.Effect<ReadonlyArray<Row>, PgError | AcquireError, Manager.Manager> =>
  Manager.useCallback(
    resource.key,
    internal.statement<Row>(sql, params) as Manager.Callback<unknown, ReadonlyArray<Row>, PgError>
  )

/**
 * Marks a connection broken, so that it is destroyed (and replaced) when its lease ends. Use it after
 * changing the session through `client` directly in a way a reset does not undo.
 *
 * @category queries
 * @since 0.1.0
 */
export const invalidate = (connection: PgConnection): Effect.Effect<void> =>
  Effect.sync(() => {
    ;(connection as internal.Connection).broken = true
  })
