import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import * as Backend from "../src/Backend.ts"

const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const withRequireServices = <A, E>(value: string | undefined, effect: Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const saved = process.env.REQUIRE_SERVICES
      if (value === undefined) delete process.env.REQUIRE_SERVICES
      else process.env.REQUIRE_SERVICES = value
      return saved
    }),
    () => effect,
    (saved) =>
      Effect.sync(() => {
        if (saved === undefined) delete process.env.REQUIRE_SERVICES
        else process.env.REQUIRE_SERVICES = saved
      })
  )

describe("Backend.gate", () => {
  it.live("a listening server is reachable", () =>
    Effect.gen(function*() {
      const server = net.createServer()
      yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
      const port = (server.address() as net.AddressInfo).port
      const reachable = yield* Effect.promise(() =>
        Backend.gate({ name: "Test", url: `postgres://u@127.0.0.1:${port}/db`, env: "TEST_URL", defaultPort: 1 })
      )
      server.close()
      assert.isTrue(reachable)
    }))

  it.live("an unreachable server skips without REQUIRE_SERVICES and fails with it, password redacted", () =>
    Effect.gen(function*() {
      const url = `postgres://user:hunter2@127.0.0.1:${yield* Effect.promise(closedPort)}/db`
      const options = { name: "Test", url, env: "TEST_URL", defaultPort: 1 }
      const warnings: Array<string> = []
      const warn = console.warn
      console.warn = (message: string) => void warnings.push(message)
      const skipped = yield* withRequireServices(undefined, Effect.promise(() => Backend.gate(options))).pipe(
        Effect.ensuring(Effect.sync(() => console.warn = warn))
      )
      assert.isFalse(skipped)
      assert.strictEqual(warnings.length, 1)
      assert.match(warnings[0]!, /SKIPPING tests that need Test: .*ECONNREFUSED/)
      assert.notInclude(warnings[0]!, "hunter2")
      const failure = yield* withRequireServices("1", Effect.flip(Effect.tryPromise(() => Backend.gate(options))))
      assert.match(String(failure.cause), /unreachable \(ECONNREFUSED\) and REQUIRE_SERVICES is set/)
      assert.notInclude(String(failure.cause), "hunter2")
    }))
})
