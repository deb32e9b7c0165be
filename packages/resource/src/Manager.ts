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
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { Caller } from "./Caller.ts"
import { findCycle, shutdownBatches } from "./internal/dependencyGraph.ts"
import type { ResourcePool, ResourceShutdown, Stats as PoolStats } from "./internal/resourcePool.ts"
import {
  AccessDenied,
  type AcquireError,
  AlreadyRegistered,
  CircularDependency,
  NotRegistered,
  ResourceClosed
} from "./ResourceError.ts"
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
export const make: Effect.Effect<ManagerShape, never, Scope.Scope> = Effect.gen(function*() {
  const registry = new Map<string, Registration>()
  const edges = new Map<string, ReadonlyArray<string>>()
  const shutdownReport = yield* Deferred.make<ShutdownReport>()
  let shuttingDown = false

  const lookup = (key: string) => registry.get(key)

  const acquire = (key: string): Effect.Effect<unknown, AcquireError, Scope.Scope> =>
    Effect.withFiber((fiber) => acquireFrom(registry.get(key), key, fiber))

  const use = <A, E, R>(key: string, f: (instance: unknown) => Effect.Effect<A, E, R>) =>
    Effect.withFiber((fiber) => useFrom(registry.get(key), key, fiber, f))

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

  const shutdownKeys = (keys: ReadonlyArray<string>, deregister: boolean) =>
    Effect.gen(function*() {
      const reports: Array<ResourceReport> = []
      for (const batch of shutdownBatches(keys, edges)) {
        const batchReports = yield* Effect.forEach(
          batch.flatMap((key) => {
            const registration = registry.get(key)
            return registration === undefined ? [] : [registration]
          }),
          (registration) => registration.pool.shutdown,
          { concurrency: "unbounded" }
        )
        reports.push(...batchReports)
        if (deregister) { for (const key of batch) removeKey(key) }
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
    Effect.sync(() => {
      registry.set(registration.key, registration)
    })

  const removeKey = (key: string) => {
    registry.delete(key)
    edges.delete(key)
    owners.delete(key)
  }

  const deregister = (key: string, token: object) =>
    Effect.sync(() => {
      if (owners.get(key) === token) removeKey(key)
    })

  yield* Effect.addFinalizer(() => shutdown)

  return { acquire, use, stats, list, shutdown, closeTenancy, reserve, activate, deregister, lookup }
})

/**
 * The Manager layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Manager> = Layer.effect(Manager, make)

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
  Effect.withFiber((fiber) => acquireFrom(Context.getUnsafe(fiber.context, Manager).lookup(key), key, fiber))

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
  Effect.withFiber((fiber) => useFrom(Context.getUnsafe(fiber.context, Manager).lookup(key), key, fiber, f))

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

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

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

/** @internal */
export const acquireFrom = (
  registration: Registration | undefined,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<unknown, AcquireError, Scope.Scope> => {
  if (registration === undefined) return Effect.fail(new NotRegistered({ key }))
  if (registration.tenancy._tag !== "Global") {
    const caller = fiber.getRef(Caller).tenancy
    if (!Tenancy.contains(registration.tenancy, caller)) return Effect.fail(denied(registration, caller))
  }
  return isTraced(fiber.context) ? tracedAcquire(registration) : registration.pool.acquireNow()
}

const tracedAcquire = (registration: Registration): Effect.Effect<unknown, AcquireError, Scope.Scope> =>
  Effect.withSpan(registration.pool.acquire, "resource.acquire", { attributes: spanAttributes(registration) }).pipe(
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
  f: (instance: unknown) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | AcquireError, R> => {
  if (registration === undefined) return Effect.fail(new NotRegistered({ key }))
  if (registration.tenancy._tag !== "Global") {
    const caller = fiber.getRef(Caller).tenancy
    if (!Tenancy.contains(registration.tenancy, caller)) return Effect.fail(denied(registration, caller))
  }
  return isTraced(fiber.context)
    ? Effect.scoped(Effect.flatMap(tracedAcquire(registration), f))
    : registration.pool.useNow(f)
}
