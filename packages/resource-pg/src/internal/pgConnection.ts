import * as Effect from "effect/Effect"
import { Client, type ClientConfig, Connection as WireConnection, type QueryResult } from "pg"
import { fromUnknown, PgError } from "../PgError.ts"

/** @internal */
export const TypeId = "~@nebula/resource-pg/PgConnection"

/** @internal */
export class Connection {
  readonly [TypeId] = TypeId
  broken = false
  dirty = false
  running = false
  readonly client: Client
  readonly onInterrupt: Effect.Effect<void>
  constructor(client: Client) {
    this.client = client
    this.onInterrupt = Effect.sync(() => {
      if (this.running) this.broken = true
    })
  }
  get pid(): number {
    return (this.client as unknown as { readonly processID: number }).processID
  }
}

const brokenError = new PgError({ code: undefined, reason: "Connection is broken", connection: true })

// -----------------------------------------------------------------------------
// connect and close
// -----------------------------------------------------------------------------

/** @internal */
export const connect = (config: ClientConfig): Effect.Effect<Connection, PgError> =>
  Effect.callback<Connection, PgError>((resume) => {
    const client = new Client(config)
    const connection = new Connection(client)
    const markBroken = () => {
      connection.broken = true
    }
    client.on("error", markBroken)
    client.on("end", markBroken)
    client.connect((error: Error | null) => {
      if (error === null) return resume(Effect.succeed(connection))
      client.connection.stream.destroy()
      resume(Effect.fail(fromUnknown(error)))
    })
    return Effect.sync(() => client.connection.stream.destroy())
  })

/**
 * Asks the server to cancel the statement a connection is running, over a separate connection (the
 * protocol's CancelRequest), so that an interrupted statement stops holding locks and CPU.
 */
const cancelRunning = (connection: Connection): void => {
  const client = connection.client as unknown as {
    readonly host: string
    readonly port: number
    readonly processID: number | null
    readonly secretKey: number | null
  }
  if (client.processID === null || client.secretKey === null) return
  const wire = new WireConnection() as unknown as {
    connect: (port: number | string, host?: string) => void
    cancel: (processID: number, secretKey: number) => void
    end: () => void
    on: (event: string, listener: () => void) => void
  } & WireConnection
  wire.on("error", () => {})
  wire.on("connect", () => {
    wire.cancel(client.processID!, client.secretKey!)
    wire.end()
  })
  if (client.host.startsWith("/")) wire.connect(`${client.host}/.s.PGSQL.${client.port}`)
  else wire.connect(client.port, client.host)
}

/** @internal */
export const close = (connection: Connection): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (connection.running && !connection.client.connection.stream.destroyed) cancelRunning(connection)
    connection.broken = true
    const stream = connection.client.connection.stream
    const timer = setTimeout(() => stream.destroy(), 1000)
    connection.client.end(() => {
      clearTimeout(timer)
      resume(Effect.void)
    })
  })

/** @internal */
export const isAlive = (connection: Connection): boolean => {
  const stream = connection.client.connection.stream
  return !connection.broken && !stream.destroyed && stream.writable
}

// -----------------------------------------------------------------------------
// queries
// -----------------------------------------------------------------------------

const lastResult = (result: QueryResult | Array<QueryResult>): QueryResult =>
  Array.isArray(result) ? result[result.length - 1]! : result

const rowsOf = (result: QueryResult | Array<QueryResult>): ReadonlyArray<any> => lastResult(result)?.rows ?? []

/**
 * Sends a statement and calls `resume` once with `project` of the driver's result; never throws.
 * Returns what an interrupted caller runs: it marks the connection broken while the statement runs.
 */
const submit = <A>(
  connection: Connection,
  text: string,
  params: ReadonlyArray<unknown> | undefined,
  rowMode: "array" | undefined,
  project: (result: QueryResult | Array<QueryResult>) => A,
  resume: (effect: Effect.Effect<A, PgError>) => void
): Effect.Effect<void> => {
  if (connection.broken) {
    resume(Effect.fail(brokenError))
    return connection.onInterrupt
  }
  connection.running = true
  const done = (error: Error | undefined, result: QueryResult | Array<QueryResult>) => {
    connection.running = false
    if (error) {
      const failure = fromUnknown(error)
      if (failure.connection) connection.broken = true
      return resume(Effect.fail(failure))
    }
    resume(Effect.succeed(project(result)))
  }
  if (rowMode === undefined) connection.client.query(text, params as Array<unknown>, done)
  else connection.client.query({ text, values: params as Array<unknown>, rowMode }, done)
  return connection.onInterrupt
}

