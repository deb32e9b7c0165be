/**
 * The PostgreSQL driver against a real server (`PG_URL`, default postgres://postgres@127.0.0.1:5432/test).
 * Each test names its connections with a unique `application_name` and counts them server-side in
 * `pg_stat_activity`, so files and tests running in parallel do not interfere. Without a server the
 * suite is skipped with a warning, unless `REQUIRE_SERVICES` is set, in which case it fails.
 */
import { assert, describe, it } from "@effect/vitest"
import { Credentials, Manager } from "@nebula/resource"
import { Backend, Conformance } from "@nebula/resource-testing"
import { Clock, Effect, Exit, Fiber, Layer, Redacted, References, Schema } from "effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import pg from "pg"
import { afterAll } from "vitest"
import * as internal from "../src/internal/pgConnection.ts"
import * as PgError from "../src/PgError.ts"
import * as PgResource from "../src/PgResource.ts"
import * as Proxy from "./utils/proxy.ts"

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const reachable = await Backend.gate({ name: "PostgreSQL", url: PG_URL, env: "PG_URL", defaultPort: 5432 })

// -----------------------------------------------------------------------------
// fixtures
// -----------------------------------------------------------------------------

const base = new URL(PG_URL)
const password = decodeURIComponent(base.password)
base.password = ""
const url = base.toString()
const target = { host: base.hostname === "localhost" ? "127.0.0.1" : base.hostname, port: Number(base.port || 5432) }
const credentials = Credentials.layer(
  password === "" ? Credentials.empty : Credentials.fromRecord({ "pg-password": password })
)

const Db = PgResource.make("db")

let serial = 0
const appName = (test: string) =>
  `nebula-test-${test}-${process.pid}-${++serial}-${Math.random().toString(36).slice(2, 8)}`

const configFor = (app: string, extra: Partial<PgResource.ConfigInput> = {}): PgResource.ConfigInput =>
  ({
    url,
    applicationName: app,
    ...(password === "" ? {} : { passwordCredential: "pg-password" }),
    ...extra
  }) as PgResource.ConfigInput

const layerFor = (config: PgResource.ConfigInput, pool: PgResource.MakeOptions["pool"] = {}) =>
  Db.layer(config, { pool }).pipe(Layer.provideMerge(Manager.layer), Layer.provide(credentials))

/** `it.live` with the framework's logs off unless `TEST_LOGS` is set: several tests provoke failures on purpose. */
const live = <A, E>(name: string, body: () => Effect.Effect<A, E, Scope.Scope>): void =>
  it.live(
    name,
    () => Effect.provideService(body(), References.MinimumLogLevel, process.env.TEST_LOGS ? "Debug" : "None")
  )

const admin = reachable
  ? new pg.Pool({ connectionString: PG_URL, max: 2, application_name: "nebula-test-admin" })
  : undefined
afterAll(() => admin?.end())

const adminQuery = <Row>(text: string, params: ReadonlyArray<unknown>) =>
  Effect.promise(() => admin!.query(text, params as Array<unknown>)).pipe(Effect.map((r) => r.rows as Array<Row>))

/** Live connections named `app`, leaving out backends already terminated. */
const countOf = (app: string, exclude: Iterable<number> = []) =>
  adminQuery<{ n: number }>(
    "select count(*)::int as n from pg_stat_activity where application_name = $1 and not (pid = any($2::int[]))",
    [app, Array.from(exclude)]
  ).pipe(Effect.map((rows) => rows[0]!.n))

const pidsOf = (app: string) =>
  adminQuery<{ pid: number }>("select pid from pg_stat_activity where application_name = $1", [app]).pipe(
    Effect.map((rows) => rows.map((r) => r.pid))
  )

const now = Clock.currentTimeMillis

const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const withProxy = Effect.acquireRelease(
  Effect.promise(() => Proxy.start(target)),
  (proxy) => Effect.promise(() => proxy.close())
)

const pidQuery = PgResource.query<{ pid: number }>("select pg_backend_pid() as pid")
const leasePid = Db.use((c) => Effect.succeed(c.pid))

// -----------------------------------------------------------------------------
// tests without a server
// -----------------------------------------------------------------------------

