/**
 * The Manager: one registry of resources per engine. Resource layers register with it when they are
 * built; actions acquire by key with `Effect.scoped(Manager.acquire("db"))` and get a healthy pooled
 * instance that goes back to its pool when their scope closes, whatever happens. It also reports
 * per-key statistics and runs the phased, dependency-ordered shutdown.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { Caller } from "./Caller.ts"
import type * as Health from "./Health.ts"
import { findCycle, shutdownBatches } from "./internal/dependencyGraph.ts"
import * as EventBus from "./internal/eventBus.ts"
import type * as HealthMonitor from "./internal/healthMonitor.ts"
import type {
  Callback as PoolCallback,
  Percentiles,
  ResourcePool,
  ResourceShutdown,
  Stats as PoolStats
} from "./internal/resourcePool.ts"
import {
  AccessDenied,
  type AcquireError,
  AlreadyRegistered,
  CircularDependency,
  NotRegistered,
  ResourceClosed
} from "./ResourceError.ts"
import { type Filter, ResourceEvent } from "./ResourceEvent.ts"
import * as Tenancy from "./Tenancy.ts"

/**
 * Maps resource keys to instance types, so `Manager.acquire("db")` is typed. Augment it:
 *
 * ```ts
 * declare module "@nebula/resource/Manager" {
 *   interface Registry { readonly db: DbClient }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
// oxlint-disable-next-line no-empty-interface
export interface Registry {}

/**
 * Per-key pool statistics: size, in use, idle, waiters, max and the lifetime counters created,
 * destroyed, acquisitions and timeouts.
 *
 * @category models
 * @since 0.1.0
 */
export type Stats = PoolStats

/**
 * One callback-style driver call on a leased instance, for `useCallback`: it starts the call, calls
 * `resume` exactly once with the outcome and never throws. What it returns (if anything) runs when
 * the caller is interrupted while the call is in flight: cancel it, or mark the instance broken. It
 * may run outside the caller's fiber (on the stack of the caller that returned the lease), so it must
 * not read the ambient fiber or its services.
 *
 * @category models
 * @since 0.1.0
 */
export type Callback<Instance, A, E> = PoolCallback<Instance, A, E>

/**
 * A registered resource as listed by `Manager.list`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResourceInfo {
  readonly key: string
  readonly tenancy: Tenancy.Tenancy
  readonly dependencies: ReadonlyArray<string>
}

/**
 * What shutdown did for one resource: whether every lease came back before the drain deadline,
 * how many were still out then, how many were force-released (their instance destroyed under the
 * holder), and whether cleanup finished within its deadline.
 *
 * @category models
 * @since 0.1.0
 */
export type ResourceReport = ResourceShutdown

/**
 * The result of a shutdown, one entry per resource in the order they were shut down.
 *
 * @category models
 * @since 0.1.0
 */
export interface ShutdownReport {
  readonly resources: ReadonlyArray<ResourceReport>
}

/**
 * Health of a resource as the operator sees it. Until health checks are configured every resource
 * is `Unknown`, which never blocks acquire.
 *
 * @category models
 * @since 0.1.0
 */
export interface HealthView {
  readonly status: "Healthy" | "Degraded" | "Unhealthy" | "Unknown"
  readonly reason: string | undefined
  readonly consecutiveFailures: number
  readonly lastTransitionAt: number | undefined
  /** The most recent transitions, oldest first (at most 20). */
  readonly transitions: ReadonlyArray<{ readonly from: string; readonly to: string; readonly at: number }>
  /** Dependencies whose failure degrades this resource, with their distance in the graph. */
  readonly degradedBy: ReadonlyArray<Health.DegradationCause>
}

/**
 * One resource as an operator endpoint serves it: identity, pool numbers, recent acquire wait
 * percentiles (milliseconds, over the last 1,024 acquires), health and quarantine.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResourceSnapshot {
  readonly key: string
  readonly tenancy: string
  readonly dependencies: ReadonlyArray<string>
  readonly serving: boolean
  readonly stats: Stats
  readonly acquireWaitMs: Percentiles
  readonly health: HealthView
  readonly quarantine: Health.QuarantineView | undefined
}

/**
 * Readiness for probes: ready when no critical resource is unhealthy, quarantined or shut down.
 * Non-critical resources are listed but never make the Manager unready.
 *
 * @category models
 * @since 0.1.0
 */
