import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Metric from "effect/Metric"
import * as Pool from "effect/Pool"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import * as Credentials from "../Credentials.ts"
import * as Health from "../Health.ts"
import * as Metrics from "../Metrics.ts"
import type { PoolOptions } from "../PoolOptions.ts"
import {
  type AcquireError,
  type AcquirePhase,
  AcquireTimeout,
  CreateFailed,
  CreateTimeout,
  type ErrorKind,
  isResourceError,
  type MissingCredential,
  type PoolNumbers,
  ResourceClosed
} from "../ResourceError.ts"
import { type CleanupReason, ResourceEvent, type ShutdownPhase } from "../ResourceEvent.ts"
import * as Tenancy from "../Tenancy.ts"
import type { EventBus } from "./eventBus.ts"
import { Histogram, Window } from "./histogram.ts"
import { type Queued, WaiterQueue } from "./waiterQueue.ts"

/** @internal */
export interface CreateContext {
  readonly key: string
  readonly credential: (id: string) => Effect.Effect<Redacted.Redacted<string>, MissingCredential>
}

/** @internal */
export interface Lifecycle<Instance, Config> {
  readonly create: (config: Config, context: CreateContext) => Effect.Effect<Instance, unknown, Scope.Scope>
  readonly validate: ((instance: Instance, config: Config) => Effect.Effect<boolean, unknown>) | undefined
  readonly recycle: ((instance: Instance, config: Config) => Effect.Effect<void, unknown>) | undefined
  readonly needsRecycle?: ((instance: Instance) => boolean) | undefined
  readonly isRetryable: (error: unknown) => boolean
}

/**
 * One callback-style operation on a leased instance: it starts the operation, calls `resume` exactly
 * once with its outcome and never throws; what it returns runs when the caller is interrupted while
 * the operation is in flight. It may run outside the caller's fiber, so it must not read the ambient
 * fiber or its services.
 *
 * @internal
 */
export type Callback<I, A, E> = (
  instance: I,
  resume: (effect: Effect.Effect<A, E>) => void
) => Effect.Effect<void> | void

/** @internal */
export interface Stats extends PoolNumbers {
  readonly created: number
  readonly destroyed: number
  readonly acquisitions: number
  readonly timeouts: number
}

/** @internal */
export interface Percentiles {
  readonly p50: number
  readonly p95: number
  readonly p99: number
}

/** @internal */
export interface ResourceShutdown {
  readonly key: string
  readonly drained: boolean
  readonly outstanding: number
  readonly forced: number
  readonly cleanedUp: boolean
}

/** @internal */
export interface CallerIds {
  readonly tenantId: string | undefined
  readonly workflowId: string | undefined
  readonly executionId: string | undefined
}

/**
 * What the health monitor may do to a pool.
 *
 * @internal
 */
export interface HealthAccess<I> {
  /** Blocks acquires with the given error (fail fast), or unblocks them. */
  readonly block: (error: (() => AcquireError) | undefined) => void
  /** Leases the idle instances (or creates one when there are none), runs `check` on each under the timeout, evicts the ones that fail. */
  readonly probeIdle: (
    check: (instance: I) => Effect.Effect<Health.Status>
  ) => Effect.Effect<{ readonly statuses: ReadonlyArray<Health.Status>; readonly instances: number }>
  /** Creates a fresh instance outside the pool, runs `check` on it, and cleans it up. */
  readonly probeFresh: (check: (instance: I) => Effect.Effect<Health.Status>) => Effect.Effect<Health.Status>
  /** Destroys every idle instance. */
  readonly evictIdle: Effect.Effect<void>
  /** Wall-clock time in milliseconds, for timestamps shown to people. */
  readonly now: () => number
  /** Monotonic time in milliseconds, for deadlines and durations. */
  readonly monotonic: () => number
  readonly publish: (event: ResourceEvent) => Effect.Effect<void>
  readonly log: (effect: Effect.Effect<void>) => Effect.Effect<void>
  readonly countQuarantine: () => void
  readonly countRecoveryAttempt: () => void
  readonly setHealthScore: (score: number) => void
}

/** @internal */
export interface ResourcePool<I> {
  readonly key: string
  readonly tenancy: Tenancy.Tenancy
  readonly options: PoolOptions
  readonly acquire: Effect.Effect<I, AcquireError, Scope.Scope>
  /** Chooses the acquire path synchronously; call it inside the effect that runs it. */
  readonly acquireNow: (
    observed: boolean,
    traced: boolean,
    caller: CallerIds | undefined
  ) => Effect.Effect<I, AcquireError, Scope.Scope>
  /** Chooses the use path synchronously; call it inside the effect that runs it. */
  readonly useNow: <A, E, R>(
    f: (instance: I) => Effect.Effect<A, E, R>,
    observed: boolean,
    traced: boolean,
    caller: CallerIds | undefined
  ) => Effect.Effect<A, E | AcquireError, R>
  /** Chooses the callback path synchronously; call it inside the effect that runs it. */
  readonly useCallbackNow: <A, E>(
    start: Callback<I, A, E>,
    observed: boolean,
    traced: boolean,
    caller: CallerIds | undefined
  ) => Effect.Effect<A, E | AcquireError>
  readonly stats: () => Stats
  /** Acquire wait percentiles in milliseconds over the most recent acquires. */
  readonly waitPercentiles: () => Percentiles
  readonly isServing: () => boolean
  /** Whether leases are stamped with the caller's ids for the hold-deadline watchdog. */
  readonly watchesHolds: boolean
  readonly health: HealthAccess<I>
  /** The first shutdown phase alone: new acquires fail at once, waiters fail, idle instances close. */
  readonly stopIssuing: Effect.Effect<void>
  readonly shutdown: Effect.Effect<ResourceShutdown>
}

type CreateError = CreateFailed | CreateTimeout | MissingCredential
type PoolError = CreateError | AcquireError
type Item<I> = Pool.PoolItem<I, PoolError>

interface Entry<I> {
  readonly instance: I
  readonly expiresAt: number
  readonly scope: Scope.Closeable
  idleSince: number
  leasedAt: number
  observed: boolean
  probes: number
  /** The fiber of the health sweep that holds the probes: only its returns are the probes'. */
  prober: Fiber.Fiber<unknown, unknown> | undefined
  holdReported: boolean
  caller: CallerIds | undefined
  discarded: boolean
  forced: boolean
  cleanupReason: CleanupReason | undefined
  item: Item<I> | undefined
  returnSlot: Effect.Effect<void>
  afterKept: Effect.Effect<void>
}

/**
 * A caller asleep in the FIFO. Taken out of it, it is given one outcome (a lease, a signal to try the
 * pool, or a failure) and then resumed. The resumed effect's first step claims the outcome: a lease
 * not yet claimed when the caller is interrupted goes back, and so does an unclaimed signal.
 */
interface Waiter<I> extends Queued {
  readonly startedAt: number
  lease: Entry<I> | undefined
  signaled: boolean
  failure: AcquireError | undefined
  /** Resumes the caller with `lease`, which it then holds. */
  take(entry: Entry<I>): void
  /** Resumes the caller to try the pool itself: a slot may have become free. */
  retry(): void
  fail(error: AcquireError): void
}

interface Attempt {
  readonly startedAt: number
  readonly observed: boolean
  readonly traced: boolean
  phase: AcquirePhase
  failures: number
  lastFailure: CreateError | undefined
}

type State =
  | { readonly _tag: "Serving" }
  | { readonly _tag: "Draining"; readonly drained: Deferred.Deferred<void> }
  | { readonly _tag: "Closed" }

const cleanupReasons: ReadonlyArray<CleanupReason> = [
  "expired",
  "idle",
  "validation_failed",
  "recycle_failed",
  "shutdown",
  "evicted"
]
const errorKinds: ReadonlyArray<ErrorKind> = ["Transient", "Permanent", "Exhausted", "NotFound", "Cancelled"]

/**
 * One resource's pool: `Pool.makeWithTTL` plus what a connection pool needs on top of it (create
 * timeout and retry, acquire timeout with a FIFO of waiters, validation on borrow, recycle on
 * return, jittered max lifetime, LIFO/FIFO selection, phased shutdown), with its numbers kept in plain
 * fields and exported as metrics, events and logs.
 *
 * Every pool item is adopted as the pool inserts it: its `release` is wrapped so that each return
 * runs the resource's return path (recycle, expiry, FIFO placement, waking a waiter). Leases taken
 * on the fast path are therefore plain `Pool.get` / `Pool.use` calls with no extra finalizer.
 *
 * @internal
 */
