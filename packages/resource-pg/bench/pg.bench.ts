/**
 * `SELECT 1` through the driver against `pg.Pool` directly, on the real PostgreSQL at `PG_URL`: at
 * most 10 connections, 32 concurrent callers and the same number of queries each. `manager-pg` runs
 * `PgResource.execute` (the counterpart of `pg.Pool.query`), `manager-pg-use` runs `Db.use` with
 * `PgResource.query`, and `effect-pg-pool` drives `pg.Pool` from Effect fibers: the Effect runtime's
 * own cost, with no framework.
 *
 * Each implementation runs in a child process of its own, so that it is compiled by V8 as an
 * application using only it would be (in one process, the lines sharing Effect's run loop and pg's
 * client slow each other down by making their call sites polymorphic). After a warm-up the parent
 * runs them one at a time in rotating order, round after round; each keeps its median round, and its
 * ratio is the median of its per-round ratios to `pg.Pool`, which cancels the drift of a machine
 * shared with the servers. `cpu µs/op` is the child's CPU time per query. Prints a table and merges
 * the `pg-select1` entries into `benchmarks/results.json`.
 *
 * Run with `npx node packages/resource-pg/bench/pg.bench.ts` (`BENCH_PG_OPS`, `BENCH_ROUNDS`,
 * `BENCH_CALLERS` to tune).
 */
import { Manager } from "@nebula/resource"
import { Effect, Layer, ManagedRuntime, References } from "effect"
import { type ChildProcess, fork } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import pg from "pg"
import * as PgResource from "../src/PgResource.ts"

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const TOTAL = Number(process.env.BENCH_PG_OPS ?? 5_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 101)
const CALLERS = Number(process.env.BENCH_CALLERS ?? 32)
const MAX = 10
const WARMUP = 2_000
const SCENARIO = "pg-select1"

interface Result {
  readonly scenario: string
  readonly impl: string
  readonly opsPerSec: number
  readonly p50Us: number
  readonly p99Us: number
  readonly cpuUsPerOp: number
}

interface Impl {
  readonly name: "pg-pool" | "effect-pg-pool" | "manager-pg" | "manager-pg-use"
  /** Runs `total` queries from `callers` concurrent callers, writing each latency (ms) into `samples`. */
  readonly run: (total: number, callers: number, samples: Float64Array) => Promise<void>
  readonly close: () => Promise<void>
}

const share = (total: number, callers: number, i: number) => Math.floor(total / callers) + (i < total % callers ? 1 : 0)

const pgPool = (): Impl => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: MAX, application_name: "nebula-bench-pg-pool" })
  return {
    name: "pg-pool",
    run: async (total, callers, samples) => {
      let next = 0
      await Promise.all(Array.from({ length: callers }, async (_, i) => {
        for (let n = share(total, callers, i); n > 0; n--) {
          const start = performance.now()
          await pool.query("SELECT 1")
          samples[next++] = performance.now() - start
        }
      }))
    },
    close: () => pool.end()
  }
}

/** `callers` fibers running `select1` in a loop, `total` times in all, each latency (ms) into `samples`. */
const fiberCallers = <E, R>(
  select1: Effect.Effect<unknown, E, R>,
  total: number,
  callers: number,
  samples: Float64Array
): Effect.Effect<void, E, R> => {
  let next = 0
  const caller = (n: number) =>
    Effect.gen(function*() {
      for (; n > 0; n--) {
        const start = performance.now()
        yield* select1
        samples[next++] = performance.now() - start
      }
    })
  return Effect.forEach(Array.from({ length: callers }, (_, i) => share(total, callers, i)), caller, {
    concurrency: "unbounded",
    discard: true
  })
}

/** `pg.Pool` driven from Effect fibers: what the Effect runtime costs on its own, with no framework. */
const effectPgPool = (): Impl => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: MAX, application_name: "nebula-bench-effect-pg-pool" })
  const select1 = Effect.callback<pg.QueryResult, Error>((resume) => {
    pool.query(
      "SELECT 1",
      (error: Error | undefined, result: pg.QueryResult) =>
        resume(error === undefined ? Effect.succeed(result) : Effect.fail(error))
    )
  })
  return {
    name: "effect-pg-pool",
    run: (total, callers, samples) => Effect.runPromise(fiberCallers(select1, total, callers, samples)),
    close: () => pool.end()
  }
}

/**
 * The driver: `manager-pg` runs `PgResource.execute(Db, "SELECT 1")`, the single-statement call that
 * `pg.Pool.query` is; `manager-pg-use` leases a connection with `Db.use` and runs the query on it.
 */
