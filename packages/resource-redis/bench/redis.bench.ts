/**
 * Redis `PING` through the driver (`Cache.use` + `RedisResource.command`, a pool of 10 connections)
 * against raw node-redis (10 clients used round-robin), with the same 32 concurrent callers and
 * the same number of operations, after a warm-up, rounds interleaved. Prints a table and merges the
 * `redis-ping` entries into `benchmarks/results.json`.
 *
 * Run: `node packages/resource-redis/bench/redis.bench.ts` (Node 22; REDIS_URL, BENCH_OPS, BENCH_ROUNDS).
 */
import { Manager } from "@nebula/resource"
import { createClient } from "@redis/client"
import { Effect, Layer, ManagedRuntime, References } from "effect"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { RedisResource } from "../src/index.ts"

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const OPS = Number(process.env.BENCH_OPS ?? 64_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const WARMUP = 8_000
const CALLERS = 32
const CONNECTIONS = 10

interface Result {
  readonly scenario: "redis-ping"
  readonly impl: "redis-raw" | "manager-redis"
  readonly opsPerSec: number
  readonly p50Us: number
  readonly p99Us: number
}

interface Impl {
  readonly name: Result["impl"]
  /** Runs `perCaller` sequential PINGs in each of `CALLERS` concurrent callers, writing latencies (ms). */
  readonly run: (perCaller: number, samples: Float64Array) => Promise<void>
  readonly close: () => Promise<void>
}

const raw = async (): Promise<Impl> => {
  const clients = await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      () =>
        createClient({ url: REDIS_URL, name: "nebula-bench-raw", socket: { reconnectStrategy: false } })
          .on("error", () => {})
          .connect()
    )
  )
  let next = 0
  const caller = async (index: number, perCaller: number, samples: Float64Array) => {
    for (let i = 0; i < perCaller; i++) {
      const client = clients[next++ % CONNECTIONS]!
      const t0 = performance.now()
      await client.ping()
      samples[index * perCaller + i] = performance.now() - t0
    }
  }
  return {
    name: "redis-raw",
    run: async (perCaller, samples) => {
      await Promise.all(Array.from({ length: CALLERS }, (_, index) => caller(index, perCaller, samples)))
    },
    close: async () => {
      await Promise.all(clients.map((client) => client.close()))
    }
  }
}

const manager = async (): Promise<Impl> => {
  const Cache = RedisResource.make("bench-redis")
  const runtime = ManagedRuntime.make(
    Cache.layer({ url: REDIS_URL, clientName: "nebula-bench-manager" }, {
      pool: { min: CONNECTIONS, max: CONNECTIONS }
    }).pipe(
      Layer.provideMerge(Manager.layer),
      Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Error"))
    )
  )
  const ping = Cache.use((connection) => RedisResource.command(connection, (client) => client.ping()))
  const caller = (index: number, perCaller: number, samples: Float64Array) =>
    Effect.gen(function*() {
      for (let i = 0; i < perCaller; i++) {
        const t0 = performance.now()
        yield* ping
        samples[index * perCaller + i] = performance.now() - t0
      }
    })
  await runtime.runPromise(Cache.use(() => Effect.void))
  return {
    name: "manager-redis",
    run: (perCaller, samples) =>
      runtime.runPromise(
        Effect.forEach(Array.from({ length: CALLERS }, (_, index) => index), (index) =>
          caller(index, perCaller, samples), { concurrency: "unbounded", discard: true })
      ),
    close: () => runtime.dispose()
  }
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
const round2 = (x: number) => Math.round(x * 100) / 100

const measure = async (impl: Impl, ops: number): Promise<Result> => {
  const perCaller = Math.ceil(ops / CALLERS)
  const samples = new Float64Array(perCaller * CALLERS)
  const t0 = performance.now()
  await impl.run(perCaller, samples)
  const seconds = (performance.now() - t0) / 1000
  samples.sort()
  return {
    scenario: "redis-ping",
    impl: impl.name,
    opsPerSec: Math.round(samples.length / seconds),
    p50Us: round2(percentile(samples, 0.5) * 1000),
    p99Us: round2(percentile(samples, 0.99) * 1000)
  }
}

const impls = [await raw(), await manager()]
for (const impl of impls) await measure(impl, WARMUP)
const best = new Map<string, Result>()
for (let round = 0; round < ROUNDS; round++) {
  for (const impl of round % 2 === 0 ? impls : [...impls].reverse()) {
    const result = await measure(impl, OPS)
    if (result.opsPerSec > (best.get(impl.name)?.opsPerSec ?? 0)) best.set(impl.name, result)
  }
}
for (const impl of impls) await impl.close()

const results = impls.map((impl) => best.get(impl.name)!)
const rawResult = results[0]!
console.table(results.map((r) => ({
  impl: r.impl,
  "ops/s": r.opsPerSec.toLocaleString("en-US"),
  "p50 µs": r.p50Us,
  "p99 µs": r.p99Us,
  "vs raw": (r.opsPerSec / rawResult.opsPerSec).toFixed(2) + "×"
})))
console.log(`${OPS} PINGs per round, ${ROUNDS} rounds (best kept), ${CALLERS} callers, ${CONNECTIONS} connections`)

const out = resolve(dirname(fileURLToPath(import.meta.url)), "../../../benchmarks/results.json")
const previous: Array<{ readonly scenario: string }> = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : []
mkdirSync(dirname(out), { recursive: true })
writeFileSync(
  out,
  JSON.stringify([...previous.filter((entry) => entry.scenario !== "redis-ping"), ...results], null, 2) + "\n"
)
console.log(`merged redis-ping into ${out}`)
