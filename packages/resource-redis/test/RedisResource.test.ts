import { assert, describe, it } from "@effect/vitest"
import { Backend, Conformance } from "@nebula/resource-testing"
import { Credentials } from "@nebula/resource/Credentials"
import * as CredentialsModule from "@nebula/resource/Credentials"
import * as Manager from "@nebula/resource/Manager"
import type * as PoolOptions from "@nebula/resource/PoolOptions"
import { createClient } from "@redis/client"
import { Effect, Fiber, Layer, Result } from "effect"
import { RedisResource } from "../src/index.ts"
import * as Proxy from "./utils/proxy.ts"

// -----------------------------------------------------------------------------
// the server under test: REDIS_URL, or the local one; skipped loudly when unreachable
// -----------------------------------------------------------------------------

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const target = { host: new URL(redisUrl).hostname || "127.0.0.1", port: Number(new URL(redisUrl).port || 6379) }
const runId = `${process.pid}-${Date.now().toString(36)}`

const reachable = await Backend.gate({ name: "Redis", url: redisUrl, env: "REDIS_URL", defaultPort: 6379 })

// -----------------------------------------------------------------------------
// fixtures
// -----------------------------------------------------------------------------

const nameFor = (test: string) => `nebula-redis-${test}-${runId}`
const keyFor = (test: string, key: string) => `nebula:${runId}:${test}:${key}`

/** A raw client outside the pool, for CLIENT LIST / CLIENT KILL and cleanup. */
const admin = Effect.acquireRelease(
  Effect.promise(() =>
    createClient({ url: redisUrl, name: `nebula-redis-admin-${runId}` }).on("error", () => {}).connect()
  ),
  (client) => Effect.promise(() => client.close())
)
type Admin = Effect.Success<typeof admin>

const clientsNamed = (client: Admin, name: string) =>
  Effect.map(Effect.promise(() => client.clientList()), (list) => list.filter((c) => c.name === name))

const countNamed = (client: Admin, name: string) => Effect.map(clientsNamed(client, name), (list) => list.length)

const layerOf = (
  Cache: RedisResource.RedisResource<"cache">,
  config: RedisResource.ConfigInput,
  pool: PoolOptions.Input
) => Cache.layer(config, { pool }).pipe(Layer.provideMerge(Manager.layer))

const get = (key: string) => (connection: RedisResource.Connection) =>
  RedisResource.command(connection, (client) => client.get(key))

const clientInfo = (connection: RedisResource.Connection) =>
  RedisResource.command(connection, (client) => client.sendCommand<string>(["CLIENT", "INFO"]))

const dbOf = (info: string) => Number(/\bdb=(\d+)/.exec(info)?.[1])
const idOf = (info: string) => Number(/\bid=(\d+)/.exec(info)?.[1])

const describeRedis = reachable ? describe : describe.skip

