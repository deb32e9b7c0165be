import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Pool from "effect/Pool"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Credentials from "../Credentials.ts"
import type { PoolOptions } from "../PoolOptions.ts"
import {
  type AcquireError,
  type AcquirePhase,
  AcquireTimeout,
  CreateFailed,
  CreateTimeout,
  isResourceError,
  type MissingCredential,
  type PoolNumbers,
  ResourceClosed
} from "../ResourceError.ts"
import type * as Tenancy from "../Tenancy.ts"

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
  readonly isRetryable: (error: unknown) => boolean
}

/** @internal */
export interface Stats extends PoolNumbers {
  readonly created: number
  readonly destroyed: number
  readonly acquisitions: number
  readonly timeouts: number
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
export interface ResourcePool<I> {
  readonly key: string
  readonly tenancy: Tenancy.Tenancy
  readonly options: PoolOptions
  readonly acquire: Effect.Effect<I, AcquireError, Scope.Scope>
  /** Chooses the acquire path synchronously; call it inside the effect that runs it. */
  readonly acquireNow: () => Effect.Effect<I, AcquireError, Scope.Scope>
  /** Chooses the use path synchronously; call it inside the effect that runs it. */
  readonly useNow: <A, E, R>(f: (instance: I) => Effect.Effect<A, E, R>) => Effect.Effect<A, E | AcquireError, R>
  readonly stats: () => Stats
  readonly isServing: () => boolean
  readonly shutdown: Effect.Effect<ResourceShutdown>
}

type CreateError = CreateFailed | CreateTimeout | MissingCredential
type PoolError = CreateError | ResourceClosed
type Item<I> = Pool.PoolItem<I, PoolError>

interface Entry<I> {
  readonly instance: I
  readonly expiresAt: number
  readonly scope: Scope.Closeable
  idleSince: number
  discarded: boolean
  forced: boolean
  item: Item<I> | undefined
  returnSlot: Effect.Effect<void>
  afterKept: Effect.Effect<void>
}

interface Waiter {
  readonly deadline: number
  resume: ((effect: Effect.Effect<void, AcquireError>) => void) | undefined
  woken: boolean
}

interface Attempt {
  phase: AcquirePhase
  failures: number
  lastFailure: CreateError | undefined
}

type State =
  | { readonly _tag: "Serving" }
  | { readonly _tag: "Draining"; readonly drained: Deferred.Deferred<void> }
  | { readonly _tag: "Closed" }

/**
 * One resource's pool: `Pool.makeWithTTL` plus what a connection pool needs on top of it (create
 * timeout and retry, acquire timeout with a FIFO of waiters, validation on borrow, recycle on
 * return, jittered max lifetime, LIFO/FIFO selection, phased shutdown).
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
}) {
  const { config, key, lifecycle, options } = params
  const resourceScope = yield* Scope.Scope
  const clock = yield* Clock.Clock
  const credentials = yield* Credentials.Credentials
  const ms = Duration.toMillis
  const acquireTimeoutMs = ms(options.acquireTimeout)
  const createTimeoutMs = ms(options.createTimeout)
  const skipWindowMs = ms(options.validateSkipWindow)
  const maxLifetimeMs = ms(options.maxLifetime)
  const fifo = options.selection === "fifo"
  const { recycle, validate } = lifecycle
  const now = () => clock.currentTimeMillisUnsafe()

  let state: State = { _tag: "Serving" }
  const entries = new Map<I, Entry<I>>()
  const waiters = new Set<Waiter>()
  const hasWaiters = Latch.makeUnsafe(false)
  const closedError = new ResourceClosed({ key })
  let creating = 0
  let created = 0
  let destroyed = 0
  let released = 0
  let timeouts = 0

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

  const withCreateTimeout = <A>(
    create: Effect.Effect<A, unknown, Scope.Scope>
  ): Effect.Effect<A, unknown, Scope.Scope> =>
    Effect.flatMap(Effect.forkDetach(create, { startImmediately: true }), (fiber) =>
      Fiber.join(fiber).pipe(
        Effect.timeoutOrElse({
          duration: options.createTimeout,
          orElse: () => {
            fiber.interruptUnsafe()
            return Effect.fail(new CreateTimeout({ key, timeoutMs: createTimeoutMs, attempts: 1 }))
          }
        }),
        Effect.onInterrupt(() => Effect.sync(() => fiber.interruptUnsafe()))
      ))

  const createInstance = Effect.gen(function*() {
    const scope = (yield* Scope.Scope) as Scope.Closeable
    const secrets: Array<string> = []
    const context: CreateContext = {
      key,
      credential: (id) =>
        Effect.tap(
          Effect.provideService(Credentials.resolve(id, key), Credentials.Credentials, credentials),
          (value) => Effect.sync(() => secrets.push(Redacted.value(value)))
        )
    }
    let entry: Entry<I> | undefined
    yield* Scope.addFinalizer(scope, Effect.sync(() => entry !== undefined && destroyed++))
    creating++
    const instance = yield* withCreateTimeout(lifecycle.create(config, context)).pipe(
      Effect.mapError((error) => toCreateError(error, secrets)),
      Effect.ensuring(Effect.sync(() => creating--))
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
      discarded: false,
      forced: false,
      item: undefined,
      returnSlot: Effect.void,
      afterKept: Effect.void
    }
    entry = fresh
    entries.set(instance, fresh)
    created++
    yield* Scope.addFinalizer(scope, Effect.sync(() => entries.delete(instance)))
    return instance
  })

  const pool = yield* Pool.makeWithTTL<I, PoolError, Scope.Scope>({
    acquire: createInstance,
    min: options.min,
    max: options.max,
    timeToLive: options.idleTimeout,
    timeToLiveStrategy: "usage"
  }).pipe(Scope.provide(yield* Scope.fork(resourceScope)))
  const poolScope = pool.state.scope as Scope.Closeable

  // ---------------------------------------------------------------------------
  // returning a lease
  // ---------------------------------------------------------------------------

  const isExpired = (entry: Entry<I>, at: number) => at >= entry.expiresAt

  const needsValidation = (entry: Entry<I>, at: number) =>
    validate !== undefined && at - entry.idleSince >= skipWindowMs

  const isLeased = (entry: Entry<I>) =>
    entry.item !== undefined && entry.item.refCount > 0 && !entry.discarded && !entry.forced

  const countInUse = () => {
    let n = 0
    for (const entry of entries.values()) if (isLeased(entry)) n++
    return n
  }

  const retire = (entry: Entry<I>): Effect.Effect<void> => Scope.close(entry.scope, Exit.void)

  const destroy = (entry: Entry<I>): Effect.Effect<void> =>
    Effect.andThen(
      Effect.andThen(Pool.invalidate(pool, entry.instance), Scope.close(entry.scope, Exit.void)),
      Effect.sync(wakeNext)
    )

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

  const afterReturn = (entry: Entry<I>, kept: boolean): void => {
    if (kept && fifo && entry.item !== undefined) moveToBack(entry.item)
    if (state._tag === "Draining" && countInUse() === 0) Deferred.doneUnsafe(state.drained, Exit.void)
    wakeNext()
  }

  const keepAfterRecycle = (entry: Entry<I>): Effect.Effect<boolean> =>
    Effect.interruptible(recycle!(entry.instance, config)).pipe(
      Effect.timeoutOrElse({ duration: options.recycleTimeout, orElse: () => Effect.fail("recycle timed out") }),
      Effect.matchCauseEffect({
        onFailure: () => Effect.as(destroy(entry), false),
        onSuccess: () => Effect.succeed(true)
      })
    )

  const keepOrDestroy = (entry: Entry<I>): Effect.Effect<boolean> => {
    if (state._tag !== "Serving") return Effect.as(retire(entry), false)
    if (isExpired(entry, now())) return Effect.as(destroy(entry), false)
    return recycle === undefined ? Effect.succeed(true) : keepAfterRecycle(entry)
  }

  const returnLease = (entry: Entry<I>): Effect.Effect<void> => {
    if (entry.forced) return Effect.void
    if (entry.discarded) return entry.returnSlot
    released++
    const at = now()
    entry.idleSince = at
    if (recycle === undefined && state._tag === "Serving" && !isExpired(entry, at)) {
      return waiters.size === 0 && !fifo ? entry.returnSlot : entry.afterKept
    }
    return Effect.flatMap(
      keepOrDestroy(entry),
      (kept) => Effect.andThen(entry.returnSlot, Effect.sync(() => afterReturn(entry, kept)))
    )
  }

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

  const items = pool.state.items
  const insert = items.add.bind(items)
  items.add = (item) => {
    adopt(item)
    return insert(item)
  }
  for (const item of items) adopt(item)

  // ---------------------------------------------------------------------------
  // waiting: a FIFO of callers for a full pool, woken one per returned slot
  // ---------------------------------------------------------------------------

  const wakeNext = (): void => {
    for (const waiter of waiters) {
      if (waiter.woken) continue
      waiter.woken = true
      waiter.resume?.(Effect.void)
      return
    }
  }

  const leave = (waiter: Waiter): void => {
    waiters.delete(waiter)
    if (waiters.size === 0) hasWaiters.closeUnsafe()
  }

  const expireWaiters = Effect.suspend(() => {
    const at = now()
    let next = Number.POSITIVE_INFINITY
    for (const waiter of waiters) {
      if (!waiter.woken && waiter.deadline <= at) {
        timeouts++
        const error = new AcquireTimeout({ key, phase: "wait", timeoutMs: acquireTimeoutMs, pool: numbers() })
        leave(waiter)
        waiter.resume?.(Effect.fail(error))
      } else {
        next = Math.min(next, waiter.deadline)
      }
    }
    return next === Number.POSITIVE_INFINITY ? hasWaiters.await : Effect.sleep(Math.max(1, next - at))
  })

  const failWaiters = (): void => {
    for (const waiter of Array.from(waiters)) {
      leave(waiter)
      waiter.resume?.(Effect.fail(closedError))
    }
    const failure = Exit.fail(closedError) as Exit.Failure<I, PoolError>
    for (const notify of Array.from(pool.state.waiters)) notify(failure)
  }

  // ---------------------------------------------------------------------------
  // acquire
  // ---------------------------------------------------------------------------

  const numbers = (): PoolNumbers => {
    const inUse = countInUse()
    let size = 0
    for (const entry of entries.values()) if (!entry.discarded && !entry.forced) size++
    return { size, inUse, idle: size - inUse, waiters: waiters.size + pool.state.waiters.size, max: options.max }
  }

  const isReady = (): boolean => {
    const s = pool.state
    if (s.waiters.size !== 0) return false
    const head = s.availableHead
    if (head === undefined || head.exit._tag !== "Success") return false
    const entry = entries.get(head.exit.value)
    if (entry === undefined) return false
    const at = now()
    return !isExpired(entry, at) && !needsValidation(entry, at)
  }

  const isFull = (): boolean => {
    const s = pool.state
    return s.availableHead === undefined && s.items.size - s.invalidated.size >= options.max
  }

  const takeReady = Pool.get(pool) as Effect.Effect<I, never, Scope.Scope>

  const backoff = (failures: number) =>
    Math.min(ms(options.createBackoff) * 2 ** (failures - 1), ms(options.createBackoffMax))

  const timedOut = (attempt: Attempt): AcquireError => {
    timeouts++
    const last = attempt.lastFailure
    if (last !== undefined && attempt.phase !== "validate") {
      return last._tag === "CreateTimeout"
        ? new CreateTimeout({ key, timeoutMs: createTimeoutMs, attempts: attempt.failures })
        : last._tag === "CreateFailed"
        ? new CreateFailed({ key, reason: last.reason, attempts: attempt.failures, retryable: true })
        : last
    }
    const phase: AcquirePhase = attempt.phase === "validate" ? "validate" : creating > 0 ? "create" : "wait"
    return new AcquireTimeout({ key, phase, timeoutMs: acquireTimeoutMs, pool: numbers() })
  }

  const discard = (entry: Entry<I>, attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.suspend(() => {
      entry.discarded = true
      return Effect.andThen(destroy(entry), leaseThroughPool(attempt))
    })

  const checkBorrowed = (instance: I, attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> => {
    const entry = entries.get(instance)!
    const at = now()
    if (isExpired(entry, at)) return discard(entry, attempt)
    if (!needsValidation(entry, at)) return Effect.succeed(instance)
    attempt.phase = "validate"
    return validate!(instance, config).pipe(
      Effect.timeoutOrElse({ duration: options.validateTimeout, orElse: () => Effect.succeed(false) }),
      Effect.catchCause(() => Effect.succeed(false)),
      Effect.flatMap((valid) => valid ? Effect.succeed(instance) : discard(entry, attempt))
    )
  }

  const onCreateError = (error: PoolError, attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> => {
    if (error._tag === "ResourceClosed" || error._tag === "MissingCredential" || !error.retryable) {
      return Effect.fail(error)
    }
    attempt.failures++
    attempt.lastFailure = error
    return Effect.andThen(Effect.sleep(backoff(attempt.failures)), leaseThroughPool(attempt))
  }

  const leaseThroughPool = (attempt: Attempt): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.suspend(() => {
      if (state._tag !== "Serving") return Effect.fail(closedError)
      attempt.phase = "wait"
      return Effect.matchEffect(Pool.get(pool), {
        onFailure: (error) => onCreateError(error, attempt),
        onSuccess: (instance) => checkBorrowed(instance, attempt)
      })
    })

  const acquireThroughPool = (deadline: number): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.suspend(() => {
      const attempt: Attempt = { phase: "wait", failures: 0, lastFailure: undefined }
      return Effect.timeoutOrElse(leaseThroughPool(attempt), {
        duration: Math.max(0, deadline - now()),
        orElse: () => Effect.fail(timedOut(attempt))
      })
    })

  const acquireAfterWait = (deadline: number): Effect.Effect<I, AcquireError, Scope.Scope> =>
    Effect.suspend(() => {
      let waiter: Waiter | undefined
      const turn = Effect.callback<void, AcquireError>((resume) => {
        const self: Waiter = {
          deadline,
          woken: false,
          resume: (effect) => {
            self.resume = undefined
            resume(effect)
          }
        }
        waiter = self
        waiters.add(self)
        hasWaiters.openUnsafe()
      })
      const next = Effect.suspend(() => {
        leave(waiter!)
        if (state._tag !== "Serving") return Effect.fail(closedError)
        if (isReady()) return takeReady
        return isFull() ? acquireAfterWait(deadline) : acquireThroughPool(deadline)
      })
      return Effect.ensuring(
        Effect.andThen(turn, next),
        Effect.sync(() => {
          if (waiter === undefined || !waiters.has(waiter)) return
          leave(waiter)
          if (waiter.woken) wakeNext()
        })
      )
    })

  const acquireNow = (): Effect.Effect<I, AcquireError, Scope.Scope> => {
    if (state._tag !== "Serving") return Effect.fail(closedError)
    if (waiters.size === 0) {
      if (isReady()) return takeReady
      if (!isFull()) return acquireThroughPool(now() + acquireTimeoutMs)
    }
    return acquireAfterWait(now() + acquireTimeoutMs)
  }

  const acquire: Effect.Effect<I, AcquireError, Scope.Scope> = Effect.suspend(acquireNow)

  const useNow = <A, E, R>(f: (instance: I) => Effect.Effect<A, E, R>): Effect.Effect<A, E | AcquireError, R> => {
    if (state._tag !== "Serving") return Effect.fail(closedError)
    if (waiters.size === 0 && isReady()) return Pool.use(pool, f) as Effect.Effect<A, E, R>
    return Effect.scoped(Effect.flatMap(acquire, f))
  }

  // ---------------------------------------------------------------------------
  // background: waiter deadlines, and retiring idle instances past their max lifetime
  // ---------------------------------------------------------------------------

  const reapExpired = Effect.suspend(() => {
    const at = now()
    const expired = Array.from(entries.values()).filter((entry) =>
      entry.item !== undefined && entry.item.refCount === 0 && isExpired(entry, at)
    )
    return Effect.forEach(expired, destroy, { discard: true })
  })
  const reapEvery = Duration.millis(Math.max(1000, Math.min(30_000, maxLifetimeMs / 4)))
  const background = [
    yield* Effect.forkIn(reapExpired.pipe(Effect.repeat(Schedule.spaced(reapEvery))), resourceScope),
    yield* Effect.forkIn(Effect.forever(expireWaiters), resourceScope)
  ]
  const stopBackground = Effect.forEach(background, Fiber.interrupt, { discard: true })

  // ---------------------------------------------------------------------------
  // shutdown: stop issuing, drain up to a deadline, force what is left, clean up
  // ---------------------------------------------------------------------------

  const stopIssuing = Effect.suspend(() => {
    if (state._tag !== "Serving") return Effect.void
    state = countInUse() === 0 ? { _tag: "Closed" } : { _tag: "Draining", drained: Deferred.makeUnsafe<void>() }
    failWaiters()
    const idle = Array.from(entries.values()).filter((entry) => !isLeased(entry))
    return Effect.forEach(idle, retire, { discard: true })
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
        entry.forced = true
        return Effect.andThen(retire(entry), entry.returnSlot)
      }, { discard: true }),
      outstanding.length
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
      yield* stopIssuing
      const drained = yield* drain
      const outstanding = countInUse()
      const forced = yield* forceOutstanding
      const cleanedUp = yield* closePool
      yield* stopBackground
      const report: ResourceShutdown = { key, drained, outstanding, forced, cleanedUp }
      Deferred.doneUnsafe(reported, Exit.succeed(report))
      return report
    }).pipe(
      Effect.withSpan("resource.shutdown", { attributes: { "resource.id": key } }),
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
    stats: () => {
      const current = numbers()
      return { ...current, created, destroyed, acquisitions: released + current.inUse, timeouts }
    },
    isServing: () => state._tag === "Serving",
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

const redact = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce((acc, secret) => secret.length === 0 ? acc : acc.split(secret).join("<redacted>"), text)
