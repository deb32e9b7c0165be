/**
 * The Manager: one registry of resources per engine. Resource layers register with it when they are
 * built; actions acquire by key with `Effect.scoped(Manager.acquire("db"))` and get a healthy pooled
 * instance that goes back to its pool when their scope closes, whatever happens. It also reports
 * per-key statistics and runs the phased, dependency-ordered shutdown.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Health from "./Health.ts"
import type * as HealthMonitor from "./internal/healthMonitor.ts"
import * as Lease from "./internal/lease.ts"
import {
  link,
  make as makeRegistry,
  registryOf,
  ResourceRegistry,
  type ResourceRegistryShape
} from "./internal/registry.ts"
import { type AcquireError, NotRegistered, type PoolNumbers } from "./ResourceError.ts"
import type { Filter, ResourceEvent } from "./ResourceEvent.ts"
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
 * Per-key pool statistics: the current numbers (size, in use, idle, waiters, max) and the lifetime
 * counters created, destroyed, acquisitions and timeouts.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats extends PoolNumbers {
  /** Instances created since the resource registered. */
  readonly created: number
  /** Instances destroyed since the resource registered. */
  readonly destroyed: number
  /** Leases handed out, those still out included. */
  readonly acquisitions: number
  /** Acquires that failed with `AcquireTimeout`. */
  readonly timeouts: number
}

/**
 * Acquire wait percentiles in milliseconds.
 *
 * @category models
 * @since 0.1.0
 */
export interface Percentiles {
  readonly p50: number
  readonly p95: number
  readonly p99: number
}

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
export type Callback<Instance, A, E> = (
  instance: Instance,
  resume: (effect: Effect.Effect<A, E>) => void
) => Effect.Effect<void> | void

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
 * What shutdown did for one resource.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResourceReport {
  readonly key: string
  /** Whether every lease came back before the drain deadline. */
  readonly drained: boolean
  /** How many leases were still out at the drain deadline. */
  readonly outstanding: number
  /** How many leases were force-released: their instance destroyed under the holder. */
  readonly forced: number
  /** Whether cleanup finished within its deadline. */
  readonly cleanedUp: boolean
}

/**
 * The result of a shutdown, one entry per resource in the order they finished: every resource comes
 * before the resources it depends on.
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
 * The Manager service: what users call on a Manager.
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
  /** Leases an instance for one callback-style call. */
  readonly useCallback: <A, E>(key: string, start: Callback<unknown, A, E>) => Effect.Effect<A, E | AcquireError>
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
  /** Restores a quarantined or permanently failed resource to service. */
  readonly restore: (key: string) => Effect.Effect<boolean, NotRegistered>
}

/**
 * The Manager service key.
 *
 * @category services
 * @since 0.1.0
 */
export class Manager extends Context.Service<Manager, ManagerShape>()("@nebula/resource/Manager") {}

/**
 * Builds a Manager, in a context that also holds the registry its resource layers register with;
 * its scope's close shuts down whatever is still registered. `layer` is this as a `Layer`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: {
  /** Capacity of the event bus; a slow subscriber loses the oldest events beyond it. @default 1024 */
  readonly eventCapacity?: number | undefined
}): Effect.Effect<Context.Context<Manager>, never, Scope.Scope> =>
  Effect.map(makeRegistry(options?.eventCapacity ?? 1024), (registry) => {
    const manager = fromRegistry(registry)
    link(manager, registry)
    return Context.make(Manager, manager).pipe(Context.add(ResourceRegistry, registry))
  })

/**
 * The Manager layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Manager> = Layer.effectContext(make())

/**
 * The Manager layer with options (event bus capacity).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerWith = (options: Parameters<typeof make>[0]): Layer.Layer<Manager> =>
  Layer.effectContext(make(options))

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
    const registry = registryOf(manager)
    return registry === undefined
      ? manager.acquire(key)
      : Lease.acquireUnsafe(registry.lookup(key), key, fiber, registry.events)
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
    const registry = registryOf(manager)
    return registry === undefined
      ? manager.use(key, f)
      : Lease.useUnsafe(registry.lookup(key), key, fiber, f, registry.events)
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
    const registry = registryOf(manager)
    return registry === undefined
      ? manager.useCallback(key, start)
      : Lease.useCallbackUnsafe(registry.lookup(key), key, fiber, start, registry.events)
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
 * Restores a quarantined or permanently failed resource to service at once; false when it was not
 * quarantined.
 *
 * @category accessors
 * @since 0.1.0
 */
export const restore = (key: string): Effect.Effect<boolean, NotRegistered, Manager> =>
  Effect.flatMap(Manager, (manager) => manager.restore(key))

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

const fromRegistry = (registry: ResourceRegistryShape): ManagerShape => {
  const { events, lookup } = registry

  const withMonitor = <A>(key: string, f: (monitor: HealthMonitor.Monitor) => Effect.Effect<A>) =>
    Effect.suspend(() => {
      const registration = lookup(key)
      return registration === undefined ? Effect.fail(new NotRegistered({ key })) : f(registration.monitor)
    })

  const closeTenancy = Effect.fn("resource.close_tenancy")(function*(tenancy: Tenancy.Tenancy) {
    yield* Effect.annotateCurrentSpan("resource.scope", Tenancy.format(tenancy))
    const inside = registry.registrations().filter((registration) => Tenancy.contains(tenancy, registration.tenancy))
    return yield* registry.shutdown(inside, { remove: true })
  }, Effect.uninterruptible)

  return {
    acquire: (key) => Effect.withFiber((fiber) => Lease.acquireUnsafe(lookup(key), key, fiber, events)),
    use: (key, f) => Effect.withFiber((fiber) => Lease.useUnsafe(lookup(key), key, fiber, f, events)),
    useCallback: (key, start) =>
      Effect.withFiber((fiber) => Lease.useCallbackUnsafe(lookup(key), key, fiber, start, events)),
    stats: (key) =>
      Effect.suspend(() => {
        const registration = lookup(key)
        return registration === undefined
          ? Effect.fail(new NotRegistered({ key }))
          : Effect.succeed(registration.pool.stats())
      }),
    list: Effect.sync(() =>
      registry.registrations().map(({ dependencies, key, tenancy }) => ({ key, tenancy, dependencies }))
    ),
    shutdown: registry.close,
    closeTenancy,
    readiness: Effect.sync((): Readiness => {
      const resources = registry.registrations().map((registration) => ({
        key: registration.key,
        critical: registration.critical,
        ready: registration.pool.isServing() && !registration.monitor.severe(),
        status: registration.monitor.view().status._tag
      }))
      return { ready: !registry.closing() && resources.every((r) => !r.critical || r.ready), resources }
    }),
    liveness: Effect.sync(() => !registry.closing()),
    snapshot: Effect.sync(() =>
      registry.registrations().map((registration): ResourceSnapshot => ({
        key: registration.key,
        tenancy: Tenancy.format(registration.tenancy),
        dependencies: registration.dependencies,
        serving: registration.pool.isServing(),
        stats: registration.pool.stats(),
        acquireWaitMs: registration.pool.waitPercentiles(),
        health: healthView(registration.monitor.view()),
        quarantine: registration.monitor.view().quarantine
      }))
    ),
    subscribe: (filter) => events.subscribe(filter ?? {}),
    quarantine: (key, reason) => withMonitor(key, (monitor) => monitor.quarantine(reason, true)),
    restore: (key) => withMonitor(key, (monitor) => monitor.restore)
  }
}
