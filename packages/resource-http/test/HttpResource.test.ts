import { assert, describe, it } from "@effect/vitest"
import { Credentials, Manager } from "@nebula/resource"
import { Conformance } from "@nebula/resource-testing"
import { Effect, Layer } from "effect"
import * as Http from "node:http"
import type { AddressInfo, Socket } from "node:net"
import * as HttpResource from "../src/HttpResource.ts"

interface Server {
  readonly url: string
  readonly connections: () => number
  readonly requests: Array<
    { readonly path: string; readonly authorization: string | undefined; readonly tenant: string | undefined }
  >
  healthStatus: number
}

/** A local HTTP server on an ephemeral loopback port, closed with the scope. */
const server = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<Server & { readonly close: () => Promise<void> }>((resolve) => {
      const sockets = new Set<Socket>()
      const state = { healthStatus: 200 }
      const requests: Server["requests"] = []
      const http = Http.createServer((req, res) => {
        requests.push({
          path: req.url ?? "",
          authorization: req.headers.authorization,
          tenant: req.headers["x-tenant"] as string | undefined
        })
        if (req.url === "/health") {
          res.statusCode = state.healthStatus
          return res.end("health")
        }
        if (req.url === "/slow") return void setTimeout(() => res.end("slow"), 500)
        res.setHeader("content-type", "text/plain")
        res.end(`hello ${req.url}`)
      })
      http.on("connection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      http.listen(0, "127.0.0.1", () => {
        const { port } = http.address() as AddressInfo
        resolve({
          url: `http://127.0.0.1:${port}`,
          connections: () => sockets.size,
          requests,
          get healthStatus() {
            return state.healthStatus
          },
          set healthStatus(status: number) {
            state.healthStatus = status
          },
          close: () =>
            new Promise<void>((done) => {
              for (const socket of sockets) socket.destroy()
              http.close(() => done())
            })
        })
      })
    })
  ),
  (s) => Effect.promise(() => s.close())
)

const credentials = Credentials.layer(Credentials.fromRecord({ "api-token": "t0ps3cret" }))