/** Runs a statement and resumes with `project` of the driver's result, in one step. */
const runWith = <A>(
  connection: Connection,
  text: string,
  params: ReadonlyArray<unknown> | undefined,
  rowMode: "array" | undefined,
  project: (result: QueryResult | Array<QueryResult>) => A
): Effect.Effect<A, PgError> =>
  Effect.callback<A, PgError>((resume) => submit(connection, text, params, rowMode, project, resume))

/** Runs a statement and returns the driver's result (the last one, for a text with several). @internal */
export const runResult = (
  connection: Connection,
  text: string,
  params: ReadonlyArray<unknown> | undefined,
  rowMode?: "array"
): Effect.Effect<QueryResult, PgError> => runWith(connection, text, params, rowMode, lastResult)

/** @internal */
export const run = <Row>(
  connection: Connection,
  text: string,
  params: ReadonlyArray<unknown> | undefined
): Effect.Effect<ReadonlyArray<Row>, PgError> => runWith(connection, text, params, undefined, rowsOf)

const plainStatement =
  /^\s*(select|insert|update|delete|merge|with|values|table|begin|start|commit|end|rollback|abort|savepoint|release|show|explain|copy|lock|fetch|move|close)\b/i
const sessionChange = /set_config|advisory_lock|nextval|setval|^\s*select\b[^;]*\binto\b|;\s*\S/i

/** Whether a statement may leave session state behind (a setting, a temp table, a lock...). @internal */
export const changesSession = (text: string): boolean => !plainStatement.test(text) || sessionChange.test(text)

/** Marks the connection's session dirty when `text` may change it, so that its return resets it. @internal */
export const trackSession = (connection: Connection, text: string): void => {
  if (!connection.dirty && changesSession(text)) connection.dirty = true
}

/** @internal */
export const query = <Row>(
  connection: Connection,
  text: string,
  params: ReadonlyArray<unknown> | undefined
): Effect.Effect<ReadonlyArray<Row>, PgError> => {
  trackSession(connection, text)
  return run<Row>(connection, text, params)
}

/**
 * A statement as a callback-style call on a pooled connection (`Manager.useCallback`), classified
 * once: it marks the session dirty when the statement may change it, then sends it.
 *
 * @internal
 */
export const statement = <Row>(
  text: string,
  params: ReadonlyArray<unknown> | undefined
): (
  connection: Connection,
  resume: (effect: Effect.Effect<ReadonlyArray<Row>, PgError>) => void
) => Effect.Effect<void> => {
  const dirties = changesSession(text)
  return (connection, resume) => {
    if (dirties) connection.dirty = true
    return submit(connection, text, params, undefined, rowsOf, resume)
  }
}

/**
 * A statement bound to its text and parameters, classified once: running it on many leases costs
 * no regular expression per run.
 *
 * @internal
 */
export const prepare = <Row>(
  text: string,
  params: ReadonlyArray<unknown> | undefined
): (connection: Connection) => Effect.Effect<ReadonlyArray<Row>, PgError> => {
  const start = statement<Row>(text, params)
  return (connection) => Effect.callback((resume) => start(connection, resume))
}

// -----------------------------------------------------------------------------
// recycle
// -----------------------------------------------------------------------------

/** `DISCARD ALL` without `DEALLOCATE ALL`, which would break the client's prepared statements. @internal */
export const resetSession = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; " +
  "SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES"

/** Whether a returned connection needs `recycle`: broken, busy, in a transaction or session-dirty. @internal */
export const needsRecycle = (connection: Connection): boolean => {
  if (connection.dirty || connection.running || !isAlive(connection)) return true
  const status = connection.client.getTransactionStatus()
  return status === "T" || status === "E"
}

/**
 * Rolls back an open transaction and resets a session that a statement may have changed; costs no
 * round trip for a clean, idle connection. Fails on a broken connection, so that it is destroyed.
 *
 * @internal
 */
export const recycle = (connection: Connection): Effect.Effect<void, PgError> =>
  Effect.suspend(() => {
    if (!isAlive(connection) || connection.running) return Effect.fail(brokenError)
    const status = connection.client.getTransactionStatus()
    const inTransaction = status === "T" || status === "E"
    if (!inTransaction && !connection.dirty) return Effect.void
    const text = inTransaction ? (connection.dirty ? `ROLLBACK; ${resetSession}` : "ROLLBACK") : resetSession
    return Effect.flatMap(run(connection, text, undefined), () => {
      connection.dirty = false
      return connection.client.getTransactionStatus() === "I" ? Effect.void : Effect.fail(brokenError)
    })
  })