export interface Readiness {
  readonly ready: boolean
  readonly resources: ReadonlyArray<{
    readonly key: string
    readonly critical: boolean
    readonly ready: boolean
    readonly status: HealthView["status"]
  }>
}

/**
 * What a resource layer hands to the Manager when it registers.
 *
 * @category models
 * @since 0.1.0
 */
export interface Registration {
  readonly key: string
  readonly tenancy: Tenancy.Tenancy
  readonly dependencies: ReadonlyArray<string>
  readonly pool: ResourcePool<unknown>
  readonly monitor: HealthMonitor.Monitor
  readonly critical: boolean
}

/**
 * The Manager service.
 *
 * @category models
 * @since 0.1.0
 */
export interface ManagerShape {
  /** Leases an instance for the current `Scope`; it returns to the pool when the scope closes. */
  readonly acquire: (key: string) => Effect.Effect<unknown, AcquireError, Scope.Scope>
  /** Leases an instance for the duration of `f`, without allocating a scope. */
  readonly use: <A, E, R>(
    key: string,
    f: (instance: unknown) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | AcquireError, R>
  readonly stats: (key: string) => Effect.Effect<Stats, NotRegistered>
  readonly list: Effect.Effect<ReadonlyArray<ResourceInfo>>
  /** Shuts down every resource, dependents first; concurrent calls share one report. */
  readonly shutdown: Effect.Effect<ShutdownReport>
  /** Shuts down and deregisters every resource whose tenancy lies inside `tenancy`. */
  readonly closeTenancy: (tenancy: Tenancy.Tenancy) => Effect.Effect<ShutdownReport>
  /** Ready when no critical resource is unhealthy, quarantined or shut down. */
  readonly readiness: Effect.Effect<Readiness>
  /** Alive until shutdown starts; health never affects it. */
  readonly liveness: Effect.Effect<boolean>
  /** One snapshot per registered resource. */
  readonly snapshot: Effect.Effect<ReadonlyArray<ResourceSnapshot>>
  /** Subscribes now and returns the stream of events from this point on, optionally filtered. */
  readonly subscribe: (filter?: Filter) => Effect.Effect<Stream.Stream<ResourceEvent>, never, Scope.Scope>
  /** Quarantines a resource by hand: acquires fail fast while recovery probes run. */
  readonly quarantine: (key: string, reason: string) => Effect.Effect<boolean, NotRegistered>
  /** Releases a quarantined or permanently failed resource back into service. */
  readonly release: (key: string) => Effect.Effect<boolean, NotRegistered>
  /** @internal degrades (or clears) the transitive dependents of `key` */
  readonly cascade: (key: string, severe: boolean) => Effect.Effect<void>
  /** @internal the event bus pools publish on */
  readonly events: EventBus.EventBus
  /** @internal used by resource layers: claims a key and records its dependency edges */
  readonly reserve: (
    key: string,
    dependencies: ReadonlyArray<string>,
    token: object
  ) => Effect.Effect<void, AlreadyRegistered | CircularDependency | ResourceClosed>
  /** @internal used by resource layers: makes a reserved key acquirable */
  readonly activate: (registration: Registration) => Effect.Effect<void>
  /** @internal used by resource layers: releases the key if `token` still owns it */
  readonly deregister: (key: string, token: object) => Effect.Effect<void>
  /** @internal the registered pool of a key */
  readonly lookup: (key: string) => Registration | undefined
}

/**
 * The Manager service key.
 *
 * @category services
 * @since 0.1.0
 */
export class Manager extends Context.Service<Manager, ManagerShape>()("@nebula/resource/Manager") {}

/**
 * Builds a Manager; its scope's close shuts down whatever is still registered.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: {
  /** Capacity of the event bus; a slow subscriber loses the oldest events beyond it. @default 1024 */
  readonly eventCapacity?: number | undefined
}): Effect.Effect<ManagerShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const minimumLogLevel = yield* References.MinimumLogLevel
    const debugLogs = minimumLogLevel === "Debug" || minimumLogLevel === "Trace" || minimumLogLevel === "All"
    const events = yield* EventBus.make(options?.eventCapacity ?? 1024, debugLogs)
    const registry = new Map<string, Registration>()
    const edges = new Map<string, ReadonlyArray<string>>()
    const shutdownReport = yield* Deferred.make<ShutdownReport>()
    let shuttingDown = false

    const lookup = (key: string) => registry.get(key)

    const acquire = (key: string): Effect.Effect<unknown, AcquireError, Scope.Scope> =>
      Effect.withFiber((fiber) => acquireFrom(registry.get(key), key, fiber, events))

    const use = <A, E, R>(key: string, f: (instance: unknown) => Effect.Effect<A, E, R>) =>
      Effect.withFiber((fiber) => useFrom(registry.get(key), key, fiber, f, events))

    const snapshot = Effect.sync(() =>
      Array.from(registry.values(), (registration): ResourceSnapshot => ({
        key: registration.key,
        tenancy: Tenancy.format(registration.tenancy),
        dependencies: registration.dependencies,
        serving: registration.pool.isServing(),
        stats: registration.pool.stats(),
        acquireWaitMs: registration.pool.waitPercentiles(),
        health: healthView(registration.monitor.view()),
        quarantine: registration.monitor.view().quarantine
      }))
    )

    const stats = (key: string) =>
      Effect.suspend(() => {
        const registration = registry.get(key)
        return registration === undefined
          ? Effect.fail(new NotRegistered({ key }))
          : Effect.succeed(registration.pool.stats())
      })

    const list = Effect.sync(() =>
      Array.from(registry.values(), ({ dependencies, key, tenancy }) => ({ key, tenancy, dependencies }))
    )

    const shutdownKeys = (keys: ReadonlyArray<string>, remove: boolean) =>
      Effect.gen(function*() {
        const reports: Array<ResourceReport> = []
        for (const key of keys) yield* registry.get(key)?.pool.stopIssuing ?? Effect.void
        for (const batch of shutdownBatches(keys, edges)) {
          const batchReports = yield* Effect.forEach(
            batch.flatMap((key) => {
              const registration = registry.get(key)
              return registration === undefined ? [] : [registration]
            }),
            (registration) => Effect.tap(registration.pool.shutdown, () => registration.monitor.stop),
            { concurrency: "unbounded" }
          )
          reports.push(...batchReports)
          if (remove) {
            for (const key of batch) yield* deregister(key, owners.get(key)!)
          }
        }
        return { resources: reports }
      })

    const shutdown: Effect.Effect<ShutdownReport> = Effect.suspend(() => {
      if (shuttingDown) return Deferred.await(shutdownReport)
      shuttingDown = true
      return shutdownKeys(Array.from(registry.keys()), false).pipe(
        Effect.tap((report) => Deferred.succeed(shutdownReport, report)),
        Effect.tap((report) =>
          Effect.logInfo("resource manager shut down").pipe(
            Effect.annotateLogs({ resources: report.resources.length })
          )
        ),
        Effect.withSpan("resource.shutdown", { attributes: { "resource.count": registry.size } }),
        Effect.uninterruptible
      )
    })

    const closeTenancy = (tenancy: Tenancy.Tenancy) =>
      Effect.suspend(() => {
        const keys = Array.from(registry.values())
          .filter((registration) => Tenancy.contains(tenancy, registration.tenancy))
          .map((registration) => registration.key)
        return shutdownKeys(keys, true).pipe(
          Effect.withSpan("resource.close_tenancy", { attributes: { "resource.scope": Tenancy.format(tenancy) } }),
          Effect.uninterruptible
        )
      })

    const owners = new Map<string, object>()

    const reserve = (
      key: string,
      dependencies: ReadonlyArray<string>,
      token: object
    ): Effect.Effect<void, AlreadyRegistered | CircularDependency | ResourceClosed> =>
      Effect.suspend((): Effect.Effect<void, AlreadyRegistered | CircularDependency | ResourceClosed> => {
        if (shuttingDown) return Effect.fail(new ResourceClosed({ key }))
        if (edges.has(key)) return Effect.fail(new AlreadyRegistered({ key }))
        const cycle = findCycle(edges, key, dependencies)
        if (cycle !== undefined) return Effect.fail(new CircularDependency({ cycle }))
        edges.set(key, dependencies)
        owners.set(key, token)
        return Effect.void
      })

    const activate = (registration: Registration) =>
      Effect.suspend(() => {
        registry.set(registration.key, registration)
        return Effect.flatMap(Clock.currentTimeMillis, (at) =>
          events.publish(ResourceEvent.Registered({
            key: registration.key,
            tenancy: Tenancy.format(registration.tenancy),
            at,
            dependencies: registration.dependencies
          })))
      })

    const removeKey = (key: string) => {
      registry.delete(key)
      edges.delete(key)
      owners.delete(key)
    }

    const deregister = (key: string, token: object) =>
      Effect.suspend(() => {
        if (owners.get(key) !== token) return Effect.void
        const registration = registry.get(key)
        removeKey(key)
        return registration === undefined ?
          Effect.void :
          Effect.flatMap(
            Clock.currentTimeMillis,
            (at) =>
              events.publish(ResourceEvent.Deregistered({ key, tenancy: Tenancy.format(registration.tenancy), at }))
          )
      })

    yield* Effect.addFinalizer(() => shutdown)

    const withMonitor = <A>(key: string, f: (monitor: HealthMonitor.Monitor) => Effect.Effect<A>) =>
      Effect.suspend(() => {
        const registration = registry.get(key)
        return registration === undefined ? Effect.fail(new NotRegistered({ key })) : f(registration.monitor)
      })

    const dependentsOf = (key: string) =>
      Array.from(edges.entries()).filter(([, dependencies]) => dependencies.includes(key)).map(([dependent]) =>
        dependent
      )

    const cascade = (key: string, severe: boolean): Effect.Effect<void> =>
      Effect.suspend(() => {
        const depthLimit = registry.get(key)?.monitor.cascadeDepth ?? 3
        const reached = new Map<string, number>()
        let frontier = [key]
        for (let depth = 1; depth <= depthLimit && frontier.length > 0; depth++) {
          const next: Array<string> = []
          for (const node of frontier) {
            for (const dependent of dependentsOf(node)) {
              if (dependent === key || reached.has(dependent)) continue
              reached.set(dependent, depth)
              next.push(dependent)
            }
          }
          frontier = next
        }
        return Effect.forEach(reached, ([dependent, depth]) => {
          const registration = registry.get(dependent)
          return registration === undefined ? Effect.void : registration.monitor.setDependency(key, depth, severe)
        }, { discard: true })
      })

    const readiness = Effect.sync((): Readiness => {
      const resources = Array.from(registry.values(), (registration) => {
        const view = registration.monitor.view()
        return {
          key: registration.key,
          critical: registration.critical,
          ready: registration.pool.isServing() && !registration.monitor.severe(),
          status: view.status._tag
        }
      })
      return { ready: !shuttingDown && resources.every((r) => !r.critical || r.ready), resources }
    })

    return {
      acquire,
      use,
      readiness,
      liveness: Effect.sync(() => !shuttingDown),
      quarantine: (key, reason) => withMonitor(key, (monitor) => monitor.quarantine(reason, true)),
      release: (key) => withMonitor(key, (monitor) => monitor.release),
      cascade,
      stats,
      list,
      shutdown,
      closeTenancy,
      snapshot,
      subscribe: (filter) => events.subscribe(filter ?? {}),
      events,
      reserve,
      activate,
      deregister,
      lookup
    }
  })

