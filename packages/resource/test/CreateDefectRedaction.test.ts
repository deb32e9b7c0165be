/**
 * A create that dies (a defect, not a typed failure) with a secret in its message fails with a
 * `CreateFailed` whose text has the secret redacted.
 *
 * Typed create failures already had credential values redacted, but a defect skipped that step: a
 * driver that died with the password in its message put it, in clear, into the caller's cause.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Redacted, Schema } from "effect"
import * as Credentials from "../src/Credentials.ts"
import * as Manager from "../src/Manager.ts"
import * as Resource from "../src/Resource.ts"

const provide = (layer: Layer.Layer<any, any, any>) =>
  Effect.provide(layer.pipe(Layer.provideMerge(Manager.layer)) as Layer.Layer<any>)

describe("a create defect keeps secrets redacted", () => {
  it.effect("a create that dies with a secret in its message gives a redacted CreateFailed", () => {
    const Dies = Resource.make({
      key: "dies",
      config: Schema.Struct({}),
      pool: { min: 0, max: 1 },
      isRetryable: () => false,
      create: (_, context) =>
        Effect.flatMap(
          context.credential("pw"),
          (pw) => Effect.die(new Error(`auth failed for user:${Redacted.value(pw)}@db`))
        )
    })
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Manager.acquire("dies")))
      assert.isTrue(Exit.isFailure(exit))
      const text = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      assert.notInclude(text, "hunter2")
      assert.include(text, "<redacted>")
    }).pipe(
      provide(Dies.layer({})),
      Effect.provide(Credentials.layer(Credentials.fromRecord({ pw: "hunter2" })))
    )
  })
})