export const make = Effect.fnUntraced(function*<I, Config>(params: {
  readonly key: string
  readonly tenancy: Tenancy.Tenancy
  readonly options: PoolOptions
  readonly config: Config
  readonly lifecycle: Lifecycle<I, Config>
  readonly events: EventBus
  readonly healthTimeout: Duration.Duration
  readonly maxEvictionFraction: number
  /** Leases one instance may serve at once: 1 for pooled resources, more for a resident (shared) one. */
  readonly concurrency: number
}) {
  const { config, events, key, lifecycle, options } = params
  const resourceScope = yield* Scope.Scope
  const clock = yield* Clock.Clock
  const credentials = yield* Credentials.Credentials
  const ms = Duration.toMillis
  const acquireTimeoutMs = ms(options.acquireTimeout)
  const createTimeoutMs = ms(options.createTimeout)
  const skipWindowMs = ms(options.validateSkipWindow)
  const maxLifetimeMs = ms(options.maxLifetime)
  const fifo = options.selection === "fifo"
  const shared = params.concurrency > 1
  const { needsRecycle, recycle, validate } = lifecycle
  const neverRecycles = recycle === undefined || shared
  const skipsRecycle = (instance: I): boolean =>
    neverRecycles || (needsRecycle !== undefined && !needsRecycle(instance))
  const tenancyLabel = Tenancy.format(params.tenancy)
  const now = () => monotonicMillis(clock)
  const wallNow = () => clock.currentTimeMillisUnsafe()

  let state: State = { _tag: "Serving" }
  /** Set by the health monitor: acquires (and creates) fail fast with this error. */
  let blocked: (() => AcquireError) | undefined
  const entries = new Map<I, Entry<I>>()
  const waiters = new WaiterQueue<Waiter<I>>()
  const hasWaiters = Latch.makeUnsafe(false)
  const closedError = new ResourceClosed({ key })
  let creating = 0
  let created = 0
  let destroyed = 0
  let released = 0
  let timeouts = 0
  let slowAcquired = 0
  const cleanups = new Map<CleanupReason, number>(cleanupReasons.map((reason) => [reason, 0]))
  const errors = new Map<ErrorKind, number>(errorKinds.map((kind) => [kind, 0]))
  const waitHistogram = new Histogram()
  const holdHistogram = new Histogram()
  const createHistogram = new Histogram()
  const recentWaits = new Window(1024)

  // ---------------------------------------------------------------------------
  // observation: events and logs
  // ---------------------------------------------------------------------------

  const common = () => ({ key, tenancy: tenancyLabel, at: wallNow() })

  const annotations = () => {
    const n = numbers()
    return {
      "resource.id": key,
      "resource.scope": tenancyLabel,
      "pool.size": n.size,
      "pool.in_use": n.inUse,
      "pool.idle": n.idle,
      "pool.waiters": n.waiters
    }
  }

  const log = (effect: Effect.Effect<void>) => Effect.suspend(() => Effect.annotateLogs(effect, annotations()))

  const observeAcquired = (waitMs: number): Effect.Effect<void> =>
    Effect.andThen(
      events.publish(ResourceEvent.Acquired({ ...common(), waitMs })),
      log(Effect.logDebug("resource acquired", { waitMs }))
    )

  const observeReleased = (holdMs: number): Effect.Effect<void> =>
    Effect.andThen(
      events.publish(ResourceEvent.Released({ ...common(), holdMs })),
      log(Effect.logDebug("resource released", { holdMs }))
    )

  const onAcquireFailed = (error: AcquireError): Effect.Effect<void> =>
    Effect.suspend(() => {
      errors.set(error.kind, (errors.get(error.kind) ?? 0) + 1)
      return Effect.andThen(
        events.publish(
          ResourceEvent.AcquireFailed({
            ...common(),
            errorTag: error._tag,
            errorKind: error.kind,
            error: error.message
          })
        ),
        error._tag === "ResourceClosed" ? Effect.void : log(Effect.logError("resource acquire failed", error.message))
      )
    })

  const onExhausted = (): Effect.Effect<void> =>
    Effect.suspend(() => {
      const n = numbers()
      return Effect.andThen(
        events.publish(ResourceEvent.PoolExhausted({ ...common(), waiters: n.waiters, max: n.max })),
        log(Effect.logWarning("resource pool exhausted; callers are waiting"))
      )
    })

  const spanned = <A, E, R>(attempt: Attempt, name: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    attempt.traced
      ? Effect.withSpan(effect, name, { attributes: { "resource.id": key, "resource.scope": tenancyLabel } })
      : effect

  const phase = <A>(name: ShutdownPhase, effect: Effect.Effect<A>): Effect.Effect<A> =>
    Effect.andThen(
      events.publish(ResourceEvent.ShutdownPhaseStarted({ ...common(), phase: name })),
      Effect.tap(effect, () => events.publish(ResourceEvent.ShutdownPhaseFinished({ ...common(), phase: name })))
    )

  // ---------------------------------------------------------------------------
  // create
  // ---------------------------------------------------------------------------

  const toCreateError = (error: unknown, secrets: ReadonlyArray<string>): CreateError =>
    error instanceof CreateTimeout || (isResourceError(error) && error._tag === "MissingCredential")
      ? error as CreateError
      : new CreateFailed({
        key,
        reason: redact(describe(error), secrets),
        attempts: 1,
        retryable: lifecycle.isRetryable(error)
      })

  let abandoned = 0
  /**
   * The latest failing create (with its caller's attempt count and time) until a create succeeds: what a
   * caller that ran out of time reports when it failed during its wait.
   */
  let failingCreates: { readonly error: CreateError; readonly count: number; readonly at: number } | undefined

  const abandon = (fiber: Fiber.Fiber<unknown, unknown>): void => {
    abandoned++
    fiber.addObserver(() => {
      abandoned--
    })
    fiber.interruptUnsafe()
  }

  /**
   * Creates that outlived their timeout may still connect: they count against max until they settle,
   * and a create with no room left fails as a create timeout (the backend is that slow).
   */
  const noRoom = (): CreateTimeout | undefined =>
    abandoned > 0 && entries.size + creating + abandoned >= options.max
      ? new CreateTimeout({ key, timeoutMs: createTimeoutMs, attempts: 1 })
      : undefined

  const withCreateTimeout = <A>(
    create: Effect.Effect<A, unknown, Scope.Scope>
  ): Effect.Effect<A, unknown, Scope.Scope> =>
    Effect.flatMap(Effect.forkDetach(create, { startImmediately: true }), (fiber) =>
      Fiber.join(fiber).pipe(
        Effect.timeoutOrElse({
          duration: options.createTimeout,
          orElse: () => {
            abandon(fiber)
            return Effect.fail(new CreateTimeout({ key, timeoutMs: createTimeoutMs, attempts: 1 }))
          }
        }),
        Effect.onInterrupt(() => Effect.sync(() => abandon(fiber)))
      ))

  const onDestroyed = (entry: Entry<I>): Effect.Effect<void> =>
    Effect.suspend(() => {
      destroyed++
      const reason = entry.cleanupReason ?? (state._tag === "Serving" ? "idle" : "shutdown")
      cleanups.set(reason, (cleanups.get(reason) ?? 0) + 1)
      return events.publish(ResourceEvent.CleanedUp({ ...common(), reason }))
    })

  /**
   * Runs an instance's cleanup (the driver's finalizers) in its own fiber: its failures and defects
   * are logged and ignored, and nobody waits for it longer than the cleanup timeout.
   */
  let cleanupOverran = false

  const closeBounded = (instanceScope: Scope.Closeable): Effect.Effect<void> =>
    Effect.flatMap(
      Effect.forkDetach(
        Scope.close(instanceScope, Exit.void).pipe(
          Effect.catchCause((cause) => log(Effect.logWarning("resource cleanup failed", describeCause(cause))))
        ),
        { startImmediately: true }
      ),
      (fiber) =>
        Effect.flatMap(Effect.timeoutOption(Fiber.await(fiber), options.cleanupTimeout), (done) =>
          done._tag === "Some" ? Effect.void : Effect.suspend(() => {
            cleanupOverran = true
            return log(Effect.logWarning("resource cleanup exceeded the cleanup timeout"))
          }))
    )

  /** What `create` receives; every credential it resolves is remembered so errors can be redacted. */
  const createContext = (secrets: Array<string>): CreateContext => ({
    key,
    credential: (id) =>
      Effect.tap(
        Effect.provideService(Credentials.resolve(id, key), Credentials.Credentials, credentials),
        (value) => Effect.sync(() => secrets.push(Redacted.value(value)))
      )
  })

  /** The span of a traced acquire that is about to trigger a create: the create becomes its child. */
  let createParent: Tracer.AnySpan | undefined

  const createInstance = Effect.gen(function*() {
    const scope = (yield* Scope.Scope) as Scope.Closeable
    const secrets: Array<string> = []
    const context = createContext(secrets)
    let entry: Entry<I> | undefined
    yield* Scope.addFinalizer(scope, Effect.suspend(() => entry === undefined ? Effect.void : onDestroyed(entry)))
    if (blocked !== undefined) return yield* Effect.fail(blocked())
    const full = noRoom()
    if (full !== undefined) return yield* Effect.fail(full)
    creating++
    const startedAt = now()
    const instanceScope = Scope.makeUnsafe()
    yield* Scope.addFinalizer(scope, closeBounded(instanceScope))
    const instance = yield* withCreateTimeout(Scope.provide(lifecycle.create(config, context), instanceScope)).pipe(
      Effect.catchDefect((defect) => Effect.fail(defect)),
      Effect.mapError((error) => toCreateError(error, secrets)),
      Effect.ensuring(Effect.sync(() => creating--)),
      (create) => {
        const parent = createParent
        createParent = undefined
        return Effect.withSpan(create, "resource.create", {
          ...(parent === undefined ? { root: true } : { parent }),
          attributes: { "resource.id": key, "resource.scope": tenancyLabel }
        })
      }
    )
    if (entries.has(instance)) {
      return yield* Effect.die(new Error(`create of "${key}" returned an instance that is already pooled`))
    }
    const jitter = (yield* Random.next) * options.lifetimeJitter
    const createdAt = now()
    const fresh: Entry<I> = {
      instance,
      expiresAt: createdAt + maxLifetimeMs * (1 - jitter),
      scope,
      idleSince: createdAt,
      leasedAt: -1,
      observed: false,
      probes: 0,
      prober: undefined,
      holdReported: false,
      caller: undefined,
      discarded: false,
      forced: false,
      cleanupReason: undefined,
      item: undefined,
      returnSlot: Effect.void,
      afterKept: Effect.void
    }
    entry = fresh
    entries.set(instance, fresh)
    created++
    failingCreates = undefined
    createHistogram.record((createdAt - startedAt) / 1000)
    yield* Scope.addFinalizer(scope, Effect.sync(() => entries.delete(instance)))
    yield* events.publish(ResourceEvent.InstanceCreated({ ...common(), createMs: createdAt - startedAt }))
    return instance
  })

  const pool = yield* Pool.makeWithTTL<I, PoolError, Scope.Scope>({
    acquire: Effect.provideService(createInstance, Clock.Clock, clock),
    min: options.min,
    max: options.max,
    concurrency: params.concurrency,
    timeToLive: options.idleTimeout,
    timeToLiveStrategy: "usage"
  }).pipe(Scope.provide(yield* Scope.fork(resourceScope)), Effect.provideService(Clock.Clock, monotonicClock(clock)))
  const poolScope = pool.state.scope as Scope.Closeable

  // ---------------------------------------------------------------------------
  // returning a lease
  // ---------------------------------------------------------------------------

  const isExpired = (entry: Entry<I>, at: number) => at >= entry.expiresAt

  /** A lease just returned is validated before its next borrow only when every borrow is validated. */
  const validatesEveryBorrow = validate !== undefined && !shared && skipWindowMs <= 0

  const needsValidation = (entry: Entry<I>, at: number) =>
    validate !== undefined && !shared && at - entry.idleSince >= skipWindowMs

  /** Leases callers hold on an instance (several on a shared instance), probes excluded. */
  const leasesOf = (entry: Entry<I>) =>
    entry.item === undefined || entry.discarded || entry.forced ? 0 : entry.item.refCount - entry.probes

  const isLeased = (entry: Entry<I>) => leasesOf(entry) > 0

  const countInUse = () => {
    let n = 0
    for (const entry of entries.values()) n += leasesOf(entry)
    return n
  }

  const retire = (entry: Entry<I>, reason: CleanupReason): Effect.Effect<void> => {
    entry.cleanupReason ??= reason
    return Effect.uninterruptible(Scope.close(entry.scope, Exit.void))
  }

  /** Closes an instance (unless other leases still share it) and takes its slot out of the pool, as one step. */
  const destroy = (entry: Entry<I>, reason: CleanupReason): Effect.Effect<void> => {
    entry.cleanupReason ??= reason
    const close = entry.item !== undefined && entry.item.refCount > 1
      ? Effect.void
      : Scope.close(entry.scope, Exit.void)
    return Effect.uninterruptible(
      Effect.andThen(Effect.andThen(close, Pool.invalidate(pool, entry.instance)), Effect.sync(signalCapacity))
    )
  }

  const moveToBack = (item: Item<I>): void => {
    const s = pool.state
    if (!item.isAvailable || s.availableTail === item) return
    if (item.availablePrevious !== undefined) item.availablePrevious.availableNext = item.availableNext
    else s.availableHead = item.availableNext
    item.availableNext!.availablePrevious = item.availablePrevious
    item.availablePrevious = s.availableTail
    item.availableNext = undefined
    s.availableTail!.availableNext = item
    s.availableTail = item
  }

  const checkDrained = (): void => {
    if (state._tag === "Draining" && countInUse() === 0) Deferred.doneUnsafe(state.drained, Exit.void)
  }

  const afterReturn = (entry: Entry<I>, kept: boolean): void => {
    if (kept && fifo && entry.item !== undefined) moveToBack(entry.item)
    checkDrained()
    signalCapacity()
  }

  const keepAfterRecycle = (entry: Entry<I>): Effect.Effect<boolean> =>
    Effect.interruptible(recycle!(entry.instance, config)).pipe(
      Effect.timeoutOrElse({ duration: options.recycleTimeout, orElse: () => Effect.fail("recycle timed out") }),
      Effect.matchCauseEffect({
        onFailure: () => Effect.as(destroy(entry, "recycle_failed"), false),
        onSuccess: () => Effect.succeed(true)
      })
    )

  const keepOrDestroy = (entry: Entry<I>, at: number): Effect.Effect<boolean> => {
    if (state._tag !== "Serving") return Effect.as(retire(entry, "shutdown"), false)
    if (isExpired(entry, at)) return Effect.as(destroy(entry, "expired"), false)
    return skipsRecycle(entry.instance) ? Effect.succeed(true) : keepAfterRecycle(entry)
  }

  /** The bookkeeping of a returned lease; returns how long it was held. */
  const recordReleased = (entry: Entry<I>, at: number): number => {
    released++
    const holdMs = entry.leasedAt < 0 ? 0 : at - entry.leasedAt
    if (entry.leasedAt >= 0) {
      holdHistogram.record(holdMs / 1000)
      entry.leasedAt = -1
    }
    entry.caller = undefined
    return holdMs
  }

  /**
   * Returns a lease without running an effect when nothing about it needs one: a clean instance,
   * still serving and unexpired, goes straight to the first waiting caller. False when it did nothing.
   */
  const handOverAtOnce = (entry: Entry<I>): boolean => {
    if (!handsOver() || state._tag !== "Serving") return false
    if (entry.forced || entry.discarded || entry.probes > 0 || entry.holdReported || entry.observed) return false
    const at = now()
    if (isExpired(entry, at) || !skipsRecycle(entry.instance)) return false
    recordReleased(entry, at)
    entry.idleSince = at
    return handOff(entry)
  }

  const returnLease = (entry: Entry<I>): Effect.Effect<void> => {
    if (entry.forced) return Effect.void
    if (entry.discarded) return Effect.andThen(entry.returnSlot, Effect.sync(checkDrained))
    if (entry.probes > 0 && entry.prober === Fiber.getCurrent()) {
      if (--entry.probes === 0) entry.prober = undefined
      return state._tag === "Serving"
        ? entry.afterKept
        : Effect.flatMap(keepOrDestroy(entry, now()), () => entry.afterKept)
    }
    const at = now()
    const holdMs = recordReleased(entry, at)
    if (entry.holdReported) {
      entry.holdReported = false
      return Effect.andThen(
        events.publish(ResourceEvent.HoldDeadlineReturned({ ...common(), heldMs: holdMs })),
        returnAfterHold(entry, at, holdMs)
      )
    }
    return returnAfterHold(entry, at, holdMs)
  }

  /**
   * A kept instance goes straight to the first caller in the FIFO, or back to the pool when nobody
   * waits there or a caller waits inside the pool itself (for a create, or after losing an idle
   * instance between the fast path's check and its take): that caller came first.
   */
  const returnKept = (entry: Entry<I>): Effect.Effect<void> => {
    if (handsOver()) return handOff(entry) ? Effect.void : entry.afterKept
    return fifo || waiters.size !== 0 || pool.state.waiters.size !== 0 ? entry.afterKept : entry.returnSlot
  }

  /** Whether a kept lease goes straight to the first caller in the FIFO rather than back to the pool. */
  const handsOver = (): boolean => waiters.size !== 0 && pool.state.waiters.size === 0 && !validatesEveryBorrow

  const returnAfter = (entry: Entry<I>, keep: Effect.Effect<boolean>): Effect.Effect<void> =>
    Effect.flatMap(
      keep,
      (kept) => {
        if (!kept) return Effect.andThen(entry.returnSlot, Effect.sync(() => afterReturn(entry, false)))
        entry.idleSince = now()
        return returnKept(entry)
      }
    )

  const returnAfterHold = (entry: Entry<I>, at: number, holdMs: number): Effect.Effect<void> => {
    entry.idleSince = at
    if (!entry.observed) return returnNow(entry, at)
    entry.observed = false
    return Effect.andThen(observeReleased(holdMs), Effect.suspend(() => returnNow(entry, at)))
  }

  const returnNow = (entry: Entry<I>, at: number): Effect.Effect<void> =>
    state._tag !== "Serving" || isExpired(entry, at)
      ? returnAfter(entry, keepOrDestroy(entry, at))
      : skipsRecycle(entry.instance)
      ? returnKept(entry)
      : returnAfter(entry, keepAfterRecycle(entry))

  const adopt = (item: Item<I>): void => {
    if (item.exit._tag !== "Success") return
    const entry = entries.get(item.exit.value)
    if (entry === undefined || entry.item !== undefined) return
    const original = item.release
    entry.item = item
    entry.returnSlot = original(Exit.void)
    entry.afterKept = Effect.andThen(entry.returnSlot, Effect.sync(() => afterReturn(entry, true)))
    item.release = () => returnLease(entry)
  }

  let failedSlots = true

  const items = pool.state.items
  const insert = items.add.bind(items)
  items.add = (item) => {
    if (item.exit._tag === "Failure") failedSlots = true
    else adopt(item)
    return insert(item)
  }
  for (const item of items) adopt(item)

  /**
   * A caller leaving the pool's own queue (it took an instance, or gave up) may leave room for the
   * callers in the FIFO: a returning lease served it first, and another instance may sit idle behind
   * it, or one created for it. They are signalled once the pool's step is over.
   */
  const poolWaiters = pool.state.waiters
  const removePoolWaiter = poolWaiters.delete.bind(poolWaiters)
  poolWaiters.delete = (waiter) => {
    const removed = removePoolWaiter(waiter)
    if (removed && waiters.size !== 0) Fiber.getCurrent()?.currentDispatcher.scheduleTask(signalCapacity, 0)
    return removed
  }

  const removeAvailable = (item: Item<I>): void => {
    const s = pool.state
    if (!item.isAvailable) return
    item.isAvailable = false
    if (item.availablePrevious !== undefined) item.availablePrevious.availableNext = item.availableNext
    else s.availableHead = item.availableNext
    if (item.availableNext !== undefined) item.availableNext.availablePrevious = item.availablePrevious
    else s.availableTail = item.availablePrevious
    item.availablePrevious = undefined
    item.availableNext = undefined
  }

  /**
   * Forgets failed creates that nobody was waiting for (a min fill while the backend was down, a
   * create that outlived its caller). Left in place they count toward the pool's size and block
   * the replacement a later caller needs; that caller gets a fresh create attempt instead.
   */
  const purgeFailedSlots = (): void => {
    if (!failedSlots) return
    failedSlots = false
    const s = pool.state
    for (const item of Array.from(s.items)) {
      if (item.exit._tag !== "Failure" || item.refCount > 0) continue
      s.items.delete(item)
      s.invalidated.delete(item)
      removeAvailable(item)
    }
  }

  // ---------------------------------------------------------------------------
  // waiting: a FIFO of callers for a full pool, handed returning leases in order
  // ---------------------------------------------------------------------------

  const enqueue = (waiter: Waiter<I>, front = false): void => {
    if (front) waiters.unshift(waiter)
    else waiters.add(waiter)
    hasWaiters.openUnsafe()
  }

  const leave = (waiter: Waiter<I>): void => {
    if (waiters.remove(waiter) && waiters.size === 0) hasWaiters.closeUnsafe()
  }

  const nextWaiter = (): Waiter<I> | undefined => {
    const waiter = waiters.shift()
    if (waiter !== undefined && waiters.size === 0) hasWaiters.closeUnsafe()
    return waiter
  }

  let resuming = false
  const deferred: Array<Waiter<I>> = []

  const resumeNow = (waiter: Waiter<I>): void => {
    if (waiter.lease !== undefined) waiter.take(waiter.lease)
    else if (waiter.failure !== undefined) waiter.fail(waiter.failure)
    else if (waiter.signaled) waiter.retry()
  }

  /**
   * Resumes a waiter that has its outcome. A resumed caller runs on the resumer's stack, and may
   * return its lease and resume the next one at once: those are resumed one after another by the
   * outermost call, not one inside another.
   */
  const dispatch = (waiter: Waiter<I>): void => {
    if (resuming) {
      deferred.push(waiter)
      return
    }
    resuming = true
    resumeNow(waiter)
    for (let i = 0; i < deferred.length; i++) resumeNow(deferred[i]!)
    deferred.length = 0
    resuming = false
  }

  const handOff = (entry: Entry<I>): boolean => {
    const waiter = nextWaiter()
    if (waiter === undefined) return false
    waiter.lease = entry
    dispatch(waiter)
    return true
  }

  const failWaiter = (waiter: Waiter<I>, error: AcquireError): void => {
    if (!waiter.queued) return
    leave(waiter)
    waiter.failure = error
    dispatch(waiter)
  }

  /**
   * What an interrupted waiter leaves behind: its place, an unclaimed signal, and an unclaimed lease,
   * which goes on to the next caller (it never was a lease of this one).
   */
  const cancelWaiter = (waiter: Waiter<I>): Effect.Effect<void> => {
    leave(waiter)
    if (waiter.signaled) {
      waiter.signaled = false
      signalCapacity()
    }
    const lease = waiter.lease
    if (lease === undefined) return Effect.void
    waiter.lease = undefined
    return state._tag === "Serving" ? returnKept(lease) : returnAfter(lease, keepOrDestroy(lease, now()))
  }

  /**
   * Whether a caller may go through the pool itself: an item is free, or the pool can still grow
   * beyond the creates that callers inside the pool already wait for.
   */
  const canTryPool = (): boolean => {
    const s = pool.state
    const active = s.items.size - s.invalidated.size
    if (s.availableHead !== undefined && (s.waiters.size === 0 || shared)) return true
    return active + (shared ? 0 : s.waiters.size) < options.max
  }

  /** Wakes the first waiter to try again when a slot may have become free without a lease to hand over. */
  const signalCapacity = (): void => {
    if (waiters.size === 0 || state._tag !== "Serving") return
    purgeFailedSlots()
    if (!canTryPool()) return
    const waiter = nextWaiter()
    if (waiter === undefined) return
    waiter.signaled = true
    dispatch(waiter)
  }

  const expireWaiters = Effect.suspend(() => {
    const at = now()
    let next = Number.POSITIVE_INFINITY
    for (const waiter of waiters.toArray()) {
      if (!waiter.queued) continue
      const deadline = waiter.startedAt + acquireTimeoutMs
      if (deadline <= at) {
        timeouts++
        const error = failingCreates !== undefined && failingCreates.at >= waiter.startedAt
          ? createErrorAfter(failingCreates.error, failingCreates.count)
          : new AcquireTimeout({ key, phase: "wait", timeoutMs: acquireTimeoutMs, pool: numbers() })
        failWaiter(waiter, error)
      } else {
        next = Math.min(next, deadline)
      }
    }
    return next === Number.POSITIVE_INFINITY ? hasWaiters.await : Effect.sleep(Math.max(1, next - at))
  })

  const failWaiters = (error: AcquireError = closedError): void => {
    for (const waiter of waiters.toArray()) failWaiter(waiter, error)
    const failure = Exit.fail(error) as Exit.Failure<I, PoolError>
    for (const notify of Array.from(pool.state.waiters)) notify(failure)
  }

  // ---------------------------------------------------------------------------
  // acquire
  // ---------------------------------------------------------------------------

  const numbers = (): PoolNumbers => {
    let size = 0
    let inUse = 0
    let idle = 0
    for (const entry of entries.values()) {
      if (entry.discarded || entry.forced) continue
      size++
      const leases = leasesOf(entry)
      inUse += leases
      if (leases === 0) idle++
    }
    return { size, inUse, idle, waiters: waiters.size + pool.state.waiters.size, max: options.max }
  }

  const readyEntry = (at: number): Entry<I> | undefined => {
    const s = pool.state
    if (s.waiters.size !== 0) return undefined
    const head = s.availableHead
    if (head === undefined || head.exit._tag !== "Success") return undefined
    const entry = entries.get(head.exit.value)
    if (entry === undefined || isExpired(entry, at) || needsValidation(entry, at)) return undefined
    return entry
  }

  const headIsReady = (): boolean => {
    const s = pool.state
    return s.waiters.size === 0 && s.availableHead !== undefined && s.availableHead.exit._tag === "Success"
  }

  let leases = 0

  const sampleHold = (): void => {
    if (shared || (++leases & 7) !== 0) return
    const head = pool.state.availableHead
    const entry = head !== undefined && head.exit._tag === "Success" ? entries.get(head.exit.value) : undefined
    if (entry !== undefined) entry.leasedAt = now()
  }

  /** Whether the next lease can be taken from the pool at once without validation. */
  const canTakeFast = (): boolean => {
    if (waiters.size !== 0) return false
    if (validate === undefined || shared) return headIsReady()
    const at = now()
    const entry = readyEntry(at)
    return entry !== undefined
  }

  const takeReady = Pool.get(pool) as Effect.Effect<I, never, Scope.Scope>

  const takeReadyObserved: Effect.Effect<I, never, Scope.Scope> = Effect.tap(takeReady, (instance) => {
    const entry = entries.get(instance)
    if (entry === undefined) return Effect.void
    entry.observed = true
    entry.leasedAt = now()
    return observeAcquired(0)
  })

  const backoff = (failures: number) =>
    Math.min(ms(options.createBackoff) * 2 ** (failures - 1), ms(options.createBackoffMax))

  /** The error of an acquire that ran out of time while creates kept failing: the create error, with the count. */
  const createErrorAfter = (last: CreateError, attempts: number): AcquireError =>
    last._tag === "CreateTimeout"
      ? new CreateTimeout({ key, timeoutMs: createTimeoutMs, attempts })
      : last._tag === "CreateFailed"
      ? new CreateFailed({ key, reason: last.reason, attempts, retryable: true })
      : last

  const timedOut = (attempt: Attempt): AcquireError => {
    timeouts++
    if (attempt.phase !== "validate") {
      if (attempt.lastFailure !== undefined) return createErrorAfter(attempt.lastFailure, attempt.failures)
      if (failingCreates !== undefined && failingCreates.at >= attempt.startedAt) {
        return createErrorAfter(failingCreates.error, failingCreates.count)
      }
    }
    const phase: AcquirePhase = attempt.phase === "validate" ? "validate" : creating > 0 ? "create" : "wait"
    return new AcquireTimeout({ key, phase, timeoutMs: acquireTimeoutMs, pool: numbers() })
  }

  const discard = (
    entry: Entry<I>,
    attempt: Attempt,
    reason: CleanupReason,
    holder: Scope.Closeable
  ): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.suspend(() => {
      entry.discarded = true
      return Effect.andThen(
        Effect.andThen(destroy(entry, reason), Scope.close(holder, Exit.void)),
        leaseThroughPool(attempt)
      )
    })

  const checkBorrowed = (
    instance: I,
    attempt: Attempt,
    holder: Scope.Closeable
  ): Effect.Effect<I, AcquireError, Scope.Scope> => {
    const entry = entries.get(instance)!
    const at = now()
    if (isExpired(entry, at)) return discard(entry, attempt, "expired", holder)
    if (!needsValidation(entry, at)) return Effect.succeed(instance)
    attempt.phase = "validate"
    const validated = validate!(instance, config).pipe(
      Effect.timeoutOrElse({ duration: options.validateTimeout, orElse: () => Effect.succeed(false) }),
      Effect.catchCause(() => Effect.succeed(false))
    )
    return Effect.flatMap(
      spanned(attempt, "resource.acquire.validate", validated),
      (valid) => valid ? Effect.succeed(instance) : discard(entry, attempt, "validation_failed", holder)
    )
  }

  const onCreateError = (error: PoolError, attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> => {
    if ((error._tag !== "CreateFailed" && error._tag !== "CreateTimeout") || !error.retryable) {
      return Effect.fail(error)
    }
    attempt.failures++
    attempt.lastFailure = error
    failingCreates = { error, count: attempt.failures, at: now() }
    return Effect.andThen(Effect.sleep(backoff(attempt.failures)), leaseThroughPool(attempt))
  }

  /**
   * Takes an instance through the pool, then validates it. The lease is held by a scope the attempt
   * owns, handed to the caller's scope only by registering its close there first: a failed,
   * discarded or interrupted attempt returns its lease at once.
   */
  const leaseThroughPool = (attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.withFiber((fiber) => {
      if (state._tag !== "Serving") return Effect.fail(closedError)
      if (blocked !== undefined) return failBlocked()
      attempt.phase = "wait"
      purgeFailedSlots()
      if (attempt.traced) createParent = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
      const caller = Context.getUnsafe(fiber.context, Scope.Scope)
      const holder = Scope.makeUnsafe()
      const get = Scope.provide(Pool.get(pool), holder)
      return Effect.andThen(
        Scope.addFinalizerExit(caller, (exit) => Scope.close(holder, exit)),
        Effect.matchEffect(spanned(attempt, "resource.acquire.wait", get), {
          onFailure: (error) => Effect.andThen(Scope.close(holder, Exit.void), onCreateError(error, attempt)),
          onSuccess: (instance) => checkBorrowed(instance, attempt, holder)
        })
      ).pipe(Effect.onInterrupt(() => Scope.close(holder, Exit.void)))
    })

  /** The bookkeeping of an acquire that did not take the fast path, leased at `at`; returns its wait. */
  const recordAcquired = (entry: Entry<I>, startedAt: number, at: number, observed: boolean): number => {
    const waitMs = Math.max(0, at - startedAt)
    entry.leasedAt = at
    slowAcquired++
    waitHistogram.record(waitMs / 1000)
    recentWaits.push(released + countInUse(), waitMs)
    if (observed) entry.observed = true
    return waitMs
  }

  const onAcquired = (instance: I, attempt: Attempt): Effect.Effect<void> => {
    const entry = entries.get(instance)
    if (entry === undefined) return Effect.void
    const waitMs = recordAcquired(entry, attempt.startedAt, now(), attempt.observed)
    return attempt.observed ? observeAcquired(waitMs) : Effect.void
  }

  const observeOutcome = (
    effect: Effect.Effect<I, AcquireError, Scope.Scope>,
    attempt: Attempt
  ): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.tap(Effect.tapError(effect, onAcquireFailed), (instance) => onAcquired(instance, attempt))

  const acquireThroughPool = (attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.timeoutOrElse(leaseThroughPool(attempt), {
      duration: Math.max(0, attempt.startedAt + acquireTimeoutMs - now()),
      orElse: () => Effect.fail(timedOut(attempt))
    }).pipe(Effect.onExit(() => Effect.sync(signalCapacity)))

  const afterWake = (attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.suspend(() => {
      if (state._tag !== "Serving") return Effect.fail(closedError)
      if (blocked !== undefined) return failBlocked()
      purgeFailedSlots()
      if (readyEntry(now()) !== undefined) return takeReady
      return canTryPool() ? acquireThroughPool(attempt) : acquireAfterWait(attempt, true)
    })

  /**
   * A caller that has to wait, one object per wait: the hot path of a contended pool. `wait` sleeps in
   * the FIFO; `take` resumes the caller with an effect whose first step installs the handed-over
   * lease's release and claims the lease.
   */
  abstract class Waiting<A, E, R> implements Waiter<I> {
    queued = false
    lease: Entry<I> | undefined = undefined
    signaled = false
    failure: AcquireError | undefined = undefined
    readonly startedAt: number
    protected resume: (effect: Effect.Effect<A, E | AcquireError, R>) => void = () => {}
    protected readonly observed: boolean

    private readonly front: boolean
    constructor(observed: boolean, startedAt: number, front = false) {
      this.observed = observed
      this.startedAt = startedAt
      this.front = front
    }

    readonly wait: Effect.Effect<A, E | AcquireError, R> = Effect.callback((resume) => {
      this.resume = resume
      enqueue(this, this.front)
      return this.cancel
    })

    private readonly cancel = Effect.suspend(() => this.cancelled())

    /** What an interrupted caller leaves behind. */
    protected cancelled(): Effect.Effect<void> {
      return cancelWaiter(this)
    }

    abstract take(entry: Entry<I>): void
    protected abstract retryWith(attempt: Attempt): Effect.Effect<A, E | AcquireError, R>

    retry(): void {
      const attempt = newAttempt(this.observed, false, this.startedAt)
      this.resume(Effect.suspend(() => {
        this.signaled = false
        return this.retryWith(attempt)
      }))
    }

    fail(error: AcquireError): void {
      this.failure = undefined
      this.resume(this.failWith(error))
    }

    protected failWith(error: AcquireError): Effect.Effect<never, AcquireError> {
      return Effect.andThen(onAcquireFailed(error), Effect.fail(error))
    }

    /** Claims the handed-over lease once its release is installed; the acquire's bookkeeping. */
    protected claim(entry: Entry<I>): number {
      this.lease = undefined
      return recordAcquired(entry, this.startedAt, entry.idleSince, this.observed)
    }
  }

  /** A waiting `use`: the handed-over lease is returned when `f` exits, with no scope. */
  class UseWaiter<A, E, R> extends Waiting<A, E, R> {
    private entry: Entry<I> | undefined = undefined
    private readonly f: (instance: I) => Effect.Effect<A, E, R>
    private readonly caller: CallerIds | undefined

    constructor(observed: boolean, f: (instance: I) => Effect.Effect<A, E, R>, caller: CallerIds | undefined) {
      super(observed, now())
      this.f = f
      this.caller = caller
    }

    private readonly runTaken = (): Effect.Effect<A, E, R> => {
      const entry = this.entry!
      const waitMs = this.claim(entry)
      const body = this.run(entry.instance)
      return this.observed ? Effect.andThen(observeAcquired(waitMs), body) : body
    }

    private readonly run = (instance: I): Effect.Effect<A, E, R> => {
      if (this.caller !== undefined) stamp(instance, this.caller)
      return this.f(instance)
    }

    private readonly returnTaken = (): Effect.Effect<void> => returnLease(this.entry!)

    take(entry: Entry<I>): void {
      this.entry = entry
      this.resume(Effect.onExit(Effect.suspend(this.runTaken), this.returnTaken))
    }

    protected retryWith(attempt: Attempt): Effect.Effect<A, E | AcquireError, R> {
      return Effect.scoped(Effect.flatMap(observeOutcome(afterWake(attempt), attempt), this.run))
    }
  }

  /**
   * A waiting scoped `acquire`: the handed-over lease is held by the caller's scope. Within an outer
   * attempt (a traced acquire, or one woken to try the pool that has to wait again) the outer attempt
   * does the bookkeeping.
   */
  class AcquireWaiter extends Waiting<I, never, Scope.Scope> {
    private readonly outer: Attempt | undefined

    constructor(observed: boolean, outer: Attempt | undefined, front = false) {
      super(observed, outer === undefined ? now() : outer.startedAt, front)
      this.outer = outer
    }

    take(entry: Entry<I>): void {
      this.resume(
        Effect.flatMap(Scope.Scope, (scope) =>
          Effect.flatMap(
            Scope.addFinalizerExit(scope, () => returnLease(entry)),
            () => {
              if (this.outer !== undefined) {
                this.lease = undefined
                return Effect.succeed(entry.instance)
              }
              const waitMs = this.claim(entry)
              return this.observed ? Effect.as(observeAcquired(waitMs), entry.instance) : Effect.succeed(entry.instance)
            }
          ))
      )
    }

    protected retryWith(attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> {
      return this.outer === undefined ? observeOutcome(afterWake(attempt), attempt) : afterWake(this.outer)
    }

    protected override failWith(error: AcquireError): Effect.Effect<never, AcquireError> {
      return this.outer === undefined ? super.failWith(error) : Effect.fail(error)
    }
  }

  /**
   * A waiting `useCallback`: a handed-over lease starts the caller's call at once, on the releaser's
   * stack (under the runtime's protection: a throw is the call's defect), and the caller is resumed
   * once, with the outcome, after its lease went back. The lease leaves `entry` before it is handed on
   * (the next caller runs inside that call, and may interrupt this one); when it cannot go back without
   * an effect, the resumed effect claims and returns it in one uninterruptible step, so that a caller
   * interrupted first returns it itself.
   */
  class CallbackWaiter<A, E> extends Waiting<A, E, never> {
    private entry: Entry<I> | undefined = undefined
    private completed = false
    private onInterrupt: Effect.Effect<void> | void = undefined
    private readonly start: Callback<I, A, E>
    private readonly caller: CallerIds | undefined

    constructor(start: Callback<I, A, E>, caller: CallerIds | undefined) {
      super(false, now())
      this.start = start
      this.caller = caller
    }

    take(entry: Entry<I>): void {
      this.entry = entry
      this.claim(entry)
      if (this.caller !== undefined) stamp(entry.instance, this.caller)
      const started = runGuarded(Effect.sync(() => this.start(entry.instance, this.done))).pollUnsafe()
      if (started === undefined || started._tag === "Success") this.onInterrupt = started?.value
      else this.done(Effect.failCause(started.cause))
    }

    private readonly done = (effect: Effect.Effect<A, E>): void => {
      const entry = this.entry
      if (entry === undefined || this.completed) return
      this.completed = true
      this.entry = undefined
      if (handOverAtOnce(entry)) return this.resume(effect)
      this.entry = entry
      this.resume(Effect.andThen(Effect.uninterruptible(Effect.suspend(() => this.returnClaimed())), effect))
    }

    /** Claims the lease and returns it, in one uninterruptible step. */
    private returnClaimed(): Effect.Effect<void> {
      const entry = this.entry
      if (entry === undefined) return Effect.void
      this.entry = undefined
      return returnLease(entry)
    }

    protected override cancelled(): Effect.Effect<void> {
      const entry = this.entry
      if (entry === undefined) return cancelWaiter(this)
      this.entry = undefined
      const onInterrupt = this.completed ? Effect.void : this.onInterrupt ?? Effect.void
      return Effect.ensuring(onInterrupt, Effect.suspend(() => returnLease(entry)))
    }

    protected retryWith(attempt: Attempt): Effect.Effect<A, E | AcquireError, never> {
      return Effect.scoped(
        Effect.flatMap(observeOutcome(afterWake(attempt), attempt), (instance) => {
          if (this.caller !== undefined) stamp(instance, this.caller)
          return callbackOn(instance, this.start)
        })
      )
    }
  }

  /** Runs driver code outside any fiber in a synchronous fiber of its own, so that a throw is a defect. */
  const runGuarded = Effect.runForkWith(Context.make(Scheduler.Scheduler, new Scheduler.MixedScheduler("sync")))

  const callbackOn = <A, E>(instance: I, start: Callback<I, A, E>): Effect.Effect<A, E> =>
    Effect.callback((resume) => start(instance, resume))

  const callbackUse = <A, E>(start: Callback<I, A, E>) => (instance: I): Effect.Effect<A, E> =>
    callbackOn(instance, start)

  const exhaustedThen = <A, E, R>(wait: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    waiters.size === 0 ? Effect.andThen(onExhausted(), wait) : wait

  /** Waits within an outer attempt, which observes the outcome. */
  const acquireAfterWait = (attempt: Attempt, again = false): Effect.Effect<I, AcquireError, Scope.Scope> =>
    spanned(
      attempt,
      "resource.acquire.wait",
      again
        ? new AcquireWaiter(attempt.observed, attempt, true).wait
        : exhaustedThen(new AcquireWaiter(attempt.observed, attempt).wait)
    )

  const useAfterWait = <A, E, R>(
    f: (instance: I) => Effect.Effect<A, E, R>,
    observed: boolean,
    caller: CallerIds | undefined
  ): Effect.Effect<A, E | AcquireError, R> => {
    return exhaustedThen(new UseWaiter(observed, f, caller).wait)
  }

  const failBlocked = (): Effect.Effect<never, AcquireError> => {
    const error = blocked!()
    errors.set(error.kind, (errors.get(error.kind) ?? 0) + 1)
    if (!events.listening()) return Effect.fail(error)
    return Effect.andThen(
      events.publish(
        ResourceEvent.AcquireFailed({ ...common(), errorTag: error._tag, errorKind: error.kind, error: error.message })
      ),
      Effect.fail(error)
    )
  }

  const stamp = (instance: I, caller: CallerIds): void => {
    const entry = entries.get(instance)
    if (entry === undefined) return
    entry.leasedAt = now()
    entry.caller = caller
  }

  const newAttempt = (observed: boolean, traced: boolean, startedAt = now()): Attempt => ({
    startedAt,
    observed,
    traced,
    phase: "wait",
    failures: 0,
    lastFailure: undefined
  })

  const acquireNow = (
    observed: boolean,
    traced: boolean,
    caller: CallerIds | undefined
  ): Effect.Effect<I, AcquireError, Scope.Scope> => {
    if (state._tag !== "Serving") return Effect.fail(closedError)
    if (blocked !== undefined) return failBlocked()
    if (caller !== undefined) {
      return Effect.tap(
        acquireNow(observed, traced, undefined),
        (instance) => Effect.sync(() => stamp(instance, caller))
      )
    }
    if (canTakeFast()) {
      if (observed) return takeReadyObserved
      sampleHold()
      return takeReady
    }
    purgeFailedSlots()
    if (waiters.size === 0 && canTryPool()) {
      const attempt = newAttempt(observed, traced)
      return observeOutcome(acquireThroughPool(attempt), attempt)
    }
    if (!traced) return exhaustedThen(new AcquireWaiter(observed, undefined).wait)
    const attempt = newAttempt(observed, traced)
    return observeOutcome(acquireAfterWait(attempt), attempt)
  }

  const acquire: Effect.Effect<I, AcquireError, Scope.Scope> = Effect.suspend(() => acquireNow(false, false, undefined))

  const useNow = <A, E, R>(
    f: (instance: I) => Effect.Effect<A, E, R>,
    observed: boolean,
    traced: boolean,
    caller: CallerIds | undefined
  ): Effect.Effect<A, E | AcquireError, R> => {
    if (state._tag !== "Serving") return Effect.fail(closedError)
    if (blocked !== undefined) return failBlocked()
    if (!observed && caller === undefined && canTakeFast()) {
      sampleHold()
      return Pool.use(pool, f) as Effect.Effect<A, E, R>
    }
    purgeFailedSlots()
    if (!traced && (waiters.size !== 0 || !canTryPool())) return useAfterWait(f, observed, caller)
    return Effect.scoped(Effect.flatMap(Effect.suspend(() => acquireNow(observed, traced, caller)), f))
  }

  const useCallbackNow = <A, E>(
    start: Callback<I, A, E>,
    observed: boolean,
    traced: boolean,
    caller: CallerIds | undefined
  ): Effect.Effect<A, E | AcquireError> => {
    if (observed || traced || state._tag !== "Serving" || blocked !== undefined) {
      return useNow(callbackUse(start), observed, traced, caller)
    }
    if (waiters.size !== 0) return new CallbackWaiter(start, caller).wait
    if (caller === undefined && canTakeFast()) {
      sampleHold()
      return Pool.use(pool, callbackUse(start))
    }
    purgeFailedSlots()
    return canTryPool()
      ? useNow(callbackUse(start), false, false, caller)
      : exhaustedThen(new CallbackWaiter(start, caller).wait)
  }

  // ---------------------------------------------------------------------------
  // metrics: every series reads the plain fields above when exported
  // ---------------------------------------------------------------------------

  const metricContext = Context.add(yield* Effect.context<never>(), Metric.CurrentMetricAttributes, {
    resource_id: key
  })
  const withAttributes = (attributes: Record<string, string>) =>
    Context.add(metricContext, Metric.CurrentMetricAttributes, { resource_id: key, ...attributes })
  const series = <State>(metric: Metric.Metric<any, State>, get: () => State, context = metricContext) =>
    Metric.registerUnsafe(metric, context, { get, update: () => {}, modify: () => {} })
  const counter = (count: number) => ({ count, incremental: false })
  const registrations = [
    series(Metrics.acquireTotal, () => counter(released + countInUse())),
    series(Metrics.releaseTotal, () => counter(released)),
    series(Metrics.createTotal, () => counter(created)),
    series(Metrics.acquireTimeoutTotal, () => counter(timeouts)),
    ...cleanupReasons.map((reason) =>
      series(Metrics.cleanupTotal, () => counter(cleanups.get(reason) ?? 0), withAttributes({ reason }))
    ),
    ...errorKinds.map((kind) =>
      series(Metrics.errorTotal, () => counter(errors.get(kind) ?? 0), withAttributes({ kind }))
    ),
    series(Metrics.poolSize, () => ({ value: numbers().size })),
    series(Metrics.poolAvailable, () => ({ value: numbers().idle })),
    series(Metrics.poolInUse, () => ({ value: numbers().inUse })),
    series(Metrics.poolWaiters, () => ({ value: numbers().waiters })),
    series(Metrics.acquireDuration, () => waitHistogram.state(released + countInUse() - slowAcquired)),
    series(Metrics.createDuration, () => createHistogram.state()),
    series(Metrics.usageDuration, () => holdHistogram.state()),
    series(Metrics.healthState, () => ({ value: healthScore })),
    series(Metrics.quarantineTotal, () => counter(quarantines)),
    series(Metrics.recoveryAttemptTotal, () => counter(recoveryAttempts)),
    series(Metrics.holdDeadlineExceededTotal, () => counter(holdDeadlines))
  ]
  const removeSeries = Effect.sync(() => registrations.forEach((r) => r.remove()))

  // ---------------------------------------------------------------------------
  // health access: probes, eviction, blocking
  // ---------------------------------------------------------------------------

  const healthTimeout = params.healthTimeout
  const timedCheck = (check: (instance: I) => Effect.Effect<Health.Status>, instance: I) =>
    Effect.interruptible(check(instance)).pipe(
      Effect.timeoutOrElse({
        duration: healthTimeout,
        orElse: () => Effect.succeed(Health.unhealthy("health check timed out"))
      }),
      Effect.catchCause(() => Effect.succeed(Health.unhealthy("health check failed")))
    )

  interface Probe {
    readonly status: Health.Status
    readonly entry: Entry<I> | undefined
  }

  const probeOne = (check: (instance: I) => Effect.Effect<Health.Status>): Effect.Effect<Probe, never, Scope.Scope> =>
    Effect.matchEffect(Pool.get(pool), {
      onFailure: (error) => Effect.succeed({ status: Health.unhealthy(error.message), entry: undefined }),
      onSuccess: (instance) => {
        const entry = entries.get(instance)
        if (entry !== undefined) {
          entry.probes++
          entry.prober = Fiber.getCurrent()
        }
        return Effect.map(timedCheck(check, instance), (status) => ({ status, entry }))
      }
    })

  /** Evicts failed instances, at most `maxEvictionFraction` of the pool per sweep (at least one). */
  const evictFailed = (probes: ReadonlyArray<Probe>, instances: number) =>
    Effect.suspend(() => {
      const cap = Math.max(1, Math.floor(params.maxEvictionFraction * instances))
      const failed = probes.filter((probe) => probe.status._tag === "Unhealthy" && probe.entry !== undefined)
      return Effect.forEach(failed.slice(0, cap), ({ entry }) =>
        Effect.suspend(() => {
          if (--entry!.probes === 0) entry!.prober = undefined
          entry!.discarded = true
          return destroy(entry!, "evicted")
        }), { discard: true })
    })

  /**
   * Checks the instances that are idle right now, each under the check timeout. Only items the pool
   * can hand out at once are taken, so a probe never queues behind callers; the probed ones are held
   * until the sweep ends so each is checked once. With no instance at all, one is created to probe
   * (a create failure is a failed check; a probe that only waited is no result).
   */
  const probeIdle = (check: (instance: I) => Effect.Effect<Health.Status>) =>
    Effect.suspend(() => {
      if (state._tag !== "Serving") return Effect.succeed({ statuses: [], instances: 0 })
      purgeFailedSlots()
      const { idle, size } = numbers()
      if (idle === 0) {
        if (size > 0) return Effect.succeed({ statuses: [], instances: size })
        return Effect.map(probeFresh(check), (status) => ({ statuses: [status], instances: 1 }))
      }
      return Effect.scoped(
        Effect.gen(function*() {
          const probes: Array<Probe> = []
          for (let i = 0; i < idle && headIsReady(); i++) probes.push(yield* probeOne(check))
          const instances = Math.max(probes.length, numbers().size)
          yield* evictFailed(probes, instances)
          return { statuses: probes.map((probe) => probe.status), instances }
        })
      )
    })

  const probeFresh = (check: (instance: I) => Effect.Effect<Health.Status>): Effect.Effect<Health.Status> =>
    Effect.suspend(() => {
      const secrets: Array<string> = []
      return Effect.scoped(
        Effect.flatMap(
          withCreateTimeout(lifecycle.create(config, createContext(secrets))),
          (instance) => timedCheck(check, instance)
        )
      ).pipe(
        Effect.catchCause((cause) =>
          Effect.succeed(Health.unhealthy(`recovery probe failed: ${redact(describeCause(cause), secrets)}`))
        )
      )
    })

  const evictIdle = Effect.suspend(() => {
    const idle = Array.from(entries.values()).filter((entry) => entry.item !== undefined && entry.item.refCount === 0)
    return Effect.forEach(idle, (entry) => destroy(entry, "evicted"), { discard: true })
  })

  let quarantines = 0
  let recoveryAttempts = 0
  let holdDeadlines = 0
  let healthScore = Health.score(Health.unknown)

  const healthAccess: HealthAccess<I> = {
    block: (error) => {
      blocked = error
      if (error !== undefined) failWaiters(error())
    },
    probeIdle,
    probeFresh,
    evictIdle,
    now: wallNow,
    monotonic: now,
    publish: events.publish,
    log,
    countQuarantine: () => void quarantines++,
    countRecoveryAttempt: () => void recoveryAttempts++,
    setHealthScore: (score) => void (healthScore = score)
  }

  // ---------------------------------------------------------------------------
  // hold-deadline watchdog: warns about leases held too long, never force-releases
  // ---------------------------------------------------------------------------

  const maxHoldMs = options.maxHoldDuration === undefined ? undefined : ms(options.maxHoldDuration)

  const watchHolds = (limit: number) =>
    Effect.suspend(() => {
      const at = now()
      const late = Array.from(entries.values()).filter((entry) =>
        isLeased(entry) && entry.leasedAt >= 0 && !entry.holdReported && at - entry.leasedAt >= limit
      )
      return Effect.forEach(late, (entry) => {
        entry.holdReported = true
        holdDeadlines++
        const heldMs = at - entry.leasedAt
        return Effect.andThen(
          events.publish(ResourceEvent.HoldDeadlineExceeded({
            ...common(),
            heldMs,
            tenantId: entry.caller?.tenantId,
            workflowId: entry.caller?.workflowId,
            executionId: entry.caller?.executionId
          })),
          log(Effect.logWarning("resource lease held past its deadline", { heldMs, limitMs: limit }))
        )
      }, { discard: true })
    })

  // ---------------------------------------------------------------------------
  // background: waiter deadlines, and retiring idle instances past their max lifetime
  // ---------------------------------------------------------------------------

  const reapExpired = Effect.suspend(() => {
    const at = now()
    const expired = Array.from(entries.values()).filter((entry) =>
      entry.item !== undefined && entry.item.refCount === 0 && isExpired(entry, at)
    )
    return Effect.forEach(expired, (entry) => destroy(entry, "expired"), { discard: true })
  })
  const reapEvery = Duration.millis(Math.max(1000, Math.min(30_000, maxLifetimeMs / 4)))
  const background = [
    yield* Effect.forkIn(reapExpired.pipe(Effect.repeat(Schedule.spaced(reapEvery))), resourceScope),
    yield* Effect.forkIn(Effect.forever(expireWaiters), resourceScope)
  ]
  if (maxHoldMs !== undefined) {
    const every = Math.min(1000, Math.max(10, maxHoldMs / 4))
    background.push(
      yield* Effect.forkIn(watchHolds(maxHoldMs).pipe(Effect.repeat(Schedule.spaced(every))), resourceScope)
    )
  }

  // ---------------------------------------------------------------------------
  // shutdown: stop issuing, drain up to a deadline, force what is left, clean up, stop fibers
  // ---------------------------------------------------------------------------

  const stopIssuing = Effect.sync(() => {
    if (state._tag !== "Serving") return
    state = countInUse() === 0 ? { _tag: "Closed" } : { _tag: "Draining", drained: Deferred.makeUnsafe<void>() }
    failWaiters()
  })

  const retireIdle = Effect.suspend(() => {
    const idle = Array.from(entries.values()).filter((entry) => !isLeased(entry))
    return Effect.forEach(idle, (entry) => retire(entry, "shutdown"), { discard: true, concurrency: "unbounded" })
  })

  const drain = Effect.suspend(() =>
    state._tag === "Draining"
      ? Effect.map(Effect.timeoutOption(Deferred.await(state.drained), options.drainTimeout), (o) => o._tag === "Some")
      : Effect.succeed(true)
  )

  const forceOutstanding = Effect.suspend(() => {
    state = { _tag: "Closed" }
    const outstanding = Array.from(entries.values()).filter(isLeased)
    return Effect.as(
      Effect.forEach(outstanding, (entry) => {
        const leases = leasesOf(entry)
        entry.forced = true
        return Effect.andThen(
          retire(entry, "shutdown"),
          Effect.replicateEffect(entry.returnSlot, leases, { discard: true })
        )
      }, { discard: true }),
      outstanding.reduce((n, entry) => n + leasesOf(entry), 0)
    )
  })

  const closePool = Effect.flatMap(
    Effect.forkDetach(Scope.close(poolScope, Exit.void), { startImmediately: true }),
    (fiber) => Effect.map(Effect.timeoutOption(Fiber.await(fiber), options.cleanupTimeout), (o) => o._tag === "Some")
  )

  const reported = Deferred.makeUnsafe<ResourceShutdown>()
  let shutdownStarted = false
  const shutdown: Effect.Effect<ResourceShutdown> = Effect.suspend(() => {
    if (shutdownStarted) return Deferred.await(reported)
    shutdownStarted = true
    return Effect.gen(function*() {
      yield* phase("stop", Effect.andThen(stopIssuing, retireIdle))
      const drained = yield* phase("drain", drain)
      const outstanding = countInUse()
      const forced = yield* forceOutstanding
      const cleanedUp = yield* phase("cleanup", closePool)
      yield* phase(
        "terminate",
        Effect.andThen(Effect.forEach(background, Fiber.interrupt, { discard: true }), removeSeries)
      )
      const report: ResourceShutdown = { key, drained, outstanding, forced, cleanedUp: cleanedUp && !cleanupOverran }
      Deferred.doneUnsafe(reported, Exit.succeed(report))
      yield* log(Effect.logInfo("resource shut down", report))
      return report
    }).pipe(
      Effect.withSpan("resource.shutdown", { attributes: { "resource.id": key, "resource.scope": tenancyLabel } }),
      Effect.uninterruptible
    )
  })

  yield* Scope.addFinalizer(resourceScope, shutdown)

  const self: ResourcePool<I> = {
    key,
    tenancy: params.tenancy,
    options,
    acquire,
    acquireNow,
    useNow,
    useCallbackNow,
    stats: () => {
      const current = numbers()
      return { ...current, created, destroyed, acquisitions: released + current.inUse, timeouts }
    },
    waitPercentiles: () => {
      const [p50, p95, p99] = recentWaits.percentiles(released + countInUse(), [0.5, 0.95, 0.99])
      return { p50: p50!, p95: p95!, p99: p99! }
    },
    isServing: () => state._tag === "Serving",
    watchesHolds: maxHoldMs !== undefined,
    health: healthAccess,
    stopIssuing,
    shutdown
  }
  return self
})

const describe = (error: unknown): string => {
  if (typeof error === "string") return error
  if (error instanceof Error) return error.message
  if (typeof error === "object" && error !== null && "message" in error) return String(error.message)
  return String(error)
}

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const reason = cause.reasons[0]
  return reason === undefined ? "unknown" : reason._tag === "Fail" ? describe(reason.error) : reason._tag
}

const redact = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce((acc, secret) => secret.length === 0 ? acc : acc.split(secret).join("<redacted>"), text)

/** Monotonic time in milliseconds: deadlines and durations never jump with the wall clock. */
const monotonicMillis = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe()) / 1_000_000

/**
 * The clock effect's Pool reads for idle times and its idle-timeout sweep: the same sleeps, with the
 * monotonic time as its "current time", so a wall-clock step neither retires idle instances early nor
 * keeps them past their idle timeout.
 */
const monotonicClock = (clock: Clock.Clock): Clock.Clock => ({
  currentTimeMillisUnsafe: () => monotonicMillis(clock),
  currentTimeMillis: Effect.sync(() => monotonicMillis(clock)),
  currentTimeNanosUnsafe: () => clock.monotonicTimeNanosUnsafe(),
  currentTimeNanos: Effect.sync(() => clock.monotonicTimeNanosUnsafe()),
  monotonicTimeNanosUnsafe: () => clock.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: Effect.sync(() => clock.monotonicTimeNanosUnsafe()),
  sleep: (duration) => clock.sleep(duration)
})