/**
 * The Manager layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Manager> = Layer.effect(Manager, make())

/**
 * The Manager layer with options (event bus capacity).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerWith = (options: Parameters<typeof make>[0]): Layer.Layer<Manager> =>
  Layer.effect(Manager, make(options))

type KnownKey = keyof Registry & string

/**
 * Leases an instance of `key` for the current `Scope`. Typed by the augmented `Registry`.
 *
 * **Example** (Acquiring inside an action)
 *
 * ```ts
 * const rows = Effect.scoped(Effect.gen(function*() {
 *   const db = yield* Manager.acquire("db")
 *   return yield* db.query("select 1")
 * }))
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const acquire: {
  <K extends KnownKey>(key: K): Effect.Effect<Registry[K], AcquireError, Scope.Scope | Manager>
  (key: string): Effect.Effect<unknown, AcquireError, Scope.Scope | Manager>
} = (key: string) =>
  Effect.withFiber((fiber) => {
    const manager = Context.getUnsafe(fiber.context, Manager)
    return acquireFrom(manager.lookup(key), key, fiber, manager.events)
  })

/**
 * Leases an instance of `key` for the duration of `f`; the scope-free fast path.
 *
 * @category accessors
 * @since 0.1.0
 */
export const use: {
  <K extends KnownKey, A, E, R>(
    key: K,
    f: (instance: Registry[K]) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | AcquireError, R | Manager>
  <A, E, R>(key: string, f: (instance: unknown) => Effect.Effect<A, E, R>): Effect.Effect<
    A,
    E | AcquireError,
    R | Manager
  >
} = <A, E, R>(key: string, f: (instance: any) => Effect.Effect<A, E, R>) =>
  Effect.withFiber((fiber) => {
    const manager = Context.getUnsafe(fiber.context, Manager)
    return useFrom(manager.lookup(key), key, fiber, f, manager.events)
  })

/**
 * Leases an instance of `key` for one callback-style call (a single statement, a single command).
 * When the pool is full, the caller sleeps once: the lease a caller returns starts this call on the
 * spot, and the caller wakes with its outcome after its lease went back, with no second suspension.
 * The lowest-overhead path, for drivers' single-call helpers; `use` runs any effect.
 *
 * @category accessors
 * @since 0.1.0
 */
export const useCallback: {
  <K extends KnownKey, A, E>(key: K, start: Callback<Registry[K], A, E>): Effect.Effect<A, E | AcquireError, Manager>
  <A, E>(key: string, start: Callback<unknown, A, E>): Effect.Effect<A, E | AcquireError, Manager>
} = <A, E>(key: string, start: Callback<any, A, E>) =>
  Effect.withFiber((fiber) => {
    const manager = Context.getUnsafe(fiber.context, Manager)
    return useCallbackFrom(manager.lookup(key), key, fiber, start, manager.events)
  })

/**
 * Statistics of one resource.
 *
 * @category accessors
 * @since 0.1.0
 */
export const stats = (key: string): Effect.Effect<Stats, NotRegistered, Manager> =>
  Effect.flatMap(Manager, (manager) => manager.stats(key))

/**
 * Every registered resource with its tenancy and dependencies.
 *
 * @category accessors
 * @since 0.1.0
 */
export const list: Effect.Effect<ReadonlyArray<ResourceInfo>, never, Manager> = Effect.flatMap(
  Manager,
  (manager) => manager.list
)

/**
 * Shuts everything down in dependency order and reports what was left.
 *
 * @category accessors
 * @since 0.1.0
 */
export const shutdown: Effect.Effect<ShutdownReport, never, Manager> = Effect.flatMap(
  Manager,
  (manager) => manager.shutdown
)

/**
 * Shuts down and deregisters the resources inside `tenancy` (for example when an execution ends).
 *
 * @category accessors
 * @since 0.1.0
 */
export const closeTenancy = (tenancy: Tenancy.Tenancy): Effect.Effect<ShutdownReport, never, Manager> =>
  Effect.flatMap(Manager, (manager) => manager.closeTenancy(tenancy))

/**
 * Readiness for a readiness probe: only critical resources count.
 *
 * @category accessors
 * @since 0.1.0
 */
export const readiness: Effect.Effect<Readiness, never, Manager> = Effect.flatMap(
  Manager,
  (manager) => manager.readiness
)

/**
 * Liveness for a liveness probe: true until shutdown starts, whatever the health of resources.
 *
 * @category accessors
 * @since 0.1.0
 */
export const liveness: Effect.Effect<boolean, never, Manager> = Effect.flatMap(Manager, (manager) => manager.liveness)

/**
 * Quarantines a resource by hand; false when it was already quarantined.
 *
 * @category accessors
 * @since 0.1.0
 */
export const quarantine = (key: string, reason: string): Effect.Effect<boolean, NotRegistered, Manager> =>
  Effect.flatMap(Manager, (manager) => manager.quarantine(key, reason))

/**
 * Releases a quarantined or permanently failed resource; false when it was not quarantined.
 *
 * @category accessors
 * @since 0.1.0
 */
export const release = (key: string): Effect.Effect<boolean, NotRegistered, Manager> =>
  Effect.flatMap(Manager, (manager) => manager.release(key))

/**
 * The operator snapshot: one entry per registered resource.
 *
 * @category accessors
 * @since 0.1.0
 */
export const snapshot: Effect.Effect<ReadonlyArray<ResourceSnapshot>, never, Manager> = Effect.flatMap(
  Manager,
  (manager) => manager.snapshot
)

/**
 * Subscribes to lifecycle events from now on; the stream ends with the subscription's scope.
 *
 * **Example** (Watching one resource)
 *
 * ```ts
 * const events = yield* Manager.subscribe({ key: "db" })
 * yield* Stream.runForEach(events, (event) => Console.log(event._tag))
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const subscribe = (
  filter?: Filter
): Effect.Effect<Stream.Stream<ResourceEvent>, never, Manager | Scope.Scope> =>
  Effect.flatMap(Manager, (manager) => manager.subscribe(filter))

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const healthView = (view: HealthMonitor.View): HealthView => ({
  status: view.status._tag,
  reason: view.status._tag === "Degraded" || view.status._tag === "Unhealthy" ? view.status.reason : undefined,
  consecutiveFailures: view.consecutiveFailures,
  lastTransitionAt: view.lastTransitionAt,
  transitions: view.transitions,
  degradedBy: view.degradedBy
})

const callerIds = (registration: Registration, fiber: Fiber.Fiber<unknown, unknown>) => {
  if (!registration.pool.watchesHolds) return undefined
  const caller = fiber.getRef(Caller)
  return { tenantId: caller.tenantId, workflowId: caller.workflowId, executionId: caller.executionId }
}

const denied = (registration: Registration, caller: Tenancy.Tenancy) =>
  new AccessDenied({
    key: registration.key,
    resourceTenancy: Tenancy.format(registration.tenancy),
    callerTenancy: Tenancy.format(caller)
  })

const isTraced = (context: Context.Context<never>) => Context.getOrUndefined(context, Tracer.ParentSpan) !== undefined

const spanAttributes = (registration: Registration) => {
  const stats = registration.pool.stats()
  return {
    "resource.id": registration.key,
    "resource.scope": Tenancy.format(registration.tenancy),
    "pool.size": stats.size,
    "pool.available": stats.idle
  }
}

/** The failure of a caller outside the resource's tenancy, or undefined. */
const refusal = (
  registration: Registration,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<never, AcquireError> | undefined => {
  if (registration.tenancy._tag === "Global") return undefined
  const caller = fiber.getRef(Caller).tenancy
  return Tenancy.contains(registration.tenancy, caller) ? undefined : Effect.fail(denied(registration, caller))
}

/** @internal */
export const acquireFrom = (
  registration: Registration | undefined,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>,
  events: EventBus.EventBus
): Effect.Effect<unknown, AcquireError, Scope.Scope> => {
  if (registration === undefined) return Effect.fail(new NotRegistered({ key }))
  const refused = refusal(registration, fiber)
  if (refused !== undefined) return refused
  return isTraced(fiber.context)
    ? tracedAcquire(registration, events.observed(), callerIds(registration, fiber))
    : registration.pool.acquireNow(events.observed(), false, callerIds(registration, fiber))
}

const tracedAcquire = (
  registration: Registration,
  observed: boolean,
  caller: ReturnType<typeof callerIds>
): Effect.Effect<unknown, AcquireError, Scope.Scope> =>
  Effect.withSpan(Effect.suspend(() => registration.pool.acquireNow(observed, true, caller)), "resource.acquire", {
    attributes: spanAttributes(registration)
  }).pipe(
    Effect.tap(() =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (acquiredAt) =>
          Effect.addFinalizer(() =>
            Effect.flatMap(Clock.currentTimeMillis, (releasedAt) =>
              Effect.withSpan(Effect.void, "resource.release", {
                attributes: { ...spanAttributes(registration), "resource.hold_ms": releasedAt - acquiredAt }
              }))
          )
      )
    )
  )

/** @internal */
export const useFrom = <A, E, R>(
  registration: Registration | undefined,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>,
  f: (instance: unknown) => Effect.Effect<A, E, R>,
  events: EventBus.EventBus
): Effect.Effect<A, E | AcquireError, R> => {
  if (registration === undefined) return Effect.fail(new NotRegistered({ key }))
  const refused = refusal(registration, fiber)
  if (refused !== undefined) return refused
  const observed = events.observed()
  return isTraced(fiber.context)
    ? Effect.scoped(Effect.flatMap(tracedAcquire(registration, observed, callerIds(registration, fiber)), f))
    : registration.pool.useNow(f, observed, false, callerIds(registration, fiber))
}

/** @internal */
export const useCallbackFrom = <A, E>(
  registration: Registration | undefined,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>,
  start: Callback<unknown, A, E>,
  events: EventBus.EventBus
): Effect.Effect<A, E | AcquireError> => {
  if (registration === undefined) return Effect.fail(new NotRegistered({ key }))
  const refused = refusal(registration, fiber)
  if (refused !== undefined) return refused
  const observed = events.observed()
  return isTraced(fiber.context)
    ? Effect.scoped(
      Effect.flatMap(
        tracedAcquire(registration, observed, callerIds(registration, fiber)),
        (instance) => Effect.callback<A, E>((resume) => start(instance, resume))
      )
    )
    : registration.pool.useCallbackNow(start, observed, false, callerIds(registration, fiber))
}
