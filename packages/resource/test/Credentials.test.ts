import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Redacted, Schema } from "effect"
import * as Credentials from "../src/Credentials.ts"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"

interface Connection {
  readonly id: number
  readonly user: string
  readonly password: Redacted.Redacted<string>
}

const makeClient = (seen: Array<string>, options: { readonly failWithSecret?: boolean } = {}) => {
  let n = 0
  return Resource.make({
    key: "client",
    config: Schema.Struct({ user: Schema.String }),
    pool: { min: 0, max: 2 },
    isRetryable: () => false,
    create: (config, context): Effect.Effect<Connection, unknown> =>
      Effect.gen(function*() {
        const password = yield* context.credential("client-password")
        seen.push(Redacted.value(password))
        if (options.failWithSecret) {
          return yield* Effect.fail(new Error(`auth failed for ${config.user}:${Redacted.value(password)}@db`))
        }
        return { id: ++n, user: config.user, password }
      })
  })
}

describe("Credentials", () => {
  it.effect("credentials are resolved when an instance is created, not at registration", () => {
    const seen: Array<string> = []
    const Client = makeClient(seen)
    return Effect.gen(function*() {
      const rotating = yield* Credentials.makeRotating({ "client-password": "v1" })
      yield* Effect.gen(function*() {
        assert.deepStrictEqual(seen, [])
        const first = yield* Effect.scoped(Client.acquire)
        assert.strictEqual(Redacted.value(first.password), "v1")
        yield* rotating.set("client-password", "v2")
        const reused = yield* Effect.scoped(Client.acquire)
        assert.strictEqual(reused, first)
        const [a, b] = yield* Effect.scoped(Effect.all([Client.acquire, Client.acquire], { concurrency: "unbounded" }))
        const fresh = a === first ? b : a
        assert.strictEqual(Redacted.value(fresh.password), "v2")
        assert.deepStrictEqual(seen, ["v1", "v2"])
      }).pipe(
        Effect.provide(
          Client.layer({ user: "app" }).pipe(
            Layer.provideMerge(Manager.layer),
            Layer.provide(Credentials.layer(rotating.provider))
          )
        )
      )
    })
  })

  it.effect("a missing credential is a typed error naming the credential and the resource, registration still works", () => {
    const Client = makeClient([])
    return Effect.gen(function*() {
      assert.deepStrictEqual((yield* Manager.list).map((r) => r.key), ["client"])
      const error = yield* Effect.flip(Effect.scoped(Client.acquire))
      assert.strictEqual(error._tag, "MissingCredential")
      if (error._tag !== "MissingCredential") return
      assert.strictEqual(error.credentialId, "client-password")
      assert.strictEqual(error.key, "client")
      assert.strictEqual(error.message, "Credential \"client-password\" needed by resource \"client\" is missing")
      assert.isFalse(error.retryable)
    }).pipe(Effect.provide(Client.layer({ user: "app" }).pipe(Layer.provideMerge(Manager.layer))))
  })

  it.effect("a credential value that a driver error echoes is redacted in the error, and never logged", () => {
    const logs: Array<string> = []
    const logger = Logger.map(Logger.formatStructured, (entry) => {
      logs.push(JSON.stringify(entry))
    })
    const Client = makeClient([], { failWithSecret: true })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Client.acquire))
      assert.strictEqual(error._tag, "CreateFailed")
      if (error._tag !== "CreateFailed") return
      assert.strictEqual(error.reason, "auth failed for app:<redacted>@db")
      assert.notInclude(error.message, "hunter2")
      assert.notInclude(JSON.stringify(error), "hunter2")
      yield* Manager.shutdown
      assert.isAbove(logs.length, 0)
      assert.notInclude(logs.join("\n"), "hunter2")
    }).pipe(
      Effect.provide(
        Client.layer({ user: "app" }).pipe(
          Layer.provideMerge(Manager.layer),
          Layer.provide(Credentials.layer(Credentials.fromRecord({ "client-password": "hunter2" })))
        )
      ),
      Effect.provide(Logger.layer([logger]))
    )
  })

  it.effect("fromRecord keeps given Redacted values and labels plain ones", () => {
    return Effect.gen(function*() {
      const provider = Credentials.fromRecord({ a: "x", b: Redacted.make("y") })
      const a = yield* provider.get("a", "r")
      const b = yield* provider.get("b", "r")
      const missing = yield* provider.get("c", "r")
      assert.strictEqual(String(a), "<redacted:a>")
      assert.strictEqual(Redacted.value(a!), "x")
      assert.strictEqual(Redacted.value(b!), "y")
      assert.isUndefined(missing)
    })
  })
})