describeRedis("RedisResource (real Redis)", () => {
  it.live(
    "acquire, SET/GET, release and shutdown; the framework's connections go back to zero",
    () =>
      Effect.gen(function*() {
        const name = nameFor("basic")
        const key = keyFor("basic", "k")
        const client = yield* admin
        const Cache = RedisResource.make("cache")
        yield* Effect.gen(function*() {
          const value = yield* Cache.use((connection) =>
            Effect.andThen(
              RedisResource.command(connection, (c) => c.set(key, "v1", { expiration: { type: "EX", value: 60 } })),
              get(key)(connection)
            )
          )
          assert.strictEqual(value, "v1")
          assert.strictEqual(yield* countNamed(client, name), 1)
          const infos = yield* Effect.all(
            [0, 1].map(() => Cache.use((connection) => Effect.andThen(Effect.sleep(50), clientInfo(connection)))),
            { concurrency: "unbounded" }
          )
          assert.notStrictEqual(idOf(infos[0]!), idOf(infos[1]!))
          assert.deepStrictEqual(infos.map(dbOf), [1, 1])
          assert.strictEqual(yield* countNamed(client, name), 2)
          const stats = yield* Manager.stats("cache")
          assert.strictEqual(stats.size, 2)
          assert.strictEqual(stats.inUse, 0)
          const report = yield* Manager.shutdown
          assert.isTrue(report.resources[0]!.drained)
          assert.strictEqual(yield* Backend.eventually(countNamed(client, name), (n) => n === 0), 0)
        }).pipe(Effect.provide(layerOf(Cache, { url: redisUrl, database: 1, clientName: name }, { min: 1, max: 2 })))
        yield* Effect.promise(() => client.del(key))
      }),
    10_000
  )

  it.live("recycle resets a lease's SELECT back to the configured database", () =>
    Effect.gen(function*() {
      const name = nameFor("recycle")
      const key = keyFor("recycle", "k")
      const client = yield* admin
      const Cache = RedisResource.make("cache")
      yield* Effect.gen(function*() {
        const first = yield* Cache.use((connection) =>
          Effect.gen(function*() {
            yield* RedisResource.command(connection, (c) => c.select(5))
            yield* RedisResource.command(
              connection,
              (c) => c.set(key, "in-5", { expiration: { type: "EX", value: 60 } })
            )
            return yield* clientInfo(connection)
          })
        )
        assert.strictEqual(dbOf(first), 5)
        const second = yield* Cache.use((connection) => Effect.all([clientInfo(connection), get(key)(connection)]))
        assert.strictEqual(idOf(second[0]), idOf(first), "the same connection was reused")
        assert.strictEqual(dbOf(second[0]), 2)
        assert.isNull(second[1])
        yield* Cache.use((connection) => RedisResource.command(connection, (c) => c.sendCommand(["SELECT", "6"])))
        const third = yield* Cache.use(clientInfo)
        assert.strictEqual(idOf(third), idOf(first))
        assert.strictEqual(dbOf(third), 2, "a raw SELECT is reset too")
        assert.strictEqual((yield* Manager.stats("cache")).created, 1)
      }).pipe(Effect.provide(layerOf(Cache, { url: redisUrl, database: 2, clientName: name }, { min: 1, max: 1 })))
      assert.strictEqual(yield* Backend.eventually(countNamed(client, name), (n) => n === 0), 0)
      yield* Effect.promise(() => client.select(5).then(() => client.del(key)).finally(() => client.select(0)))
    }), 10_000)

  it.live(
    "an interrupted command (a BLPOP under a timeout) retires its connection instead of reusing it",
    () =>
      Effect.gen(function*() {
        const name = nameFor("interrupt")
        const key = keyFor("interrupt", "list")
        const client = yield* admin
        const Cache = RedisResource.make("cache")
        yield* Effect.gen(function*() {
          const first = yield* Cache.use(clientInfo)
          const timedOut = yield* Cache.use((connection) =>
            RedisResource.command(connection, (c) => c.blPop(key, 0)).pipe(Effect.timeoutOption("100 millis"))
          )
          assert.isTrue(timedOut._tag === "None")
          const next = yield* Cache.use(clientInfo)
          assert.notStrictEqual(idOf(next), idOf(first), "the blocked connection was not handed out again")
          const stats = yield* Manager.stats("cache")
          assert.strictEqual(stats.destroyed, 1)
          assert.strictEqual(yield* Backend.eventually(countNamed(client, name), (n) => n === 1), 1)
        }).pipe(Effect.provide(layerOf(Cache, { url: redisUrl, database: 7, clientName: name }, { min: 1, max: 1 })))
        assert.strictEqual(yield* Backend.eventually(countNamed(client, name), (n) => n === 0), 0)
      }),
    10_000
  )

  it.live(
    "health: PING connectivity and latency; a slow backend (proxy latency) is Degraded",
    () =>
      Effect.gen(function*() {
        const proxy = yield* Proxy.make(target)
        const Cache = RedisResource.make("cache", {
          health: { interval: "150 millis", timeout: "2 seconds" },
          latency: { warn: "40 millis", fail: "2 seconds" }
        })
        const statusOf = Effect.map(Manager.snapshot, (all) => all.find((s) => s.key === "cache")!.health)
        yield* Effect.gen(function*() {
          const healthy = yield* Backend.eventually(statusOf, (h) => h.status === "Healthy")
          assert.strictEqual(healthy.status, "Healthy")
          proxy.setLatency(30)
          const degraded = yield* Backend.eventually(statusOf, (h) => h.status === "Degraded", 3000)
          assert.strictEqual(degraded.status, "Degraded", degraded.reason)
          assert.match(degraded.reason ?? "", /latency/)
          proxy.setLatency(0)
          assert.strictEqual(
            (yield* Backend.eventually(statusOf, (h) => h.status === "Healthy", 3000)).status,
            "Healthy"
          )
        }).pipe(
          Effect.provide(
            layerOf(Cache, { host: "127.0.0.1", port: proxy.port, clientName: nameFor("health") }, { min: 1, max: 1 })
          )
        )
      }),
    10_000
  )

  it.live(
    "CLIENT KILL of every pooled connection under load: broken ones are evicted and replaced",
    () =>
      Effect.gen(function*() {
        const name = nameFor("kill")
        const key = keyFor("kill", "counter")
        const client = yield* admin
        const max = 4
        const Cache = RedisResource.make("cache")
        yield* Effect.gen(function*() {
          const outcomes: Array<{ readonly at: number; readonly tag: string }> = []
          let running = true
          let peak = 0
          const worker = Effect.gen(function*() {
            while (running) {
              const result = yield* Effect.result(
                Cache.use((connection) => RedisResource.command(connection, (c) => c.incr(key)))
              )
              outcomes.push({ at: Date.now(), tag: Result.isSuccess(result) ? "ok" : result.failure._tag })
            }
          })
          const sampler = Effect.gen(function*() {
            while (running) {
              peak = Math.max(peak, yield* countNamed(client, name))
              yield* Effect.sleep(20)
            }
          })
          const fibers = yield* Effect.forEach(
            [worker, worker, worker, worker, worker, worker, sampler],
            (effect) => Effect.forkChild(effect, { startImmediately: true })
          )
          yield* Effect.sleep(300)
          const victims = yield* clientsNamed(client, name)
          assert.isAbove(victims.length, 0)
          yield* Effect.forEach(
            victims,
            (victim) => Effect.promise(() => client.sendCommand(["CLIENT", "KILL", "ID", String(victim.id)]))
          )
          const killedAt = Date.now()
          yield* Effect.sleep(900)
          running = false
          yield* Effect.forEach(fibers, Fiber.join)

          const window = 250
          const failures = outcomes.filter((o) => o.tag !== "ok")
          const late = failures.filter((o) => o.at > killedAt + window)
          const afterWindow = outcomes.filter((o) => o.at > killedAt + window)
          assert.deepStrictEqual(late, [], "no failure after the detection window")
          assert.isAbove(afterWindow.length, 50, "the pool kept serving after the kill")
          assert.isTrue(failures.every((o) => o.tag === "RedisError"), "only commands on killed connections failed")
          assert.isAtMost(peak, max, "never more connections than max")
          const stats = yield* Manager.stats("cache")
          assert.isAtLeast(stats.destroyed, victims.length, "every killed connection was destroyed")
          assert.isAtLeast(stats.created, victims.length + 1, "and replaced")
          const survivors = yield* clientsNamed(client, name)
          assert.isTrue(survivors.every((s) => !victims.some((v) => v.id === s.id)))
          yield* Manager.shutdown
          assert.strictEqual(yield* Backend.eventually(countNamed(client, name), (n) => n === 0), 0)
        }).pipe(
          Effect.provide(
            layerOf(Cache, { url: redisUrl, database: 3, clientName: name }, {
              min: 2,
              max,
              acquireTimeout: "2 seconds"
            })
          )
        )
        yield* Effect.promise(() => client.select(3).then(() => client.del(key)).finally(() => client.select(0)))
      }),
    10_000
  )

  it.live(
    "a proxy outage: acquires fail fast with create errors, then recover without a restart",
    () =>
      Effect.gen(function*() {
        const name = nameFor("outage")
        const client = yield* admin
        const proxy = yield* Proxy.make(target)
        const Cache = RedisResource.make("cache")
        const ping = Cache.use((connection) => RedisResource.command(connection, (c) => c.ping()))
        const acquireTimeout = 1000
        yield* Effect.gen(function*() {
          assert.strictEqual(yield* ping, "PONG")
          assert.strictEqual(yield* countNamed(client, name), 1)

          proxy.setMode("refuse")
          proxy.cutAll()
          // past validateSkipWindow, so the cut idle connection fails validation at its next borrow
          yield* Effect.sleep(600)
          const started = Date.now()
          const errors = yield* Effect.all([0, 1, 2].map(() => Effect.flip(ping)), { concurrency: "unbounded" })
          const elapsed = Date.now() - started
          assert.isAtMost(elapsed, acquireTimeout + 500, "failed within the acquire timeout")
          for (const error of errors) {
            assert.oneOf(error._tag, ["CreateFailed", "CreateTimeout"], error.message)
            if (error._tag === "CreateFailed" || error._tag === "CreateTimeout") {
              assert.isAtLeast(error.attempts, 1)
              assert.isAtMost(error.attempts, 10, "bounded attempts")
            }
          }
          assert.strictEqual((yield* Manager.stats("cache")).size, 0)

          const pending = yield* Effect.forkChild(ping, { startImmediately: true })
          yield* Effect.sleep(300)
          proxy.setMode("forward")
          assert.strictEqual(yield* Fiber.join(pending), "PONG", "a pending acquire succeeds once the backend is back")
          const after = yield* Effect.all([0, 1, 2, 3, 4].map(() => ping), { concurrency: "unbounded" })
          assert.deepStrictEqual(after, ["PONG", "PONG", "PONG", "PONG", "PONG"])
          yield* Manager.shutdown
          assert.strictEqual(yield* Backend.eventually(countNamed(client, name), (n) => n === 0), 0)
          assert.strictEqual(yield* Backend.eventually(Effect.sync(proxy.connections), (n) => n === 0), 0)
        }).pipe(
          Effect.provide(
            layerOf(Cache, { host: "127.0.0.1", port: proxy.port, database: 4, clientName: name }, {
              min: 1,
              max: 2,
              acquireTimeout,
              createTimeout: "400 millis",
              createBackoff: "50 millis",
              createBackoffMax: "200 millis"
            })
          )
        )
      }),
    10_000
  )

  it.live(
    "a black-holed backend slower than the create timeout: CreateTimeout, and no connection leaks",
    () =>
      Effect.gen(function*() {
        const name = nameFor("blackhole")
        const client = yield* admin
        const proxy = yield* Proxy.make(target)
        proxy.setMode("blackhole")
        const Cache = RedisResource.make("cache")
        yield* Effect.gen(function*() {
          const error = yield* Effect.flip(
            Cache.use((connection) => RedisResource.command(connection, (c) => c.ping()))
          )
          assert.strictEqual(error._tag, "CreateTimeout", error.message)
          assert.isAtLeast(proxy.accepted(), 1)
          assert.strictEqual(
            yield* Backend.eventually(Effect.sync(proxy.connections), (n) => n === 0),
            0,
            "sockets closed"
          )
          assert.strictEqual((yield* Manager.stats("cache")).size, 0)
          assert.strictEqual(yield* countNamed(client, name), 0)
        }).pipe(
          Effect.provide(
            layerOf(Cache, {
              host: "127.0.0.1",
              port: proxy.port,
              clientName: name,
              connectTimeout: "10 seconds"
            }, { min: 0, max: 2, acquireTimeout: "1 second", createTimeout: "300 millis" })
          )
        )
        assert.strictEqual(proxy.connections(), 0)
      }),
    10_000
  )

  it.live(
    "the password comes from a credential; a refused login fails once, redacted, without retries",
    () =>
      Effect.gen(function*() {
        const Cache = RedisResource.make("cache")
        const config = {
          url: redisUrl,
          username: `nebula-no-such-user-${runId}`,
          passwordCredential: "redis-password",
          clientName: nameFor("auth")
        }
        const missing = yield* Effect.flip(Cache.use(() => Effect.void)).pipe(
          Effect.provide(layerOf(Cache, config, { min: 0, max: 1 }))
        )
        assert.strictEqual(missing._tag, "MissingCredential")
        const refused = yield* Effect.flip(Cache.use(() => Effect.void)).pipe(
          Effect.provide(layerOf(Cache, config, { min: 0, max: 1 })),
          Effect.provideService(Credentials, CredentialsModule.fromRecord({ "redis-password": "hunter2-secret" }))
        )
        assert.strictEqual(refused._tag, "CreateFailed")
        if (refused._tag !== "CreateFailed") return
        assert.isFalse(refused.retryable)
        assert.strictEqual(refused.attempts, 1)
        assert.match(refused.reason, /AuthenticationError/)
        assert.notInclude(refused.message, "hunter2-secret")
      }),
    10_000
  )
})

