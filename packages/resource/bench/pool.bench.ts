/**
 * Acquire/release throughput of the Manager against raw `effect/Pool` and generic-pool, on the same
 * trivial resource, in one process. Prints a table and merges its rows into `benchmarks/results.json`.
 */
import { Effect, Layer, Pool, Schema, Stream } from "effect"
import * as GenericPool from "generic-pool"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Manager, Resource } from "../src/index.ts"

const SEQUENTIAL_OPS = Number(process.env.BENCH_OPS ?? 200_000)
const CONTENDED_FIBERS = 100
const CONTENDED_POOL = 10
const LATENCY_SAMPLES = 50_000
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

type Scenario = "sequential" | "contended"
type AnyScenario = Scenario | "events"
interface Result {
  readonly scenario: AnyScenario
  readonly impl: string
  readonly opsPerSec: number
  readonly p50Us?: number
  readonly p99Us?: number
}

interface Impl {
  readonly name: string
  readonly op: () => Promise<void> | void
  readonly runOps: (n: number) => Promise<void>
  readonly runContended: (fibers: number, perFiber: number) => Promise<void>
  readonly close: () => Promise<void>
}

const percentile = (sorted: Array<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const item = () => ({ n: 0 })

const effectImpl = (
  name: string,
  build: Effect.Effect<
    { readonly once: Effect.Effect<unknown, unknown, any>; readonly held: Effect.Effect<unknown, unknown, any> },
    never,
    any
  >,
  provide: Layer.Layer<any, any, never> | undefined
): Promise<Impl> =>
  new Promise((resolveImpl) => {
    let release!: () => void
    const done = new Promise<void>((r) => (release = r))
    const program = Effect.gen(function*() {
      const { held, once } = yield* build
      const loop = (n: number, body: Effect.Effect<unknown, unknown, any>) =>
        Effect.gen(function*() {
          for (let i = 0; i < n; i++) yield* body
        })
      const context = yield* Effect.context<never>()
      const run = <A>(effect: Effect.Effect<A, unknown, any>) =>
        Effect.runPromiseWith(context)(effect as Effect.Effect<A>)
      resolveImpl({
        name,
        op: () => run(once).then(() => undefined),
        runOps: (n) => run(loop(n, once)).then(() => undefined),
        runContended: (fibers, perFiber) =>
          run(Effect.forEach(Array.from({ length: fibers }), () => loop(perFiber, held), {
            concurrency: "unbounded",
            discard: true
          })),
        close: async () => release()
      })
      yield* Effect.promise(() => done)
    }).pipe(Effect.scoped)
    void Effect.runPromise((provide ? Effect.provide(program, provide) : program) as Effect.Effect<void>)
  })

const Trivial = Resource.make({
  key: "bench",
  config: Schema.Struct({}),
  create: () => Effect.sync(item),
  pool: { min: CONTENDED_POOL, max: CONTENDED_POOL }
})

const rawPool = Pool.makeWithTTL({
  acquire: Effect.sync(item),
  min: CONTENDED_POOL,
  max: CONTENDED_POOL,
  timeToLive: "10 minutes"
})

const impls = (): Array<() => Promise<Impl>> => [
  () =>
    effectImpl(
      "effect-pool",
      Effect.map(rawPool, (pool) => ({
        once: Effect.scoped(Pool.get(pool)),
        held: Effect.scoped(Effect.andThen(Pool.get(pool), Effect.yieldNow))
      })),
      undefined
    ),
  () =>
    effectImpl(
      "effect-pool-use",
      Effect.map(rawPool, (pool) => ({
        once: Pool.use(pool, Effect.succeed),
        held: Pool.use(pool, () => Effect.yieldNow)
      })),
      undefined
    ),
  () =>
    effectImpl(
      "manager",
      Effect.map(Manager.Manager, () => ({
        once: Effect.scoped(Manager.acquire("bench")),
        held: Effect.scoped(Effect.andThen(Manager.acquire("bench"), Effect.yieldNow))
      })),
      Trivial.layer({}).pipe(Layer.provideMerge(Manager.layer))
    ),
  () =>
    effectImpl(
      "manager-use",
      Effect.map(Manager.Manager, () => ({
        once: Manager.use("bench", Effect.succeed),
        held: Manager.use("bench", () => Effect.yieldNow)
      })),
      Trivial.layer({}).pipe(Layer.provideMerge(Manager.layer))
    ),
  async () => {
    const pool = GenericPool.createPool({ create: async () => item(), destroy: async () => {} }, {
      min: CONTENDED_POOL,
      max: CONTENDED_POOL
    })
    const once = async () => {
      const resource = await pool.acquire()
      await pool.release(resource)
    }
    const held = async () => {
      const resource = await pool.acquire()
      await Promise.resolve()
      await pool.release(resource)
    }
    return {
      name: "generic-pool",
      op: once,
      runOps: async (n) => {
        for (let i = 0; i < n; i++) await once()
      },
      runContended: async (fibers, perFiber) => {
        await Promise.all(Array.from({ length: fibers }, async () => {
          for (let i = 0; i < perFiber; i++) await held()
        }))
      },
      close: async () => {
        await pool.drain()
        await pool.clear()
      }
    }
  }
]

const round2 = (x: number) => Math.round(x * 100) / 100

const throughput = async (impl: Impl, scenario: Scenario): Promise<number> => {
  const t0 = performance.now()
  if (scenario === "sequential") {
    await impl.runOps(SEQUENTIAL_OPS)
    return SEQUENTIAL_OPS / ((performance.now() - t0) / 1000)
  }
  const perFiber = Math.ceil(SEQUENTIAL_OPS / CONTENDED_FIBERS)
  await impl.runContended(CONTENDED_FIBERS, perFiber)
  return (perFiber * CONTENDED_FIBERS) / ((performance.now() - t0) / 1000)
}

const latencies = async (impl: Impl, scenario: Scenario): Promise<{ p50: number; p99: number }> => {
  const samples: Array<number> = []
  if (scenario === "sequential") {
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const t0 = performance.now()
      await impl.op()
      samples.push((performance.now() - t0) * 1000)
    }
  } else {
    await Promise.all(Array.from({ length: CONTENDED_FIBERS }, async () => {
      for (let i = 0; i < LATENCY_SAMPLES / CONTENDED_FIBERS; i++) {
        const t0 = performance.now()
        await impl.runContended(1, 1)
        samples.push((performance.now() - t0) * 1000)
      }
    }))
  }
  samples.sort((a, b) => a - b)
  return { p50: round2(percentile(samples, 0.5)), p99: round2(percentile(samples, 0.99)) }
}