describe("PgResource (no server)", () => {
  it("classifies errors: connection-level ones evict, auth and query errors do not; retryable for creates", () => {
    const classify = (code: string | undefined, message = "boom") => {
      const error = PgError.fromUnknown(Object.assign(new Error(message), code === undefined ? {} : { code }))
      return [error.connection, error.retryable]
    }
    assert.deepStrictEqual(classify("08006"), [true, true])
    assert.deepStrictEqual(classify("57P01"), [true, true])
    assert.deepStrictEqual(classify("57P03"), [true, true])
    assert.deepStrictEqual(classify("ECONNREFUSED", ""), [true, true])
    assert.deepStrictEqual(classify("EPIPE"), [true, true])
    assert.deepStrictEqual(classify(undefined, "Connection terminated unexpectedly"), [true, true])
    assert.deepStrictEqual(classify("53300"), [false, true])
    assert.deepStrictEqual(classify("28P01"), [false, false])
    assert.deepStrictEqual(classify("28000"), [false, false])
    assert.deepStrictEqual(classify("3D000"), [false, false])
    assert.deepStrictEqual(classify("42601"), [false, false])
    const refused = PgError.fromUnknown(
      Object.assign(new AggregateError([new Error("connect ECONNREFUSED ::1:5432")], ""), { code: "ECONNREFUSED" })
    )
    assert.strictEqual(refused.message, "connect ECONNREFUSED ::1:5432")
    assert.strictEqual(
      PgError.fromUnknown(Object.assign(new Error("syntax error"), { code: "42601" })).message,
      "syntax error (42601)"
    )
  })

  it("decodes both config forms with defaults and maps them to a pg.Client config, password only from the credential", () => {
    const decode = Schema.decodeUnknownSync(PgResource.Config)
    const byUrl = decode({ url: "postgres://app@db.internal:6543/app", statementTimeout: "2 seconds" })
    const client = PgResource.clientConfig(byUrl, Redacted.make("s3cret"))
    assert.include(client, { host: "db.internal", port: 6543, database: "app", user: "app", password: "s3cret" })
    assert.include(client, { application_name: "nebula-resource", statement_timeout: 2000 })
    const byHost = decode({ database: "app", user: "app", applicationName: "svc" })
    assert.deepStrictEqual(PgResource.clientConfig(byHost, undefined), {
      host: "127.0.0.1",
      port: 5432,
      database: "app",
      user: "app",
      application_name: "svc",
      keepAlive: true
    })
    assert.throws(() => decode({ url: "postgres://app:pw@db/app" }))
    assert.throws(() => decode({ url: "http://db/app" }))
    assert.throws(() => decode({ database: "app" }))
    assert.throws(() => decode({ database: "app", user: "app", port: 0 }))
  })

  it("knows which statements may leave session state behind", () => {
    for (
      const sql of [
        "select 1",
        " SELECT * FROM t",
        "insert into t values (1)",
        "with x as (select 1) select * from x",
        "begin",
        "commit",
        "show work_mem",
        "update t set x = 1;"
      ]
    ) {
      assert.isFalse(internal.changesSession(sql), sql)
    }
    for (
      const sql of [
        "set work_mem = '1MB'",
        "SET LOCAL x = 1",
        "create temp table t (x int)",
        "listen ch",
        "prepare p as select 1",
        "select set_config('a', 'b', false)",
        "select pg_advisory_lock(1)",
        "select 1; set x = 1",
        "reset all",
        "declare c cursor with hold for select 1"
      ]
    ) {
      assert.isTrue(internal.changesSession(sql), sql)
    }
  })
})

// -----------------------------------------------------------------------------
// tests against the server
// -----------------------------------------------------------------------------

