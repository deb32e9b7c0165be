/**
 * A fault-injecting in-memory resource for tests. It declares an ordinary `Resource.make` definition
 * whose create, validate, recycle, cleanup and health check follow a programmable script of outcomes
 * (`succeed`, `fail`, `slow(ms)`, `hang`), and keeps exact counters of what happened to its instances:
 * created, destroyed, live, destroyed twice, lifecycle calls in progress.
 *
 * Every delay is an `Effect.sleep`, so the resource runs under `TestClock`. A `hang` waits on the
 * state's hang gate: it never completes unless the test calls `state.releaseHangs()` (the backend
 * comes back), and then it completes as a success.
 *
 * **Example** (A create that fails twice, then a recycle that hangs)
 *
 * ```ts
 * import { FaultyResource } from "@nebula/resource-testing"
 * import * as Manager from "@nebula/resource/Manager"
 * import { Effect, Layer } from "effect"
 *
 * const faulty = FaultyResource.make({
 *   key: "db",
 *   pool: { min: 0, max: 2 },
 *   create: [FaultyResource.fail(), FaultyResource.fail()],
 *   recycle: (call) => call === 1 ? FaultyResource.hang : FaultyResource.succeed
 * })
 * const layer = faulty.layer().pipe(Layer.provideMerge(Manager.layer))
 * const program = Effect.scoped(faulty.resource.acquire).pipe(Effect.provide(layer))
 * // after the run: faulty.state.created, faulty.state.destroyed, faulty.state.doubleDestroys, ...
 * ```
 *
 * @since 0.1.0
 */
import * as Health from "@nebula/resource/Health"
import type * as PoolOptions from "@nebula/resource/PoolOptions"
import * as Resource from "@nebula/resource/Resource"
import type * as Tenancy from "@nebula/resource/Tenancy"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

// -----------------------------------------------------------------------------
// outcomes
// -----------------------------------------------------------------------------

/**
 * How one call of a lifecycle step behaves.
 *
 * - `Succeed`: completes at once.
 * - `Fail`: fails with `error` (for cleanup, which cannot fail in Effect, it dies with it).
 * - `Slow`: sleeps `millis` (on the `Clock`, so `TestClock` drives it), then succeeds.
 * - `Hang`: suspends until `state.releaseHangs()`, then succeeds; without it, forever.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "Succeed" }
  | { readonly _tag: "Fail"; readonly error: unknown }
  | { readonly _tag: "Slow"; readonly millis: number }
  | { readonly _tag: "Hang" }

/**
 * A validate outcome: any `Outcome`, or `Invalid` (the probe completes and answers `false`).
 *
 * @category models
 * @since 0.1.0
 */
export type ValidateOutcome = Outcome | { readonly _tag: "Invalid" }

/**
 * A health check outcome: any `Outcome` (a success is `Healthy`), or a given `Health.Status`.
 *
 * @category models
 * @since 0.1.0
 */
export type HealthOutcome = Outcome | { readonly _tag: "Status"; readonly status: Health.Status }

/**
 * The lifecycle steps a script can program.
 *
 * @category models
 * @since 0.1.0
 */
export type Step = "create" | "validate" | "recycle" | "cleanup" | "health"

/**
 * The outcomes of successive calls of one step: an array consumed in order (calls past its end
 * succeed), or a function of the step's call number (1 for the first call of the step, counted over
 * the state's whole life).
 *
 * @category models
 * @since 0.1.0
 */
export type Script<O> = ReadonlyArray<O> | ((call: number) => O)

/**
 * One script per step.
 *
 * @category models
 * @since 0.1.0
 */
export interface Scripts {
  readonly create: Script<Outcome>
  readonly validate: Script<ValidateOutcome>
  readonly recycle: Script<Outcome>
  readonly cleanup: Script<Outcome>
  readonly health: Script<HealthOutcome>
}

/**
 * The call completes at once.
 *
 * @category outcomes
 * @since 0.1.0
 */
export const succeed: Outcome = { _tag: "Succeed" }

/**
 * The call fails with `error`, by default an `InjectedFault` naming the step and call.
 *
 * @category outcomes
 * @since 0.1.0
 */
export const fail = (error?: unknown): Outcome => ({ _tag: "Fail", error })