const built: Array<Impl> = []
for (const make of impls()) built.push(await make())
for (const impl of built) {
  await impl.runOps(20_000)
  await impl.runContended(CONTENDED_FIBERS, 200)
}

const best = new Map<string, number>()
for (let round = 0; round < ROUNDS; round++) {
  for (const scenario of ["sequential", "contended"] as const) {
    for (const impl of built) {
      const id = `${scenario}/${impl.name}`
      best.set(id, Math.max(best.get(id) ?? 0, await throughput(impl, scenario)))
    }
  }
}

const results: Array<Result> = []
for (const scenario of ["sequential", "contended"] as const) {
  for (const impl of built) {
    const { p50, p99 } = await latencies(impl, scenario)
    results.push({
      scenario,
      impl: impl.name,
      opsPerSec: Math.round(best.get(`${scenario}/${impl.name}`)!),
      p50Us: p50,
      p99Us: p99
    })
  }
}
for (const impl of built) await impl.close()

/** Events delivered per second to one subscriber while acquire/release runs (SC-009). */
const eventsPerSecond = (): Promise<number> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const stream = yield* Manager.subscribe()
      let delivered = 0
      yield* Effect.forkScoped(Stream.runForEach(stream, () => Effect.sync(() => void delivered++)))
      yield* Effect.yieldNow
      const ops = SEQUENTIAL_OPS / 4
      const t0 = performance.now()
      for (let i = 0; i < ops; i++) {
        yield* Effect.scoped(Manager.acquire("bench"))
        if ((i & 63) === 0) yield* Effect.yieldNow
      }
      while (delivered < ops * 2 * 0.5 && performance.now() - t0 < 10_000) yield* Effect.yieldNow
      return delivered / ((performance.now() - t0) / 1000)
    }).pipe(Effect.scoped, Effect.provide(Trivial.layer({}).pipe(Layer.provideMerge(Manager.layer))))
  )
let bestEvents = 0
for (let round = 0; round < ROUNDS; round++) bestEvents = Math.max(bestEvents, await eventsPerSecond())
results.push({ scenario: "events", impl: "manager", opsPerSec: Math.round(bestEvents) })

const byScenario = (scenario: AnyScenario, impl: string) =>
  results.find((r) => r.scenario === scenario && r.impl === impl)!
const rows = results.map((r) => {
  const base = r.impl.startsWith("manager") && r.scenario !== "events"
    ? byScenario(r.scenario, r.impl === "manager" ? "effect-pool" : "effect-pool-use")
    : undefined
  return {
    scenario: r.scenario,
    impl: r.impl,
    "ops/s": r.opsPerSec.toLocaleString("en-US"),
    "p50 µs": r.p50Us ?? "",
    "p99 µs": r.p99Us ?? "",
    "vs raw": base ? (r.opsPerSec / base.opsPerSec).toFixed(2) + "×" : ""
  }
})
console.table(rows)

const out = resolve(dirname(fileURLToPath(import.meta.url)), "../../../benchmarks/results.json")
mkdirSync(dirname(out), { recursive: true })
const own = new Set<string>(results.map((r) => r.scenario))
const others: Array<{ readonly scenario: string }> = existsSync(out)
  ? JSON.parse(readFileSync(out, "utf8")).filter((r: { readonly scenario: string }) => !own.has(r.scenario))
  : []
writeFileSync(out, JSON.stringify([...results, ...others], null, 2) + "\n")
console.log(`merged into ${out}`)