describe.runIf(reachable)("PgResource (PostgreSQL)", () => {
  live("acquire, query, release, shutdown: the connections show in pg_stat_activity, none after shutdown", () => {
    const app = appName("basic")
    return Effect.gen(function*() {
      assert.deepStrictEqual(yield* Db.use(PgResource.query<{ n: number }>("select 1::int as n")), [{ n: 1 }])
      const settings = yield* Db.use((c) =>
        PgResource.query<{ timeout: string; name: string }>(
          c,
          "select current_setting('statement_timeout') as timeout, current_setting('application_name') as name"
        )
      )
      assert.deepStrictEqual(settings, [{ timeout: "1500ms", name: app }])
      const echoed = yield* Db.use(PgResource.query<{ v: string }>("select $1::text as v", ["it's"]))
      assert.deepStrictEqual(echoed, [{ v: "it's" }])
      const pids = yield* Effect.all(
        Array.from({ length: 3 }, () => Db.use((c) => Effect.as(PgResource.query(c, "select pg_sleep(0.05)"), c.pid))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(new Set(pids).size, 3)
      yield* Effect.scoped(Effect.flatMap(Db.acquire, (c) => PgResource.query(c, "select 1")))
      const stats = yield* Manager.stats("db")
      assert.strictEqual(stats.size, 3)
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(yield* countOf(app), 3)
      yield* Manager.shutdown
      assert.strictEqual(yield* Backend.eventually(countOf(app), (n) => n === 0), 0)
    }).pipe(Effect.provide(layerFor(configFor(app, { statementTimeout: "1500 millis" }), { max: 3 })))
  })

  live("passes the driver conformance suite, counting connections in pg_stat_activity", () => {
    const app = appName("conformance")
    const Checked = PgResource.make("db-conformance", { health: { interval: "200 millis" } })
    return Effect.gen(function*() {
      const report = yield* Conformance.run({
        resource: Checked,
        layer: Checked.layer(configFor(app), { pool: { min: 0, max: 2 } }).pipe(Layer.provide(credentials)),
        useInstance: PgResource.query("select 1"),
        countConnections: countOf(app),
        healthWait: "3 seconds",
        stepTimeout: "5 seconds"
      })
      assert.isTrue(report.passed)
      assert.deepStrictEqual(report.checks.filter((check) => check.skipped).map((check) => check.name), [
        Conformance.checkNames.accessDenied
      ])
    })
  })

  live("recycle rolls back an open transaction and resets the session; a clean lease costs no round trip", () => {
    const app = appName("recycle")
    return Effect.gen(function*() {
      const [{ pid, workMem }] = yield* Db.use((c) =>
        Effect.map(
          PgResource.query<{ work_mem: string }>(c, "show work_mem"),
          (rows) => [{ pid: c.pid, workMem: rows[0]!.work_mem }] as const
        )
      )
      yield* Db.use((c) =>
        Effect.gen(function*() {
          yield* PgResource.query(c, "begin")
          yield* PgResource.query(c, "create temp table recycled (x int)")
          yield* PgResource.query(c, "insert into recycled values (1)")
          assert.strictEqual(c.client.getTransactionStatus(), "T")
        })
      )
      yield* Db.use((c) =>
        Effect.gen(function*() {
          assert.strictEqual(c.pid, pid)
          assert.strictEqual(c.client.getTransactionStatus(), "I")
          const [row] = yield* PgResource.query<{ t: string | null; x: string | null }>(
            c,
            "select to_regclass('pg_temp.recycled')::text as t, txid_current_if_assigned()::text as x"
          )
          assert.deepStrictEqual(row, { t: null, x: null })
        })
      )
      yield* Db.use((c) =>
        Effect.gen(function*() {
          yield* PgResource.query(c, "set work_mem = '7MB'")
          yield* PgResource.query(c, "select set_config('application_name', 'hijacked', false)")
          yield* PgResource.query(c, "create temp table leftover (x int)")
        })
      )
      yield* Db.use((c) =>
        Effect.gen(function*() {
          assert.strictEqual(c.pid, pid)
          const [row] = yield* PgResource.query<{ w: string; a: string; t: string | null }>(
            c,
            "select current_setting('work_mem') as w, current_setting('application_name') as a, " +
              "to_regclass('pg_temp.leftover')::text as t"
          )
          assert.deepStrictEqual(row, { w: workMem, a: app, t: null })
        })
      )
      yield* Db.use((c) =>
        Effect.gen(function*() {
          yield* PgResource.query(c, "begin")
          const error = yield* Effect.flip(PgResource.query(c, "select 1/0"))
          assert.strictEqual(error.code, "22012")
        })
      )
      const counted = { calls: 0 }
      yield* Db.use((c) =>
        Effect.gen(function*() {
          assert.strictEqual(c.pid, pid)
          assert.strictEqual(c.client.getTransactionStatus(), "I")
          const client = c.client as unknown as { query: (...args: Array<unknown>) => unknown }
          const original = client.query
          client.query = function(this: unknown, ...args: Array<unknown>) {
            counted.calls++
            return original.apply(this, args)
          }
          yield* PgResource.query(c, "select 1")
        })
      )
      yield* Db.use((c) => Effect.sync(() => delete (c.client as unknown as { query?: unknown }).query))
      assert.strictEqual(counted.calls, 1)
      const stats = yield* Manager.stats("db")
      assert.strictEqual(stats.destroyed, 0)
      assert.strictEqual(stats.created, 1)
    }).pipe(Effect.provide(layerFor(configFor(app), { min: 1, max: 1 })))
  })

  live("a query error keeps the instance (the next lease gets the same backend); invalidate evicts it", () => {
    const app = appName("syntax")
    return Effect.gen(function*() {
      const pid = yield* leasePid
      const error = yield* Effect.flip(Db.use(PgResource.query("selec 1")))
      assert.strictEqual(error._tag, "PgError")
      if (error._tag !== "PgError") return
      assert.strictEqual(error.code, "42601")
      assert.isFalse(error.connection)
      assert.match(error.message, /syntax error/)
      const unique = yield* Effect.flip(Db.use(PgResource.query("select 1 where 1 = any($1::int[])", ["nope"])))
      assert.strictEqual(unique._tag === "PgError" ? unique.code : "", "22P02")
      assert.strictEqual(yield* leasePid, pid)
      assert.deepStrictEqual(yield* Db.use(pidQuery), [{ pid }])
      assert.strictEqual((yield* Manager.stats("db")).destroyed, 0)
      yield* Db.use(PgResource.invalidate)
      assert.notStrictEqual(yield* leasePid, pid)
      assert.strictEqual((yield* Manager.stats("db")).destroyed, 1)
    }).pipe(Effect.provide(layerFor(configFor(app), { min: 1, max: 1 })))
  })

  live("an interrupted statement is cancelled server-side and its connection replaced", () => {
    const app = appName("interrupt")
    return Effect.gen(function*() {
      const pid = yield* leasePid
      const timedOut = yield* Db.use(PgResource.query("select pg_sleep(10)")).pipe(
        Effect.timeoutOption("150 millis")
      )
      assert.strictEqual(timedOut._tag, "None")
      const next = yield* leasePid
      assert.notStrictEqual(next, pid)
      const running = (yield* Backend.eventually(pidsOf(app), (pids) => !pids.includes(pid), 2000)).includes(pid)
      assert.isFalse(running, "the sleeping backend was cancelled and closed")
      assert.strictEqual((yield* Manager.stats("db")).destroyed, 1)
    }).pipe(Effect.provide(layerFor(configFor(app), { min: 1, max: 1 })))
  })

  live("pg_terminate_backend on every pooled connection under load: broken instances are evicted and replaced", () => {
    const app = appName("terminate")
    const max = 4
    return Effect.gen(function*() {
      yield* Effect.all(Array.from({ length: max }, () => Db.use(PgResource.query("select pg_sleep(0.02)"))), {
        concurrency: "unbounded"
      })
      const start = yield* now
      const deadline = start + 1200
      const terminated = new Set<number>()
      let terminatedAt = Number.POSITIVE_INFINITY
      const outcomes: Array<{ readonly at: number; readonly pid?: number; readonly error?: unknown }> = []
      let peakLive = 0
      let peakSize = 0
      const worker = Effect.gen(function*() {
        while ((yield* now) < deadline) {
          const exit = yield* Effect.exit(Db.use(pidQuery))
          const at = yield* now
          outcomes.push(
            Exit.isSuccess(exit)
              ? { at, pid: exit.value[0]!.pid }
              : { at, error: Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined }
          )
        }
      })
      const sampler = Effect.gen(function*() {
        while ((yield* now) < deadline + 200) {
          peakLive = Math.max(peakLive, yield* countOf(app, terminated))
          peakSize = Math.max(peakSize, (yield* Manager.stats("db")).size)
          yield* Effect.sleep(20)
        }
      })
      const killer = Effect.gen(function*() {
        yield* Effect.sleep(300)
        const pids = yield* pidsOf(app)
        assert.strictEqual(pids.length, max)
        for (const pid of pids) terminated.add(pid)
        terminatedAt = yield* now
        yield* adminQuery("select pg_terminate_backend(pid) from unnest($1::int[]) as pid", [pids])
      })
      yield* Effect.all([...Array.from({ length: 6 }, () => worker), sampler, killer], {
        concurrency: "unbounded",
        discard: true
      })
      const failures = outcomes.filter((o) => o.error !== undefined)
      const errors = failures.map((o) => (o.error as { _tag: string; error?: unknown }))
      assert.isTrue(
        errors.every((e) => e._tag === "Fail" && PgError.isPgError(e.error) && e.error.connection),
        "only connection-level query errors, no acquire error"
      )
      assert.isAtMost(failures.length, terminated.size)
      const window = terminatedAt + 300
      assert.deepStrictEqual(failures.filter((o) => o.at > window), [])
      const after = outcomes.filter((o) => o.at > window)
      assert.isAbove(after.length, 50)
      assert.isTrue(after.every((o) => o.pid !== undefined && !terminated.has(o.pid)))
      assert.isAtMost(peakLive, max)
      assert.isAtMost(peakSize, max)
      const stats = yield* Manager.stats("db")
      assert.isAtLeast(stats.destroyed, terminated.size)
      assert.strictEqual(stats.timeouts, 0)
      yield* Manager.shutdown
      assert.strictEqual(yield* Backend.eventually(countOf(app), (n) => n === 0), 0)
    }).pipe(Effect.provide(layerFor(configFor(app), { min: max, max, acquireTimeout: "5 seconds" })))
  })

  live("a missing password credential fails the acquire with MissingCredential, without an attempt to connect", () => {
    const app = appName("credential")
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Db.use(pidQuery))
      assert.strictEqual(error._tag, "MissingCredential")
      if (error._tag !== "MissingCredential") return
      assert.strictEqual(error.credentialId, "db-password-missing")
      assert.isFalse(error.retryable)
      assert.strictEqual((yield* Manager.stats("db")).created, 0)
      assert.strictEqual(yield* countOf(app), 0)
    }).pipe(Effect.provide(layerFor(configFor(app, { passwordCredential: "db-password-missing" }), { min: 0 })))
  })

  live("a config whose URL embeds a password is rejected with InvalidConfig", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(Effect.void, layerFor({ url: "postgres://app:pw@127.0.0.1:5432/app" }))
      )
      assert.strictEqual(error._tag, "InvalidConfig")
      if (error._tag !== "InvalidConfig") return
      assert.isTrue(error.violations.some((v) => v.path === "config.url" && /no password/.test(v.constraint)))
    }))

  live(
    "connecting to a closed port fails with CreateFailed within the acquire timeout, after a bounded number of attempts",
    () => {
      const app = appName("closed")
      return Effect.gen(function*() {
        const port = yield* Effect.promise(closedPort)
        const closedUrl = new URL(url)
        closedUrl.hostname = "127.0.0.1"
        closedUrl.port = String(port)
        const start = yield* now
        const error = yield* Effect.flip(
          Db.use(pidQuery).pipe(
            Effect.provide(
              layerFor(configFor(app, { url: closedUrl.toString() }), { min: 0, acquireTimeout: "1 second" })
            )
          )
        )
        const elapsed = (yield* now) - start
        assert.strictEqual(error._tag, "CreateFailed")
        if (error._tag !== "CreateFailed") return
        assert.match(error.reason, /ECONNREFUSED/)
        assert.isTrue(error.retryable)
        assert.isAtLeast(error.attempts, 2)
        assert.isAtMost(error.attempts, 10)
        assert.isAtMost(elapsed, 1600)
      })
    }
  )

  live("an authentication error (a role that does not exist) fails at once, not retried", () => {
    const app = appName("auth")
    return Effect.gen(function*() {
      const noRole = new URL(url)
      noRole.username = "nebula_no_such_role"
      const start = yield* now
      const error = yield* Effect.flip(
        Db.use(pidQuery).pipe(
          Effect.provide(layerFor(configFor(app, { url: noRole.toString() }), { min: 0, acquireTimeout: "5 seconds" }))
        )
      )
      assert.strictEqual(error._tag, "CreateFailed")
      if (error._tag !== "CreateFailed") return
      assert.isFalse(error.retryable)
      assert.strictEqual(error.attempts, 1)
      assert.match(error.reason, /nebula_no_such_role/)
      assert.isAtMost((yield* now) - start, 1000)
    })
  })

  describe("PgResource.execute: one statement per lease", () => {
    const execPid = PgResource.execute<{ pid: number }>(Db, "select pg_backend_pid() as pid")
    /** Waits until backend `pid` runs a statement containing `text`. */
    const runningOn = (pid: number, text: string) =>
      Backend.eventually(
        adminQuery<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where pid = $1 and state = 'active' and strpos(query, $2) > 0",
          [pid, text]
        ).pipe(Effect.map((rows) => rows[0]!.n)),
        (n) => n === 1,
        5000
      ).pipe(Effect.flatMap((n) => n === 1 ? Effect.void : Effect.die(`backend ${pid} never ran ${text}`)))

    live("many concurrent callers on a small pool: every statement gets its own result, within max connections", () => {
      const app = appName("execute")
      return Effect.gen(function*() {
        const results = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (i) =>
            PgResource.execute<{ i: number; pid: number }>(Db, "select $1::int as i, pg_backend_pid() as pid", [i]),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(results.map((rows) => rows[0]!.i), Array.from({ length: 40 }, (_, i) => i))
        assert.isAtMost(new Set(results.map((rows) => rows[0]!.pid)).size, 2)
        const stats = yield* Manager.stats("db")
        assert.deepStrictEqual([stats.inUse, stats.waiters, stats.acquisitions], [0, 0, 40])
        assert.isAtMost(yield* countOf(app), 2)
        yield* Manager.shutdown
        assert.strictEqual(yield* Backend.eventually(countOf(app), (n) => n === 0), 0)
      }).pipe(Effect.provide(layerFor(configFor(app), { min: 0, max: 2 })))
    })

    live(
      "a statement that changes the session is reset before the next lease; a query error keeps the connection",
      () => {
        const app = appName("execute-session")
        return Effect.gen(function*() {
          const [{ pid }] = yield* execPid
          const [{ work_mem }] = yield* PgResource.execute<{ work_mem: string }>(Db, "show work_mem")
          yield* PgResource.execute(Db, "set work_mem = '7MB'")
          assert.deepStrictEqual(yield* PgResource.execute(Db, "show work_mem"), [{ work_mem }])
          const error = yield* Effect.flip(PgResource.execute(Db, "selec 1"))
          assert.strictEqual(error._tag === "PgError" ? error.code : error._tag, "42601")
          assert.deepStrictEqual(yield* execPid, [{ pid }])
          assert.strictEqual((yield* Manager.stats("db")).destroyed, 0)
        }).pipe(Effect.provide(layerFor(configFor(app), { min: 1, max: 1 })))
      }
    )

    live("an interrupted statement, started on a handed-over connection, is cancelled server-side and replaced", () => {
      const app = appName("execute-interrupt")
      return Effect.gen(function*() {
        const [{ pid }] = yield* execPid
        const holder = yield* Effect.forkChild(PgResource.execute(Db, "select pg_sleep(0.2)"))
        yield* runningOn(pid, "pg_sleep(0.2)")
        const sleeper = yield* Effect.forkChild(PgResource.execute(Db, "select pg_sleep(10)"))
        const after = yield* Effect.forkChild(execPid)
        yield* Fiber.join(holder)
        yield* runningOn(pid, "pg_sleep(10)")
        yield* Fiber.interrupt(sleeper)
        const [{ pid: next }] = yield* Fiber.join(after)
        assert.notStrictEqual(next, pid)
        const gone = yield* Backend.eventually(pidsOf(app), (pids) => !pids.includes(pid), 2000)
        assert.isFalse(gone.includes(pid), "the sleeping backend was cancelled and closed")
        const stats = yield* Manager.stats("db")
        assert.deepStrictEqual([stats.destroyed, stats.inUse], [1, 0])
      }).pipe(Effect.provide(layerFor(configFor(app), { min: 1, max: 1 })))
    })

    live("a backend terminated under a running statement fails it as a connection error and is replaced", () => {
      const app = appName("execute-terminate")
      return Effect.gen(function*() {
        const [{ pid }] = yield* execPid
        const running = yield* Effect.forkChild(PgResource.execute(Db, "select pg_sleep(5)"))
        yield* runningOn(pid, "pg_sleep(5)")
        yield* adminQuery("select pg_terminate_backend($1)", [pid])
        const error = yield* Effect.flip(Fiber.join(running))
        assert.isTrue(PgError.isPgError(error) && error.connection)
        const [{ pid: next }] = yield* execPid
        assert.notStrictEqual(next, pid)
        assert.strictEqual((yield* Manager.stats("db")).destroyed, 1)
      }).pipe(Effect.provide(layerFor(configFor(app), { min: 1, max: 1 })))
    })
  })

  describe("through a TCP proxy", () => {
    live(
      "backend down: acquires fail with CreateFailed within the acquire timeout; when it is back, pending and new acquires succeed",
      () => {
        const app = appName("down")
        return Effect.gen(function*() {
          const proxy = yield* withProxy
          yield* Effect.gen(function*() {
            const before = yield* leasePid
            proxy.mode = "refuse"
            proxy.cut()
            yield* Effect.sleep(50)
            const start = yield* now
            const error = yield* Effect.flip(Db.use(pidQuery))
            const elapsed = (yield* now) - start
            assert.include(["CreateFailed", "CreateTimeout"], error._tag, `backend down, not ${error._tag}`)
            assert.isAtMost(elapsed, 1500 + 500)
            assert.isAtLeast(error._tag === "CreateFailed" ? error.attempts : 0, 2)
            const pending = yield* Effect.forkChild(Db.use(pidQuery), { startImmediately: true })
            yield* Effect.sleep(300)
            proxy.mode = "forward"
            const [{ pid }] = yield* Fiber.join(pending)
            assert.notStrictEqual(pid, before)
            const more = yield* Effect.all(Array.from({ length: 3 }, () => Db.use(pidQuery)), {
              concurrency: "unbounded"
            })
            assert.strictEqual(more.length, 3)
            yield* Manager.shutdown
            assert.strictEqual(yield* Backend.eventually(countOf(app), (n) => n === 0), 0)
          }).pipe(
            Effect.provide(
              layerFor(configFor(app, { url: proxy.rewrite(url) }), {
                min: 1,
                max: 3,
                acquireTimeout: "1500 millis",
                validateSkipWindow: 0
              })
            )
          )
        })
      }
    )

    live("a black-holed backend gives CreateTimeout and the abandoned sockets are closed", () => {
      const app = appName("blackhole")
      return Effect.gen(function*() {
        const proxy = yield* withProxy
        proxy.mode = "blackhole"
        yield* Effect.gen(function*() {
          const start = yield* now
          const error = yield* Effect.flip(Db.use(pidQuery))
          const elapsed = (yield* now) - start
          assert.strictEqual(error._tag, "CreateTimeout")
          assert.isAtMost(elapsed, 1000 + 500)
          assert.isAtLeast(proxy.accepted(), 1)
          assert.strictEqual(yield* Backend.eventually(Effect.sync(proxy.open), (n) => n === 0), 0)
          assert.strictEqual((yield* Manager.stats("db")).size, 0)
        }).pipe(
          Effect.provide(
            layerFor(configFor(app, { url: proxy.rewrite(url) }), {
              min: 0,
              max: 2,
              createTimeout: "300 millis",
              acquireTimeout: "1 second"
            })
          )
        )
      })
    })

    live("a backend slower than the create timeout gives CreateTimeout and leaks no server-side connection", () => {
      const app = appName("slow")
      return Effect.gen(function*() {
        const proxy = yield* withProxy
        proxy.latencyMs = 250
        yield* Effect.gen(function*() {
          let seen = 0
          const sampling = yield* Effect.forkChild(
            Effect.forever(
              Effect.andThen(
                Effect.tap(countOf(app), (n) => Effect.sync(() => (seen = Math.max(seen, n)))),
                Effect.sleep(20)
              )
            ),
            { startImmediately: true }
          )
          const error = yield* Effect.flip(Db.use(pidQuery))
          assert.strictEqual(error._tag, "CreateTimeout")
          yield* Effect.sleep(300)
          yield* Fiber.interrupt(sampling)
          assert.isAbove(seen, 0, "the slow connects did reach the server")
          assert.strictEqual(yield* Backend.eventually(countOf(app), (n) => n === 0), 0)
          yield* Effect.sleep(400)
          assert.strictEqual(yield* countOf(app), 0)
          proxy.latencyMs = 0
          assert.lengthOf(yield* Db.use(pidQuery), 1)
          yield* Manager.shutdown
          assert.strictEqual(yield* Backend.eventually(countOf(app), (n) => n === 0), 0)
        }).pipe(
          Effect.provide(
            layerFor(configFor(app, { url: proxy.rewrite(url) }), {
              min: 0,
              max: 2,
              createTimeout: "200 millis",
              acquireTimeout: "800 millis"
            })
          )
        )
      })
    })
  })
})
