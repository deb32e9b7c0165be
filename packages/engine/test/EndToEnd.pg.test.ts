/**
 * The engine end to end on a real PostgreSQL (`PG_URL`, default postgres://postgres@127.0.0.1:5432/test):
 * an execution runs actions that acquire pooled connections, query and release them; an
 * execution-scoped database is closed when the execution ends; shutdown leaves no connection behind,
 * counted server-side in `pg_stat_activity` by `application_name`. Without a server the suite is
 * skipped with a warning, unless `REQUIRE_SERVICES` is set, in which case it fails.
 */
import { assert, describe, it } from "@effect/vitest"
import { Credentials, Manager } from "@nebula/resource"
import { PgResource } from "@nebula/resource-pg"
import { Backend } from "@nebula/resource-testing"
import { Effect, Fiber, Layer, References } from "effect"
import type * as Scope from "effect/Scope"
import pg from "pg"
import { afterAll } from "vitest"
import * as ActionRunner from "../src/ActionRunner.ts"

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const reachable = await Backend.gate({ name: "PostgreSQL", url: PG_URL, env: "PG_URL", defaultPort: 5432 })

const admin = reachable
  ? new pg.Pool({ connectionString: PG_URL, max: 2, application_name: "nebula-engine-admin" })
  : undefined
afterAll(() => admin?.end())

const countOf = (app: string) =>
  Effect.promise(() =>
    admin!.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = $1", [app])
  ).pipe(Effect.map((result) => result.rows[0]!.n))

const sleepingBackends = (app: string) =>
  Effect.promise(() =>
    admin!.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where application_name = $1 and query like '%pg_sleep%' and state = 'active'",
      [app]
    )
  ).pipe(Effect.map((result) => result.rows[0]!.n))

const appName = (name: string) => `nebula-engine-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

const url = (() => {
  const parsed = new URL(PG_URL)
  return parsed.toString()
})()

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, Scope.Scope>): void =>
  it.live(
    name,
    () => Effect.provideService(body(), References.MinimumLogLevel, process.env.TEST_LOGS ? "Debug" : "None")
  )

declare module "@nebula/resource/Manager" {
  interface Registry {
    readonly db: PgResource.PgConnection
    readonly "scratch-db": PgResource.PgConnection
  }
}

const Db = PgResource.make("db")

const globalLayer = (app: string) =>
  Db.layer({ url, applicationName: app }, { pool: { min: 0, max: 2 } }).pipe(
    Layer.provideMerge(Manager.layer),
    Layer.provide(Credentials.layer(Credentials.empty))
  )

describe.runIf(reachable)("engine on PostgreSQL", () => {
  live("an execution acquires, queries and releases; execution resources close with it; shutdown leaves none", () => {
    const globalApp = appName("global")
    const scratchApp = appName("scratch")
    const execution: ActionRunner.Execution = {
      tenantId: "acme",
      workflowId: "orders",
      executionId: `run-${Math.random().toString(36).slice(2, 8)}`
    }
    const Scratch = PgResource.make("scratch-db", { tenancy: ActionRunner.executionTenancy(execution) })
    const run = Effect.gen(function*() {
      const outcomes = yield* ActionRunner.runExecution(execution, {
        resources: Scratch.layer({ url, applicationName: scratchApp }, { pool: { min: 0, max: 1 } }).pipe(
          Layer.provide(Credentials.layer(Credentials.empty))
        ),
        actions: [
          {
            id: "add",
            run: Effect.scoped(
              Effect.flatMap(
                Manager.acquire("db"),
                (c) => PgResource.query<{ n: number }>(c, "select $1::int + 1 as n", [41])
              )
            )
          },
          {
            id: "open-transaction",
            run: Effect.scoped(
              Effect.flatMap(
                Manager.acquire("db"),
                (c) =>
                  Effect.andThen(
                    PgResource.query(c, "begin"),
                    PgResource.query<{ pid: number }>(c, "select pg_backend_pid() as pid")
                  )
              )
            )
          },
          {
            id: "after-rollback",
            run: Effect.scoped(
              Effect.flatMap(
                Manager.acquire("db"),
                (c) =>
                  PgResource.query<{ pid: number; fresh: boolean }>(
                    c,
                    "select pg_backend_pid() as pid, now() = statement_timestamp() as fresh"
                  )
              )
            )
          },
          {
            id: "scratch",
            run: Effect.scoped(
              Effect.flatMap(
                Manager.acquire("scratch-db"),
                (c) =>
                  Effect.flatMap(
                    PgResource.query<{ app: string }>(c, "select current_setting('application_name') as app"),
                    (rows) => Effect.map(countOf(scratchApp), (open) => ({ app: rows[0]!.app, open }))
                  )
              )
            )
          },
          {
            id: "bad-sql",
            run: Effect.scoped(
              Effect.flatMap(Manager.acquire("db"), (c) => PgResource.query(c, "select * from no_such_table_nebula"))
            )
          },
          { id: "never-runs", run: Effect.succeed("unreachable") }
        ]
      })
      const values = outcomes.slice(0, 4).map((o) => o._tag === "Succeeded" ? o.value : o) as Array<any>
      assert.deepStrictEqual(values[0], [{ n: 42 }])
      assert.deepStrictEqual(values[2], [{ pid: values[1][0].pid, fresh: true }])
      assert.deepStrictEqual(values[3], { app: scratchApp, open: 1 })
      assert.strictEqual(outcomes.length, 5)
      const failed = outcomes[4]!
      assert.strictEqual(failed._tag, "Failed")
      if (failed._tag === "Failed") {
        assert.strictEqual(failed.errorTag, "PgError")
        assert.isFalse(failed.retryable)
        assert.match(failed.message, /no_such_table_nebula/)
      }
      assert.strictEqual(yield* Backend.eventually(countOf(scratchApp), (n) => n === 0), 0)
      assert.isFalse((yield* Manager.list).some((row) => row.key === "scratch-db"))
      const stats = yield* Manager.stats("db")
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.acquisitions, 4)
      assert.strictEqual(yield* countOf(globalApp), stats.size)
    }).pipe(Effect.provide(globalLayer(globalApp)))
    return Effect.gen(function*() {
      yield* run
      assert.strictEqual(yield* Backend.eventually(countOf(globalApp), (n) => n === 0), 0)
    })
  })

  live("cancelling an execution mid-query cancels the statement and leaks no connection", () => {
    const app = appName("cancel")
    const execution: ActionRunner.Execution = { tenantId: "acme", workflowId: "orders", executionId: "run-cancel" }
    const run = Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(ActionRunner.runExecution(execution, {
        actions: [{
          id: "slow",
          run: Effect.scoped(Effect.flatMap(Manager.acquire("db"), (c) => PgResource.query(c, "select pg_sleep(30)")))
        }]
      }))
      assert.strictEqual(yield* Backend.eventually(sleepingBackends(app), (n) => n === 1), 1)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* Backend.eventually(sleepingBackends(app), (n) => n === 0), 0)
      const stats = yield* Manager.stats("db")
      assert.strictEqual(stats.inUse, 0)
      const answer = yield* Effect.scoped(
        Effect.flatMap(Db.acquire, (c) => PgResource.query<{ n: number }>(c, "select 7::int as n"))
      )
      assert.deepStrictEqual(answer, [{ n: 7 }])
    }).pipe(Effect.provide(globalLayer(app)))
    return Effect.gen(function*() {
      yield* run
      assert.strictEqual(yield* Backend.eventually(countOf(app), (n) => n === 0), 0)
    })
  })
})