/**
 * The call sleeps `duration` (a number is milliseconds), then succeeds.
 *
 * @category outcomes
 * @since 0.1.0
 */
export const slow = (duration: Duration.Input): Outcome => ({
  _tag: "Slow",
  millis: Duration.toMillis(Duration.fromInputUnsafe(duration))
})

/**
 * The call suspends until `state.releaseHangs()`.
 *
 * @category outcomes
 * @since 0.1.0
 */
export const hang: Outcome = { _tag: "Hang" }

/**
 * A validate call that completes and answers `false`.
 *
 * @category outcomes
 * @since 0.1.0
 */
export const invalid: ValidateOutcome = { _tag: "Invalid" }

/**
 * A health check call that reports `status`.
 *
 * @category outcomes
 * @since 0.1.0
 */
export const status = (status: Health.Status): HealthOutcome => ({ _tag: "Status", status })

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * The default error of a `fail` outcome.
 *
 * @category errors
 * @since 0.1.0
 */
export class InjectedFault extends Data.TaggedError("InjectedFault")<{
  readonly key: string
  readonly step: Step
  readonly call: number
}> {
  override get message() {
    return `injected ${this.step} failure of "${this.key}" (call ${this.call})`
  }
}

/**
 * `use` was called on an instance whose cleanup has started.
 *
 * @category errors
 * @since 0.1.0
 */
export class InstanceClosed extends Data.TaggedError("InstanceClosed")<{
  readonly key: string
  readonly id: number
}> {
  override get message() {
    return `instance #${this.id} of "${this.key}" is closed`
  }
}

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * One in-memory instance. `id` is the create call that built it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Instance {
  readonly key: string
  readonly id: number
  /** `Clock` time of the create, in milliseconds. */
  readonly createdAt: number
  /** Whether its cleanup has started. */
  readonly destroyed: boolean
  /** Successful `use` calls. */
  readonly uses: number
  readonly validations: number
  readonly recycles: number
}

/**
 * What happened to the instances, as plain numbers (for `deepStrictEqual`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Counters {
  /** Creates that completed: instances built. */
  readonly created: number
  /** Instances whose cleanup started, once each, whether the cleanup then succeeded, failed or hangs. */
  readonly destroyed: number
  /** Created and not destroyed. */
  readonly live: number
  /** The most instances live at once. */
  readonly maxLive: number
  /** Cleanups that completed without error. */
  readonly cleanupsCompleted: number
  /** Cleanups that died with their injected error. */
  readonly cleanupsFailed: number
  /** Calls per step, started. */
  readonly calls: Readonly<Record<Step, number>>
  /** Calls per step still running (a hung call stays counted). */
  readonly inProgress: Readonly<Record<Step, number>>
  /** Calls suspended on a `hang` right now. */
  readonly hung: number
  /** Ids of instances whose cleanup was called again (not counted again). */
  readonly doubleDestroys: ReadonlyArray<number>
  /** Ids of instances `use` was called on after their cleanup started. */
  readonly usedAfterDestroy: ReadonlyArray<number>
}

/**
 * A change of the instance set, for invariant checks at the moment it happens.
 *
 * @category models
 * @since 0.1.0
 */
export type Change =
  | { readonly _tag: "Created"; readonly instance: Instance }
  | { readonly _tag: "Destroyed"; readonly instance: Instance }

/**
 * The live state of a faulty resource: counters (read at any time, synchronously) and the
 * controls that reprogram it.
 *
 * @category models
 * @since 0.1.0
 */
export interface State extends Counters {
  readonly key: string
  /** The instances created and not destroyed. */
  readonly instances: ReadonlySet<Instance>
  /** Replaces the scripts of the given steps; the other steps keep theirs. */
  readonly program: (scripts: Partial<Scripts>) => void
  /** Every step succeeds from now on (faults off). Calls already hung stay hung. */
  readonly clear: () => void
  /** Resumes every call hung right now, as a success. Later `hang` outcomes hang again. */
  readonly releaseHangs: () => void
  /** Calls `listener` on every create and destroy; returns the unsubscribe function. */
  readonly observe: (listener: (change: Change) => void) => () => void
  /** A copy of the counters. */
  readonly snapshot: () => Counters
  /**
   * What went wrong so far, as messages: instances destroyed twice, used after destruction, and (when
   * `max` is given) more than `max` instances live at once.
   */
  readonly violations: (max?: number) => ReadonlyArray<string>
}