describe("HttpResource", () => {
  it.live("one shared client serves concurrent requests with default headers and the bearer token", () =>
    Effect.gen(function*() {
      const s = yield* server
      const Api = HttpResource.make("api")
      const layer = Api.layer({
        baseUrl: s.url,
        headers: { "x-tenant": "acme" },
        tokenCredential: "api-token",
        maxConnections: 4
      })
        .pipe(Layer.provideMerge(Manager.layer), Layer.provide(credentials))
      yield* Effect.gen(function*() {
        const responses = yield* Effect.all(
          Array.from(
            { length: 20 },
            (_, i) => Api.use((client) => HttpResource.request(client, { path: `/items/${i}` }))
          ),
          { concurrency: "unbounded" }
        )
        assert.isTrue(responses.every((r, i) => r.status === 200 && r.body === `hello /items/${i}`))
        const stats = yield* Manager.stats("api")
        assert.strictEqual(stats.size, 1)
        assert.strictEqual(stats.created, 1)
        assert.strictEqual(stats.acquisitions, 20)
        assert.isTrue(s.requests.every((r) => r.authorization === "Bearer t0ps3cret" && r.tenant === "acme"))
        assert.isAtMost(s.connections(), 4)
        yield* Manager.shutdown
      }).pipe(Effect.provide(layer))
      yield* Effect.sleep("50 millis")
      assert.strictEqual(s.connections(), 0)
    }))

  it.live("a request slower than the timeout fails with a retryable HttpError that never shows the token", () =>
    Effect.gen(function*() {
      const s = yield* server
      const Api = HttpResource.make("slow-api")
      const layer = Api.layer({ baseUrl: s.url, tokenCredential: "api-token", timeout: 100 })
        .pipe(Layer.provideMerge(Manager.layer), Layer.provide(credentials))
      const error = yield* Effect.flip(Api.use((client) => HttpResource.request(client, { path: "/slow" }))).pipe(
        Effect.provide(layer)
      )
      assert.strictEqual(error._tag, "HttpError")
      if (error._tag !== "HttpError") return
      assert.strictEqual(error.reason, "timed out")
      assert.isTrue(error.retryable)
      assert.notInclude(JSON.stringify(error) + error.message, "t0ps3cret")
    }))

  it.live("a non-2xx status fails only when asked to, and a refused connection is a transport error", () =>
    Effect.gen(function*() {
      const s = yield* server
      const Api = HttpResource.make("strict-api")
      const layer = Api.layer({ baseUrl: s.url }).pipe(Layer.provideMerge(Manager.layer))
      s.healthStatus = 503
      const lenient = yield* Api.use((client) => HttpResource.request(client, { path: "/health" })).pipe(
        Effect.provide(layer)
      )
      assert.strictEqual(lenient.status, 503)
      const strict = yield* Effect.flip(
        Api.use((client) => HttpResource.request(client, { path: "/health", expectOk: true }))
      )
        .pipe(Effect.provide(layer))
      assert.strictEqual(strict._tag === "HttpError" ? strict.status : 0, 503)
      const Closed = HttpResource.make("closed-api")
      const refused = yield* Effect.flip(Closed.use((client) => HttpResource.request(client, { path: "/" }))).pipe(
        Effect.provide(Closed.layer({ baseUrl: "http://127.0.0.1:9" }).pipe(Layer.provideMerge(Manager.layer)))
      )
      assert.strictEqual(refused._tag, "HttpError")
      assert.strictEqual(refused._tag === "HttpError" ? refused.status : 0, undefined)
    }))

  it.live("the health check against the configured path takes the client out of service and back", () =>
    Effect.gen(function*() {
      const s = yield* server
      const Api = HttpResource.make("checked-api", {
        health: { interval: "50 millis", timeout: "1 second", failureThreshold: 100 }
      })
      const layer = Api.layer({ baseUrl: s.url, healthPath: "/health" }).pipe(Layer.provideMerge(Manager.layer))
      yield* Effect.gen(function*() {
        yield* Effect.sleep("150 millis")
        const [healthy] = yield* Manager.snapshot
        assert.strictEqual(healthy!.health.status, "Healthy")
        s.healthStatus = 500
        yield* Effect.sleep("200 millis")
        const error = yield* Effect.flip(Api.use((client) => HttpResource.request(client, { path: "/x" })))
        assert.strictEqual(error._tag, "ResourceUnhealthy")
        s.healthStatus = 200
        yield* Effect.sleep("200 millis")
        const back = yield* Api.use((client) => HttpResource.request(client, { path: "/x" }))
        assert.strictEqual(back.status, 200)
      }).pipe(Effect.provide(layer))
    }))

  it.live("a missing token credential is a typed error naming it", () =>
    Effect.gen(function*() {
      const s = yield* server
      const Api = HttpResource.make("no-token-api")
      const error = yield* Effect.flip(Api.use((client) => HttpResource.request(client, { path: "/" }))).pipe(
        Effect.provide(
          Api.layer({ baseUrl: s.url, tokenCredential: "missing" }).pipe(Layer.provideMerge(Manager.layer))
        )
      )
      assert.strictEqual(error._tag, "MissingCredential")
    }))

  it.live("a bad config lists every violation", () =>
    Effect.gen(function*() {
      const Api = HttpResource.make("bad-api")
      const error = yield* Effect.flip(
        Layer.build(Api.layer({ baseUrl: "ftp://x", healthPath: "health", maxConnections: 0 } as any))
      )
        .pipe(Effect.provide(Manager.layer), Effect.scoped)
      assert.strictEqual(error._tag, "InvalidConfig")
      if (error._tag !== "InvalidConfig") return
      assert.deepStrictEqual(error.violations.map((v) => v.path), [
        "config.baseUrl",
        "config.healthPath",
        "config.maxConnections"
      ])
    }))
  it.live("passes the driver conformance suite as a resident resource, counting server connections", () =>
    Effect.gen(function*() {
      const s = yield* server
      const Checked = HttpResource.make("api-conformance", { health: { interval: "200 millis" } })
      const report = yield* Conformance.report({
        resource: Checked,
        layer: Checked.layer({ baseUrl: s.url, healthPath: "/health", tokenCredential: "api-token" }).pipe(
          Layer.provide(credentials)
        ),
        useInstance: (client) => HttpResource.request(client, { path: "/conformance" }),
        countConnections: Effect.sync(() => s.connections()),
        healthWait: "3 seconds",
        stepTimeout: "5 seconds"
      })
      assert.deepStrictEqual(report.checks.filter((check) => !check.passed && !check.skipped), [])
      assert.deepStrictEqual(report.checks.filter((check) => check.skipped).map((check) => check.name), [
        Conformance.checkNames.validate,
        Conformance.checkNames.accessDenied
      ])
      assert.isTrue(report.passed)
    }))
})
