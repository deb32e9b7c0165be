/**
 * A tour of @nebula/resource: two in-memory resources (a key-value connection and a tenant-scoped
 * ledger that depends on it), acquired by key, through their typed handles, as a tenant, and denied
 * across tenants; then a graceful shutdown. Run with `npm start`.
 */
import { Caller, Manager, Resource, Tenancy } from "@nebula/resource"
import { Console, Effect, Layer, Schema } from "effect"
import { pathToFileURL } from "node:url"

/** A fake connection to an in-memory key-value server; `namespace` is per-session state. */
export interface KvConnection {
  open: boolean
  namespace: string
  readonly get: (key: string) => string | undefined
  readonly set: (key: string, value: string) => void
}

const server = new Map<string, string>()

export const Kv = Resource.make({
  key: "demo-kv",
  config: Schema.Struct({ defaultNamespace: Schema.String }),
  create: (config) =>
    Effect.acquireRelease(
      Effect.sync((): KvConnection => {
        const conn: KvConnection = {
          open: true,
          namespace: config.defaultNamespace,
          get: (key) => server.get(`${conn.namespace}:${key}`),
          set: (key, value) => void server.set(`${conn.namespace}:${key}`, value)
        }
        return conn
      }),
      (conn) => Effect.sync(() => (conn.open = false))
    ),
  validate: (conn) => Effect.succeed(conn.open),
  recycle: (conn, config) => Effect.sync(() => (conn.namespace = config.defaultNamespace)),
  pool: { min: 0, max: 4 }
})

/** Reads balances from the kv server; lives in tenant "acme", starts after Kv and stops before it. */
export const Ledger = Resource.make({
  key: "demo-ledger",
  config: Schema.Struct({ account: Schema.String }),
  dependencies: [Kv],
  tenancy: Tenancy.tenant("acme"),
  create: (config) => Effect.succeed({ balance: () => Number(server.get(`ledger:${config.account}`) ?? 0) })
})

// Typed keys: Manager.acquire("demo-kv") now returns a KvConnection instead of unknown.
declare module "@nebula/resource/Manager" {
  interface Registry {
    readonly "demo-kv": KvConnection
  }
}

export const AppLayer = Ledger.layer({ account: "acme" }).pipe(
  Layer.provideMerge(Kv.layer({ defaultNamespace: "app" })),
  Layer.provideMerge(Manager.layer)
)

export const program = Effect.gen(function*() {
  const greeting = yield* Effect.scoped(Effect.gen(function*() {
    const conn = yield* Manager.acquire("demo-kv") // typed through the Registry
    conn.set("greeting", "hello")
    return conn.get("greeting")
  }))
  yield* Console.log(`by key: greeting = ${greeting}`)
  yield* Effect.scoped(Effect.gen(function*() {
    const conn = yield* Kv.acquire // typed by the resource itself, no Registry entry needed
    conn.namespace = "ledger" // session state, reset by recycle on return
    conn.set("acme", "42")
  }))
  const handle = yield* Kv.tag // the Handle service of the layer: acquire/use without a registry lookup
  const namespace = yield* handle.use((conn) => Effect.succeed(conn.namespace))
  yield* Console.log(`handle: namespace after recycle = ${namespace}`)
  const balance = yield* Ledger.use((ledger) => Effect.succeed(ledger.balance())).pipe(
    Caller.provide(Tenancy.tenant("acme"))
  )
  yield* Console.log(`tenant acme: balance = ${balance}`)
  const denial = yield* Ledger.use((ledger) => Effect.succeed(ledger.balance())).pipe(
    Caller.provide(Tenancy.tenant("globex")),
    Effect.as("granted"),
    Effect.catchTag("AccessDenied", (error) => Effect.as(Console.log(`tenant globex: ${error.message}`), error._tag))
  )
  const report = yield* Manager.shutdown // dependents first: demo-ledger, then demo-kv
  for (const r of report.resources) {
    yield* Console.log(
      `shutdown ${r.key}: drained=${r.drained} outstanding=${r.outstanding} forced=${r.forced} cleanedUp=${r.cleanedUp}`
    )
  }
  const stats = yield* Manager.stats("demo-kv")
  yield* Console.log(`demo-kv stats: created=${stats.created} acquisitions=${stats.acquisitions} size=${stats.size}`)
  return { greeting, namespace, balance, denial, report, stats }
})

/** The whole demo with its layers; returns a summary for tests. */
export const main = Effect.provide(program, AppLayer)

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await Effect.runPromise(main)
}