/**
 * The config schema of a faulty resource: an optional label, used for nothing. `layer()` passes `{}`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Config = Schema.Struct({ label: Schema.optionalKey(Schema.String) })

/**
 * The config of a faulty resource.
 *
 * @category models
 * @since 0.1.0
 */
export type Config = typeof Config.Type

/**
 * The declared resource of a faulty resource.
 *
 * @category models
 * @since 0.1.0
 */
export type Definition<Key extends string, Deps extends ReadonlyArray<Resource.Any | string>> = Resource.Resource<
  Key,
  Instance,
  Config,
  typeof Config.Encoded,
  unknown,
  never,
  Deps
>

/**
 * What `make` returns: the resource definition, its live state, and a layer shortcut.
 *
 * @category models
 * @since 0.1.0
 */
export interface FaultyResource<Key extends string, Deps extends ReadonlyArray<Resource.Any | string>> {
  readonly resource: Definition<Key, Deps>
  readonly state: State
  /** `resource.layer({}, options)`: it still requires `Manager.Manager` (and the dependencies' handles). */
  readonly layer: (
    options?: Parameters<Definition<Key, Deps>["layer"]>[1]
  ) => ReturnType<Definition<Key, Deps>["layer"]>
}

/**
 * Health settings of a faulty resource: the usual settings, with the check's outcomes as a script.
 *
 * @category models
 * @since 0.1.0
 */
export interface HealthSettings extends Omit<Health.Options<Instance>, "check"> {
  /** The outcomes of successive checks (each check of one instance is one call). @default always Healthy */
  readonly outcomes?: Script<HealthOutcome> | undefined
}

/**
 * Options of `make`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<Key extends string, Deps extends ReadonlyArray<Resource.Any | string>> {
  readonly key: Key
  readonly pool?: PoolOptions.Input | undefined
  readonly tenancy?: Tenancy.Tenancy | undefined
  readonly dependencies?: Deps | undefined
  /** @default every create succeeds */
  readonly create?: Script<Outcome> | undefined
  /** Gives the definition a `validate` (`true`: one that always answers `true`). @default no validate */
  readonly validate?: Script<ValidateOutcome> | true | undefined
  /** Gives the definition a `recycle` (`true`: one that always succeeds). @default no recycle */
  readonly recycle?: Script<Outcome> | true | undefined
  /** @default every cleanup succeeds */
  readonly cleanup?: Script<Outcome> | undefined
  /** Gives the definition a health check that follows `outcomes`. @default no health check */
  readonly health?: HealthSettings | undefined
  /**
   * Whether a create can be interrupted. A driver's connect usually cannot (it runs as the acquire
   * of `Effect.acquireRelease`), which is the default.
   *
   * @default false
   */
  readonly interruptibleCreate?: boolean | undefined
  /** Whether a create error is worth retrying. @default always */
  readonly isRetryable?: ((error: unknown) => boolean) | undefined
  /** Makes it a resident (shared) resource. @default pooled */
  readonly resident?: boolean | { readonly maxConcurrent?: number | undefined } | undefined
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Declares a faulty resource and its state.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const Key extends string, const Deps extends ReadonlyArray<Resource.Any | string> = readonly []>(
  options: Options<Key, Deps>
): FaultyResource<Key, Deps> => {
  const state = makeState(options.key)
  state.program({
    ...(options.create === undefined ? {} : { create: options.create }),
    ...(options.validate === undefined || options.validate === true ? {} : { validate: options.validate }),
    ...(options.recycle === undefined || options.recycle === true ? {} : { recycle: options.recycle }),
    ...(options.cleanup === undefined ? {} : { cleanup: options.cleanup }),
    ...(options.health?.outcomes === undefined ? {} : { health: options.health.outcomes })
  })
  const { outcomes: _outcomes, ...healthSettings } = options.health ?? {}
  const resource = Resource.make({
    key: options.key,
    config: Config,
    pool: options.pool,
    tenancy: options.tenancy,
    dependencies: options.dependencies,
    isRetryable: options.isRetryable,
    resident: options.resident,
    health: options.health === undefined ? undefined : { ...healthSettings, check: state.internal.check },
    create: () => state.internal.create(options.interruptibleCreate ?? false),
    validate: options.validate === undefined ? undefined : state.internal.validate,
    recycle: options.recycle === undefined ? undefined : state.internal.recycle
  }) as Definition<Key, Deps>
  return { resource, state, layer: (layerOptions) => resource.layer({}, layerOptions) }
}

