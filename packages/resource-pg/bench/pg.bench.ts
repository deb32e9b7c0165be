/**
 * `SELECT 1` through the driver (`Db.use`) against `pg.Pool` directly, on the real PostgreSQL at
 * `PG_URL`: both with at most 10 connections, 32 concurrent callers and the same number of queries,
 * after a warm-up, in alternating rounds (the median round is kept). Prints a table and merges the
 * `pg-select1` entries into `benchmarks/results.json` at the repository root.
 *
 * Run with `npx node packages/resource-pg/bench/pg.bench.ts` (`BENCH_PG_OPS`, `BENCH_ROUNDS` to tune).
 */
import { Manager } from "@nebula/resource"
import { Effect, Layer, ManagedRuntime, References } from "effect"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import pg from "pg"
import * as PgResource from "../src/PgResource.ts"

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const TOTAL = Number(process.env.BENCH_PG_OPS ?? 20_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const CALLERS = 32
const MAX = 10
const WARMUP = 2_000
const SCENARIO = "pg-select1"

interface Result {
  readonly scenario: string
  readonly impl: string
  readonly opsPerSec: number
  readonly p50Us: number
  readonly p99Us: number
}

interface Impl {
  readonly name: "pg-pool" | "manager-pg"
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

const managerPg = (): Impl => {
  const url = new URL(PG_URL)
  url.password = ""
  const Db = PgResource.make("bench-db")
  const runtime = ManagedRuntime.make(
    Db.layer({ url: url.toString(), applicationName: "nebula-bench-manager-pg" }, { pool: { max: MAX } }).pipe(
      Layer.provideMerge(Manager.layer),
      Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Error"))
    )
  )
  const select1 = Db.use(PgResource.query("SELECT 1"))
  return {
    name: "manager-pg",
    run: (total, callers, samples) => {
      let next = 0
      const caller = (n: number) =>
        Effect.gen(function*() {
          for (; n > 0; n--) {
            const start = performance.now()
            yield* select1
            samples[next++] = performance.now() - start
          }
        })
      return runtime.runPromise(
        Effect.forEach(Array.from({ length: callers }, (_, i) => share(total, callers, i)), caller, {
          concurrency: "unbounded",
          discard: true
        })
      )
    },
    close: () => runtime.dispose()
  }
}

const measure = async (impl: Impl, total: number): Promise<Result> => {
  const samples = new Float64Array(total)
  const start = performance.now()
  await impl.run(total, CALLERS, samples)
  const elapsed = performance.now() - start
  const sorted = Array.from(samples).sort((a, b) => a - b)
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! * 1000)
  return {
    scenario: SCENARIO,
    impl: impl.name,
    opsPerSec: Math.round(total / (elapsed / 1000)),
    p50Us: at(0.5),
    p99Us: at(0.99)
  }
}

const median = (results: ReadonlyArray<Result>): Result =>
  [...results].sort((a, b) => a.opsPerSec - b.opsPerSec)[Math.floor(results.length / 2)]!

const main = async () => {
  const impls = [pgPool(), managerPg()]
  for (const impl of impls) await impl.run(WARMUP, CALLERS, new Float64Array(WARMUP))
  const rounds = new Map<string, Array<Result>>(impls.map((impl) => [impl.name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? impls : [...impls].reverse()
    for (const impl of order) rounds.get(impl.name)!.push(await measure(impl, TOTAL))
  }
  for (const impl of impls) await impl.close()
  const results = impls.map((impl) => median(rounds.get(impl.name)!))
  const baseline = results[0]!.opsPerSec
  console.log(`\n${SCENARIO}: ${TOTAL} queries, ${CALLERS} callers, max ${MAX} connections, median of ${ROUNDS} rounds`)
  console.table(results.map((r) => ({
    impl: r.impl,
    "ops/s": r.opsPerSec,
    "p50 µs": r.p50Us,
    "p99 µs": r.p99Us,
    "vs pg.Pool": (r.opsPerSec / baseline).toFixed(3),
    rounds: rounds.get(r.impl)!.map((x) => x.opsPerSec).join(" ")
  })))
  const file = resolve(dirname(fileURLToPath(import.meta.url)), "../../../benchmarks/results.json")
  const existing: Array<Result> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : []
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify([...existing.filter((r) => r.scenario !== SCENARIO), ...results], null, 2) + "\n")
  console.log(`merged into ${file}`)
}

await main()