describe("RedisResource config (no server needed)", () => {
  it.live(
    "config: url or host/port, no password or database in the url (never echoed back)",
    () =>
      Effect.gen(function*() {
        const Cache = RedisResource.make("cache")
        const invalid = (config: RedisResource.ConfigInput) =>
          Effect.flip(Effect.scoped(Layer.build(layerOf(Cache, config, {}))))
        const secret = yield* invalid({ url: "redis://user:hunter2-secret@127.0.0.1:6379" })
        assert.strictEqual(secret._tag, "InvalidConfig")
        assert.include(secret.message, "config.url.password")
        assert.notInclude(secret.message, "hunter2-secret")
        const both = yield* invalid({ url: redisUrl, host: "127.0.0.1" })
        assert.include(both.message, "either url or host and port")
        const path = yield* invalid({ url: "redis://127.0.0.1:6379/3" })
        assert.include(path.message, "use the database field")
        const fields = yield* invalid({ host: "", port: 0, database: -1, clientName: "has space", connectTimeout: 0 })
        assert.include(fields.message, "config.host")
        assert.include(fields.message, "config.port")
        assert.include(fields.message, "config.database")
        assert.include(fields.message, "config.clientName")
        assert.include(fields.message, "config.connectTimeout")
      }),
    10_000
  )
})

describeRedis("RedisResource conformance", () => {
  it.live("passes the driver conformance suite, counting connections in CLIENT LIST", () =>
    Effect.gen(function*() {
      const client = yield* admin
      const name = nameFor("conformance")
      const Checked = RedisResource.make("cache-conformance", { health: { interval: "200 millis" } })
      const report = yield* Conformance.report({
        resource: Checked,
        layer: Checked.layer({ url: redisUrl, clientName: name }, { pool: { min: 0, max: 2 } }),
        useInstance: (connection) => RedisResource.command(connection, (c) => c.ping()),
        countConnections: countNamed(client, name),
        healthWait: "3 seconds",
        stepTimeout: "5 seconds"
      })
      assert.deepStrictEqual(report.checks.filter((check) => !check.passed && !check.skipped), [])
      assert.deepStrictEqual(report.checks.filter((check) => check.skipped).map((check) => check.name), [
        Conformance.checkNames.accessDenied
      ])
      assert.isTrue(report.passed)
    }).pipe(Effect.scoped))
})
