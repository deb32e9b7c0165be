import { Deferred, Effect, Schema } from "effect"
import type * as Scope from "effect/Scope"
import type * as Health from "../../src/Health.ts"
import * as Resource from "../../src/Resource.ts"

/** How one call of a lifecycle step behaves. */
export type Outcome =
  | { readonly _tag: "ok" }
  | { readonly _tag: "fail"; readonly error?: unknown }
  | { readonly _tag: "slow"; readonly millis: number }
  | { readonly _tag: "hang" }

export const ok: Outcome = { _tag: "ok" }
export const fail = (error: unknown = "boom"): Outcome => ({ _tag: "fail", error })
export const slow = (millis: number): Outcome => ({ _tag: "slow", millis })
export const hang: Outcome = { _tag: "hang" }

export interface FakeInstance {
  readonly id: number
  uses: number
  recycled: number
  destroyed: boolean
}

/** A fault-injecting in-memory resource with counters. */
export class Fake {
  created = 0
  destroyed = 0
  createCalls = 0
  validateCalls = 0
  recycleCalls = 0
  readonly live = new Set<FakeInstance>()
  readonly destroyedIds: Array<number> = []
  readonly events: Array<string> = []
  create: Array<Outcome> | ((n: number) => Outcome) = []
  validate: Array<Outcome | boolean> | ((n: number) => Outcome | boolean) = []
  recycle: Array<Outcome> | ((n: number) => Outcome) = []
  readonly createStarted: Deferred.Deferred<void> = Deferred.makeUnsafe<void>()
  /** Ids of instances whose cleanup ran again (the cleanup also throws, which may be swallowed). */
  readonly doubleDestroys: Array<number> = []
  /** Lifecycle calls in progress (a create that hangs stays counted). */
  creating = 0
  validating = 0
  recycling = 0
  /** Called after every create and destroy, for invariant checks. */
  onChange: (() => void) | undefined = undefined

  next<A>(script: Array<A> | ((n: number) => A), n: number, fallback: A): A {
    return typeof script === "function" ? script(n) : script.length > 0 ? script.shift()! : fallback
  }
}

const run = (outcome: Outcome): Effect.Effect<void, unknown> => {
  switch (outcome._tag) {
    case "ok":
      return Effect.void
    case "fail":
      return Effect.fail(outcome.error ?? "boom")
    case "slow":
      return Effect.sleep(outcome.millis)
    case "hang":
      return Effect.never
  }
}

const tracked = <A, E>(
  fake: Fake,
  counter: "creating" | "validating" | "recycling",
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    fake[counter]++
    return Effect.ensuring(effect, Effect.sync(() => fake[counter]--))
  })

export const make = (fake: Fake, options: {
  readonly key?: string
  readonly pool?: Resource.Definition<any, any, any, any, any, any, any>["pool"]
  readonly withValidate?: boolean
  readonly withRecycle?: boolean
  readonly needsRecycle?: (instance: FakeInstance) => boolean
  readonly dependencies?: ReadonlyArray<Resource.Any | string>
  readonly tenancy?: Resource.Definition<any, any, any, any, any, any, any>["tenancy"]
  readonly isRetryable?: (error: unknown) => boolean
  readonly health?: Health.Options<FakeInstance>
} = {}) =>
  Resource.make({
    key: options.key ?? "fake",
    config: Schema.Struct({ label: Schema.String }),
    dependencies: options.dependencies ?? [],
    tenancy: options.tenancy,
    pool: options.pool,
    isRetryable: options.isRetryable,
    health: options.health,
    create: (): Effect.Effect<FakeInstance, unknown, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const n = ++fake.createCalls
          Deferred.doneUnsafe(fake.createStarted, Effect.void)
          return Effect.as(tracked(fake, "creating", run(fake.next(fake.create, n, ok))), n)
        }).pipe(
          Effect.map((n) => {
            const instance: FakeInstance = { id: n, uses: 0, recycled: 0, destroyed: false }
            fake.created++
            fake.live.add(instance)
            fake.events.push(`create ${options.key ?? "fake"}#${n}`)
            fake.onChange?.()
            return instance
          })
        ),
        (instance) =>
          Effect.sync(() => {
            if (instance.destroyed) {
              fake.doubleDestroys.push(instance.id)
              throw new Error(`instance ${instance.id} destroyed twice`)
            }
            instance.destroyed = true
            fake.destroyed++
            fake.live.delete(instance)
            fake.destroyedIds.push(instance.id)
            fake.events.push(`destroy ${options.key ?? "fake"}#${instance.id}`)
            fake.onChange?.()
          })
      ),
    validate: options.withValidate
      ? (instance) =>
        Effect.suspend(() => {
          const outcome = fake.next(fake.validate, ++fake.validateCalls, true)
          if (typeof outcome === "boolean") return Effect.succeed(outcome)
          return tracked(fake, "validating", Effect.suspend(() => Effect.as(run(outcome), !instance.destroyed)))
        })
      : undefined,
    recycle: options.withRecycle
      ? (instance) =>
        Effect.suspend(() => {
          instance.recycled++
          return tracked(fake, "recycling", run(fake.next(fake.recycle, ++fake.recycleCalls, ok)))
        })
      : undefined,
    needsRecycle: options.needsRecycle
  })
