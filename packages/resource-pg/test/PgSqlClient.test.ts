/**
 * `effect/sql` on the managed pool, against the real PostgreSQL (`PG_URL`). Skipped with a warning
 * without a server, unless `REQUIRE_SERVICES` is set.
 */
import { assert, describe, it } from "@effect/vitest"
import { Credentials, Manager } from "@nebula/resource"
import { Backend } from "@nebula/resource-testing"
import { Effect, Exit, Fiber, Layer, References } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import pg from "pg"
import { afterAll } from "vitest"
import * as PgResource from "../src/PgResource.ts"
import * as PgSqlClient from "../src/PgSqlClient.ts"

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const reachable = await Backend.gate({ name: "PostgreSQL", url: PG_URL, env: "PG_URL", defaultPort: 5432 })

const admin = reachable ? new pg.Pool({ connectionString: PG_URL, max: 1 }) : undefined
afterAll(() => admin?.end())

const countOf = (app: string) =>
  Effect.promise(() =>
    admin!.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = $1", [app])
  ).pipe(Effect.map((result) => result.rows[0]!.n))

const suffix = () => `${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const Db = PgResource.make("db")

const layerFor = (app: string, pool: PgResource.MakeOptions["pool"] = {}) => {
  const resource = Db.layer({ url: PG_URL, applicationName: app }, { pool }).pipe(
    Layer.provideMerge(Manager.layer),
    Layer.provide(Credentials.layer(Credentials.empty))
  )
  return PgSqlClient.layer(Db).pipe(Layer.provideMerge(resource))
}

const reasonOf = <A>(exit: Exit.Exit<A, unknown>) => {
  const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  const failure = error?._tag === "Fail" ? error.error : undefined
  return SqlError.isSqlError(failure) ? failure.reason : undefined
}

describe.runIf(reachable)("PgSqlClient (PostgreSQL)", () => {
  it.live("statements, inserts, transactions and classified errors run on the managed pool", () => {
    const app = `nebula-sql-${suffix()}`
    const table = `nebula_sql_${suffix()}`
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      assert.deepStrictEqual(yield* sql<{ n: number }>`select ${41}::int + 1 as n`, [{ n: 42 }])
      yield* sql`create table ${sql(table)} (id int primary key, name text not null)`
      yield* Effect.addFinalizer(() => Effect.orDie(sql`drop table if exists ${sql(table)}`))
      yield* sql`insert into ${sql(table)} ${sql.insert([{ id: 1, name: "ada" }, { id: 2, name: "grace" }])}`
      const duplicate = yield* Effect.exit(sql`insert into ${sql(table)} ${sql.insert({ id: 1, name: "again" })}`)
      const unique = reasonOf(duplicate)
      assert.strictEqual(unique?._tag, "UniqueViolation")
      assert.strictEqual((unique as SqlError.UniqueViolation).constraint, `${table}_pkey`)
      assert.strictEqual(reasonOf(yield* Effect.exit(sql`selec 1`))?._tag, "SqlSyntaxError")

      const pids: Array<number> = []
      const failed = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
        const [first] = yield* sql<{ pid: number }>`select pg_backend_pid() as pid`
        yield* sql`insert into ${sql(table)} ${sql.insert({ id: 3, name: "linus" })}`
        const [second] = yield* sql<{ pid: number }>`select pg_backend_pid() as pid`
        pids.push(first!.pid, second!.pid)
        return yield* Effect.fail("abort" as const)
      })))
      assert.deepStrictEqual(failed, Exit.fail("abort" as const))
      assert.strictEqual(pids.length, 2)
      assert.strictEqual(pids[0], pids[1])
      yield* sql.withTransaction(sql`update ${sql(table)} set name = ${"Ada"} where id = ${1}`)
      const rows = yield* sql<{ id: number; name: string }>`select id, name from ${sql(table)} order by id`
      assert.deepStrictEqual(rows, [{ id: 1, name: "Ada" }, { id: 2, name: "grace" }])
      const stats = yield* Manager.stats("db")
      assert.strictEqual(stats.inUse, 0)
      assert.isAtMost(stats.size, 2)
      assert.strictEqual(stats.acquisitions, 8)

      const caught = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
        yield* sql`insert into ${sql(table)} ${sql.insert({ id: 4, name: "barbara" })}`
        yield* Effect.exit(sql`insert into ${sql(table)} ${sql.insert({ id: 1, name: "duplicate" })}`)
      })))
      const aborted = reasonOf(caught)
      assert.strictEqual(aborted?._tag, "UnknownError")
      assert.match(aborted!.message!, /COMMIT of a failed transaction/)
      assert.deepStrictEqual(yield* sql`select id from ${sql(table)} where id = ${4}`, [])

      assert.deepStrictEqual(yield* sql`select 1 as a, 2 as a`.values, [[1, 2]])
      const raw = (yield* sql`update ${sql(table)} set name = name where id <= ${2}`.raw) as { rowCount: number }
      assert.strictEqual(raw.rowCount, 2)
      yield* sql`update ${sql(table)} set name = data.name from ${
        sql.updateValues([{ id: 1, name: "Ada L." }, { id: 2, name: "Grace H." }], "data")
      } where ${sql(table)}.id = data.id::int`
      assert.deepStrictEqual(yield* sql`select name from ${sql(table)} order by id`, [{ name: "Ada L." }, {
        name: "Grace H."
      }])
    }).pipe(
      Effect.scoped,
      Effect.provide(layerFor(app, { max: 2 })),
      Effect.andThen(Effect.gen(function*() {
        assert.strictEqual(yield* Backend.eventually(countOf(app), (n) => n === 0), 0)
      })),
      Effect.provideService(References.MinimumLogLevel, "None")
    )
  })

  it.live("a connection lost inside a transaction is a SqlError, and the pool replaces it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* Effect.exit(
        sql.withTransaction(sql`select pg_terminate_backend(pg_backend_pid())`)
      )
      assert.strictEqual(reasonOf(exit)?._tag, "ConnectionError")
      assert.deepStrictEqual(yield* sql<{ n: number }>`select 2::int as n`, [{ n: 2 }])
      assert.strictEqual((yield* Manager.stats("db")).inUse, 0)
    }).pipe(
      Effect.provide(layerFor(`nebula-sql-${suffix()}`, { max: 1 })),
      Effect.provideService(References.MinimumLogLevel, "None")
    ))

  it.live("interrupting a borrowed statement cancels it on the server and frees the lease", () => {
    const app = `nebula-sql-${suffix()}`
    const sleeping = Effect.promise(() =>
      admin!.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where application_name = $1 and state = 'active' and query like '%pg_sleep%'",
        [app]
      )
    ).pipe(Effect.map((result) => result.rows[0]!.n))
    const until = (predicate: (n: number) => boolean) => Backend.eventually(sleeping, predicate)
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const fiber = yield* Effect.forkChild(sql`select pg_sleep(30)`)
      assert.strictEqual(yield* until((n) => n === 1), 1)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* until((n) => n === 0), 0)
      assert.strictEqual((yield* Manager.stats("db")).inUse, 0)
      assert.deepStrictEqual(yield* sql<{ n: number }>`select 3::int as n`, [{ n: 3 }])
    }).pipe(
      Effect.provide(layerFor(app, { max: 1 })),
      Effect.provideService(References.MinimumLogLevel, "None")
    )
  })

  it.live("a temp table made by select ... into does not reach the next borrower", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [before] = yield* sql<{ pid: number }>`select pg_backend_pid() as pid`
      yield* sql`select 1 as x into temp nebula_probe_tmp`
      const [after] = yield* sql<{ pid: number; visible: boolean }>`
        select pg_backend_pid() as pid, to_regclass('pg_temp.nebula_probe_tmp') is not null as visible`
      assert.deepStrictEqual(after, { pid: before!.pid, visible: false })
    }).pipe(
      Effect.provide(layerFor(`nebula-sql-${suffix()}`, { max: 1 })),
      Effect.provideService(References.MinimumLogLevel, "None")
    ))

  it.live("an acquire the pool cannot serve is a SqlError with a ConnectionError reason", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* Effect.scoped(
        Effect.andThen(Db.acquire, Effect.exit(sql`select 1`))
      )
      const reason = reasonOf(exit)
      assert.strictEqual(reason?._tag, "ConnectionError")
      assert.strictEqual((reason!.cause as { _tag: string })._tag, "AcquireTimeout")
      assert.deepStrictEqual(yield* sql<{ n: number }>`select 1::int as n`, [{ n: 1 }])
    }).pipe(
      Effect.provide(layerFor(`nebula-sql-${suffix()}`, { max: 1, acquireTimeout: "200 millis" })),
      Effect.provideService(References.MinimumLogLevel, "None")
    ))
})