/**
 * A real operation on an instance, for tests and `Conformance`'s `useInstance`: counts a use, and
 * fails with `InstanceClosed` (recording the id in `usedAfterDestroy`) once its cleanup has started.
 *
 * @category operations
 * @since 0.1.0
 */
export const use = (instance: Instance): Effect.Effect<number, InstanceClosed> =>
  Effect.suspend(() => {
    const self = instance as MutableInstance
    if (self.destroyed) {
      self.owner.usedAfterDestroy.push(self.id)
      return Effect.fail(new InstanceClosed({ key: self.key, id: self.id }))
    }
    return Effect.succeed(++self.uses)
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface MutableInstance extends Instance {
  readonly owner: { readonly usedAfterDestroy: Array<number> }
  destroyed: boolean
  uses: number
  validations: number
  recycles: number
}

const steps: ReadonlyArray<Step> = ["create", "validate", "recycle", "cleanup", "health"]

const perStep = (): Record<Step, number> => ({ create: 0, validate: 0, recycle: 0, cleanup: 0, health: 0 })

type AnyOutcome = Outcome | ValidateOutcome | HealthOutcome

interface Internal {
  readonly create: (interruptible: boolean) => Effect.Effect<Instance, unknown, Scope.Scope>
  readonly validate: (instance: Instance) => Effect.Effect<boolean, unknown>
  readonly recycle: (instance: Instance) => Effect.Effect<void, unknown>
  readonly check: (instance: Instance) => Effect.Effect<Health.Status, unknown>
}

const makeState = (key: string): State & { readonly internal: Internal } => {
  const instances = new Set<MutableInstance>()
  const calls = perStep()
  const inProgress = perStep()
  const doubleDestroys: Array<number> = []
  const usedAfterDestroy: Array<number> = []
  const owner = { usedAfterDestroy }
  const listeners = new Set<(change: Change) => void>()
  const scripts = new Map<Step, Script<AnyOutcome>>()
  const queues = new Map<Step, Array<AnyOutcome>>()
  let created = 0
  let destroyed = 0
  let maxLive = 0
  let cleanupsCompleted = 0
  let cleanupsFailed = 0
  let hung = 0
  let gate = Deferred.makeUnsafe<void>()

  const program = (update: Partial<Scripts>) => {
    for (const step of steps) {
      const script = update[step]
      if (script === undefined) continue
      scripts.set(step, script)
      if (typeof script !== "function") queues.set(step, [...script])
    }
  }

  const clear = () => program({ create: [], validate: [], recycle: [], cleanup: [], health: [] })

  const next = (step: Step): readonly [number, AnyOutcome] => {
    const call = ++calls[step]
    const script = scripts.get(step)
    const outcome = typeof script === "function" ? script(call) : queues.get(step)?.shift()
    return [call, outcome ?? succeed]
  }

  const notify = (change: Change) => {
    for (const listener of listeners) listener(change)
  }

  const hangUntilReleased = Effect.suspend(() => {
    hung++
    return Effect.ensuring(
      Deferred.await(gate),
      Effect.sync(() => {
        hung--
      })
    )
  })

  const run = (step: Step, call: number, outcome: Outcome): Effect.Effect<void, unknown> => {
    switch (outcome._tag) {
      case "Succeed":
        return Effect.void
      case "Fail":
        return Effect.fail(outcome.error === undefined ? new InjectedFault({ key, step, call }) : outcome.error)
      case "Slow":
        return Effect.sleep(outcome.millis)
      case "Hang":
        return hangUntilReleased
    }
  }

  const tracked = <A, E>(step: Step, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      inProgress[step]++
      return Effect.ensuring(
        effect,
        Effect.sync(() => {
          inProgress[step]--
        })
      )
    })

  const cleanup = (instance: MutableInstance): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (instance.destroyed) {
        doubleDestroys.push(instance.id)
        return Effect.void
      }
      instance.destroyed = true
      destroyed++
      instances.delete(instance)
      notify({ _tag: "Destroyed", instance })
      const [call, outcome] = next("cleanup")
      return tracked("cleanup", run("cleanup", call, outcome as Outcome)).pipe(
        Effect.matchCauseEffect({
          onFailure: (cause) => {
            cleanupsFailed++
            return Effect.failCause(cause)
          },
          onSuccess: () =>
            Effect.sync(() => {
              cleanupsCompleted++
            })
        }),
        Effect.orDie
      )
    })

  const create = (interruptible: boolean): Effect.Effect<Instance, unknown, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.suspend(() => {
        const [call, outcome] = next("create")
        return tracked("create", run("create", call, outcome as Outcome)).pipe(
          Effect.andThen(Clock.currentTimeMillis),
          Effect.map((createdAt) => {
            const instance: MutableInstance = {
              key,
              id: call,
              createdAt,
              owner,
              destroyed: false,
              uses: 0,
              validations: 0,
              recycles: 0
            }
            created++
            instances.add(instance)
            maxLive = Math.max(maxLive, instances.size)
            notify({ _tag: "Created", instance })
            return instance as Instance
          })
        )
      }),
      (instance) => cleanup(instance as MutableInstance),
      { interruptible }
    )

  const validate = (instance: Instance): Effect.Effect<boolean, unknown> =>
    Effect.suspend(() => {
      const [call, outcome] = next("validate")
      ;(instance as MutableInstance).validations++
      return tracked(
        "validate",
        outcome._tag === "Invalid"
          ? Effect.succeed(false)
          : Effect.map(run("validate", call, outcome as Outcome), () => !instance.destroyed)
      )
    })

  const recycle = (instance: Instance): Effect.Effect<void, unknown> =>
    Effect.suspend(() => {
      const [call, outcome] = next("recycle")
      ;(instance as MutableInstance).recycles++
      return tracked("recycle", run("recycle", call, outcome as Outcome))
    })

  const check = (instance: Instance): Effect.Effect<Health.Status, unknown> =>
    Effect.suspend(() => {
      const [call, outcome] = next("health")
      if (outcome._tag === "Status") return tracked("health", Effect.succeed(outcome.status))
      return tracked(
        "health",
        Effect.map(
          run("health", call, outcome as Outcome),
          () => instance.destroyed ? Health.unhealthy("instance closed") : Health.healthy
        )
      )
    })

  const snapshot = (): Counters => ({
    created,
    destroyed,
    live: instances.size,
    maxLive,
    cleanupsCompleted,
    cleanupsFailed,
    calls: { ...calls },
    inProgress: { ...inProgress },
    hung,
    doubleDestroys: [...doubleDestroys],
    usedAfterDestroy: [...usedAfterDestroy]
  })

  return {
    key,
    get instances() {
      return instances as ReadonlySet<Instance>
    },
    get created() {
      return created
    },
    get destroyed() {
      return destroyed
    },
    get live() {
      return instances.size
    },
    get maxLive() {
      return maxLive
    },
    get cleanupsCompleted() {
      return cleanupsCompleted
    },
    get cleanupsFailed() {
      return cleanupsFailed
    },
    calls,
    inProgress,
    get hung() {
      return hung
    },
    doubleDestroys,
    usedAfterDestroy,
    program,
    clear,
    releaseHangs: () => {
      const released = gate
      gate = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(released, Exit.void)
    },
    observe: (listener) => {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
    snapshot,
    violations: (max) => {
      const found: Array<string> = []
      if (doubleDestroys.length > 0) found.push(`instances destroyed twice: ${doubleDestroys.join(", ")}`)
      if (usedAfterDestroy.length > 0) found.push(`instances used after destruction: ${usedAfterDestroy.join(", ")}`)
      if (max !== undefined && maxLive > max) found.push(`${maxLive} instances live at once > max ${max}`)
      return found
    },
    internal: { create, validate, recycle, check }
  }
}
