/**
 * Effect's own SQL client (`effect/sql`) backed by a managed PostgreSQL resource: `sql` statements,
 * `sql.withTransaction`, `SqlSchema` and `SqlResolver` run on pooled, validated, recycled
 * connections of the resource, with its health checks, quarantine and tenancy. A statement borrows a
 * connection for its own duration; a transaction holds one lease from `BEGIN` to `COMMIT`.
 *
 * @since 0.1.0
 */
import { Manager, type ResourceError } from "@nebula/resource"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import * as SqlError from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as internal from "./internal/pgConnection.ts"
import type * as PgError from "./PgError.ts"
import type { PgConnection, PgResource } from "./PgResource.ts"

const escape = Statement.defaultEscape("\"")

/**
 * The PostgreSQL dialect of `effect/sql`: `$1` placeholders, double-quoted identifiers, and updates
 * from a `VALUES` list.
 *
 * @category constructors
 * @since 0.1.0
 */
export const compiler: Statement.Compiler = Statement.makeCompiler({
  dialect: "pg",
  placeholder: (index) => `$${index}`,
  onIdentifier: (value) => escape(value),
  onRecordUpdate: (placeholders, alias, columns, values, returning) => [
    `(values ${placeholders}) AS ${alias}${columns}${returning ? ` RETURNING ${returning[0]}` : ""}`,
    returning ? values.flat().concat(returning[1]) : values.flat()
  ],
  onCustom: () => ["", []]
})

const reasonOf = (error: PgError.PgError): SqlError.SqlErrorReason => {
  const fields = { cause: error, message: error.message }
  const code = error.code ?? ""
  if (error.connection) return new SqlError.ConnectionError(fields)
  if (code === "23505") {
    return new SqlError.UniqueViolation({ ...fields, constraint: error.constraint ?? "unknown" })
  }
  if (code.startsWith("23")) return new SqlError.ConstraintError(fields)
  if (code === "40P01") return new SqlError.DeadlockError(fields)
  if (code === "40001") return new SqlError.SerializationError(fields)
  if (code === "55P03") return new SqlError.LockTimeoutError(fields)
  if (code === "57014") return new SqlError.StatementTimeoutError(fields)
  if (code.startsWith("28")) return new SqlError.AuthenticationError(fields)
  if (code === "42501") return new SqlError.AuthorizationError(fields)
  if (code.startsWith("42")) return new SqlError.SqlSyntaxError(fields)
  return new SqlError.UnknownError(fields)
}

/**
 * A driver error as an `effect/sql` `SqlError`, its reason from the SQLSTATE.
 *
 * @category errors
 * @since 0.1.0
 */
export const toSqlError = (error: PgError.PgError): SqlError.SqlError =>
  new SqlError.SqlError({ reason: reasonOf(error) })

const acquireFailed = (error: ResourceError.AcquireError): SqlError.SqlError =>
  new SqlError.SqlError({
    reason: new SqlError.ConnectionError({ cause: error, message: error.message, operation: "acquire" })
  })

const connections = new WeakMap<SqlConnection.Connection, internal.Connection>()

const toConnection = (leased: PgConnection): SqlConnection.Connection => {
  const connection = leased as internal.Connection
  const execute = (
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows?: <A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>
  ) =>
    internal.query<object>(connection, sql, params).pipe(
      Effect.mapError(toSqlError),
      Effect.map((rows) => (transformRows === undefined ? rows : transformRows(rows)))
    )
  const values = (sql: string, params: ReadonlyArray<unknown>) => {
    internal.trackSession(connection, sql)
    return internal.runResult(connection, sql, params, "array").pipe(
      Effect.mapError(toSqlError),
      Effect.map((result) => (result?.rows ?? []) as unknown as ReadonlyArray<ReadonlyArray<unknown>>)
    )
  }
  const sqlConnection: SqlConnection.Connection = {
    execute,
    executeRaw: (sql, params) => {
      internal.trackSession(connection, sql)
      return Effect.mapError(internal.runResult(connection, sql, params), toSqlError)
    },
    executeUnprepared: execute,
    executeValues: values,
    executeValuesUnprepared: values,
    executeStream: (sql, params, transformRows) => Stream.fromIterableEffect(execute(sql, params, transformRows))
  }
  connections.set(sqlConnection, connection)
  return sqlConnection
}

const inTransaction = (connection: internal.Connection): boolean => {
  const status = connection.client.getTransactionStatus()
  return internal.isAlive(connection) && (status === "T" || status === "E")
}

const abortedCommit = new SqlError.SqlError({
  reason: new SqlError.UnknownError({
    cause: undefined,
    message: "COMMIT of a failed transaction: a statement of it failed, so it was rolled back",
    operation: "commit"
  })
})

/** Commits, or fails when the transaction had failed: PostgreSQL then answers COMMIT with ROLLBACK. */
const commit = (sqlConnection: SqlConnection.Connection): Effect.Effect<void, SqlError.SqlError> =>
  internal.runResult(connections.get(sqlConnection)!, "COMMIT", undefined).pipe(
    Effect.mapError(toSqlError),
    Effect.flatMap((result) => result.command === "ROLLBACK" ? Effect.fail(abortedCommit) : Effect.void)
  )

/**
 * A layer of `SqlClient.SqlClient` on a declared PostgreSQL resource, for the Manager the resource
 * is registered with: `PgSqlClient.layer(Db).pipe(Layer.provideMerge(DbLive))`. A failed acquire
 * (timeout, quarantine, denial) is a `SqlError` whose reason is a `ConnectionError` carrying the
 * framework's error as its cause.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <Key extends string>(
  resource: PgResource<Key>
): Layer.Layer<SqlClient.SqlClient, never, Manager.Manager> =>
  Layer.effect(SqlClient.SqlClient)(
    Effect.gen(function*() {
      const manager = yield* Manager.Manager
      return yield* SqlClient.make({
        acquirer: resource.acquire.pipe(
          Effect.mapError(acquireFailed),
          Effect.map(toConnection),
          Effect.provideService(Manager.Manager, manager)
        ),
        borrower: (f) =>
          resource.use((connection) => Effect.exit(f(toConnection(connection)))).pipe(
            Effect.mapError(acquireFailed),
            Effect.flatMap((exit) => exit),
            Effect.provideService(Manager.Manager, manager)
          ),
        compiler,
        commit,
        isTransaction: (sqlConnection) => inTransaction(connections.get(sqlConnection)!),
        driver: "nebula-pg",
        spanAttributes: [["db.system.name", "postgresql"]]
      })
    })
  ).pipe(Layer.provide(Reactivity.layer))