const managerPg = (name: "manager-pg" | "manager-pg-use"): Impl => {
  const url = new URL(PG_URL)
  url.password = ""
  const Db = PgResource.make(name)
  const runtime = ManagedRuntime.make(
    Db.layer({ url: url.toString(), applicationName: `nebula-bench-${name}` }, { pool: { max: MAX } }).pipe(
      Layer.provideMerge(Manager.layer),
      Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Error"))
    )
  )
  const select1 = name === "manager-pg" ? PgResource.execute(Db, "SELECT 1") : Db.use(PgResource.query("SELECT 1"))
  return {
    name,
    run: (total, callers, samples) => runtime.runPromise(fiberCallers(select1, total, callers, samples)),
    close: () => runtime.dispose()
  }
}

const measure = async (impl: Impl, total: number): Promise<Result> => {
  const samples = new Float64Array(total)
  const cpu = process.cpuUsage()
  const start = performance.now()
  await impl.run(total, CALLERS, samples)
  const elapsed = performance.now() - start
  const used = process.cpuUsage(cpu)
  const sorted = Array.from(samples).sort((a, b) => a - b)
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! * 1000)
  return {
    scenario: SCENARIO,
    impl: impl.name,
    opsPerSec: Math.round(total / (elapsed / 1000)),
    p50Us: at(0.5),
    p99Us: at(0.99),
    cpuUsPerOp: Math.round((used.user + used.system) / total * 10) / 10
  }
}

const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!
}

type Name = Impl["name"]
const NAMES: ReadonlyArray<Name> = ["pg-pool", "effect-pg-pool", "manager-pg", "manager-pg-use"]

const makeImpl = (name: Name): Impl =>
  name === "pg-pool" ? pgPool() : name === "effect-pg-pool" ? effectPgPool() : managerPg(name)

/** A child process: builds one implementation, warms it up, then runs a round per request. */
const child = async (name: Name) => {
  const impl = makeImpl(name)
  await impl.run(WARMUP, CALLERS, new Float64Array(WARMUP))
  process.on("message", async (message: "round" | "close") => {
    if (message === "close") {
      await impl.close()
      process.exit(0)
    }
    process.send!(await measure(impl, TOTAL))
  })
  process.send!("ready")
}

/** Starts the child of `name` and resolves once it is warm; `round()` runs one round in it. */
const start = (name: Name) =>
  new Promise<{ readonly round: () => Promise<Result>; readonly close: () => Promise<void> }>((ready, failed) => {
    const process_: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, PG_BENCH_IMPL: name }
    })
    process_.once("error", failed)
    process_.once("message", () =>
      ready({
        round: () =>
          new Promise((done) => {
            process_.once("message", (result) => done(result as Result))
            process_.send("round")
          }),
        close: () =>
          new Promise((done) => {
            process_.once("exit", () => done())
            process_.send("close")
          })
      }))
  })

const main = async () => {
  const impls = await Promise.all(NAMES.map(async (name) => ({ name, ...await start(name) })))
  const rounds = new Map<string, Array<Result>>(impls.map((impl) => [impl.name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const order = impls.map((_, i) => impls[(i + round) % impls.length]!)
    for (const impl of order) rounds.get(impl.name)!.push(await impl.round())
  }
  await Promise.all(impls.map((impl) => impl.close()))
  const baseline = rounds.get("pg-pool")!
  const rows = impls.map(({ name }) => {
    const own = rounds.get(name)!
    const ratios = own.map((r, i) => r.opsPerSec / baseline[i]!.opsPerSec)
    const middle = [...own].sort((a, b) => a.opsPerSec - b.opsPerSec)[Math.floor(own.length / 2)]!
    return {
      ...middle,
      cpuUsPerOp: quantile(own.map((r) => r.cpuUsPerOp), 0.5),
      vsBaseline: Number(quantile(ratios, 0.5).toFixed(3)),
      vsBaselineQuartiles: [Number(quantile(ratios, 0.25).toFixed(3)), Number(quantile(ratios, 0.75).toFixed(3))]
    }
  })
  console.log(`\n${SCENARIO}: ${TOTAL} queries a round, ${CALLERS} callers, max ${MAX} connections, ${ROUNDS} rounds`)
  console.table(rows.map((r) => ({
    impl: r.impl,
    "ops/s (median round)": r.opsPerSec,
    "p50 µs": r.p50Us,
    "p99 µs": r.p99Us,
    "cpu µs/op": r.cpuUsPerOp,
    "vs pg.Pool (median)": r.vsBaseline,
    "quartiles": r.vsBaselineQuartiles.join(" – ")
  })))
  const file = resolve(dirname(fileURLToPath(import.meta.url)), "../../../benchmarks/results.json")
  const existing: Array<Result> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : []
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify([...existing.filter((r) => r.scenario !== SCENARIO), ...rows], null, 2) + "\n")
  console.log(`merged into ${file}`)
}

const role = process.env.PG_BENCH_IMPL as Name | undefined
await (role === undefined ? main() : child(role))
