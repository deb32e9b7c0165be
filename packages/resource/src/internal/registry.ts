import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as References from "effect/References"
import type { ResourceReport, ShutdownReport } from "../Manager.ts"
import { AlreadyRegistered, CircularDependency, ResourceClosed } from "../ResourceError.ts"
import { ResourceEvent } from "../ResourceEvent.ts"
import * as Tenancy from "../Tenancy.ts"
import { findCycle } from "./dependencyGraph.ts"
import * as EventBus from "./eventBus.ts"
import type { Monitor } from "./healthMonitor.ts"
import type { ResourcePool } from "./resourcePool.ts"

/**
 * What a resource layer hands to the registry when it activates its key.
 *
 * @internal
 */
export interface Registration {
  readonly key: string
  readonly tenancy: Tenancy.Tenancy
  readonly dependencies: ReadonlyArray<string>
  readonly pool: ResourcePool<unknown>
  readonly monitor: Monitor
  readonly critical: boolean
}

/**
 * The registry behind a Manager: the keys resource layers reserve and activate, their dependency
 * edges, the health cascade along them, and the one shutdown path every shutdown takes.
 *
 * @internal
 */
export interface ResourceRegistryShape {
  /** The event bus pools and monitors publish on. */
  readonly events: EventBus.EventBus
  /** The active registration of a key. */
  readonly lookup: (key: string) => Registration | undefined
  /** Every active registration, in activation order. */
  readonly registrations: () => ReadonlyArray<Registration>
  /** Whether the shutdown of the whole registry has started. */
  readonly closing: () => boolean
  /** Claims a key and records its dependency edges. */
  readonly reserve: (
    key: string,
    dependencies: ReadonlyArray<string>,
    token: object
  ) => Effect.Effect<void, AlreadyRegistered | CircularDependency | ResourceClosed>
  /** Makes a reserved key acquirable. */
  readonly activate: (registration: Registration) => Effect.Effect<void>
  /** Releases the key if `token` still owns it. */
  readonly deregister: (key: string, token: object) => Effect.Effect<void>
  /** Degrades (or clears) the transitive dependents of `key`, up to its cascade depth. */
  readonly cascade: (key: string, severe: boolean) => Effect.Effect<void>
  /**
   * Shuts down `registrations` (given in activation order): every one stops issuing first, then each
   * shuts down as soon as the ones among them that depend on it have, all concurrently. The report
   * lists them in the order they finished. With `remove`, each is deregistered once it is down.
   */
  readonly shutdown: (
    registrations: ReadonlyArray<Registration>,
    options: { readonly remove: boolean }
  ) => Effect.Effect<ShutdownReport>
  /** Shuts down every registration once and refuses new keys; later calls wait for the same report. */
  readonly close: Effect.Effect<ShutdownReport>
}

/**
 * The registry service; `Manager.layer` provides it beside the `Manager`.
 *
 * @internal
 */
export class ResourceRegistry
  extends Context.Service<ResourceRegistry, ResourceRegistryShape>()("@nebula/resource/internal/ResourceRegistry")
{}

const byManager = new WeakMap<object, ResourceRegistryShape>()

/**
 * Links a Manager service value to the registry it was built on.
 *
 * @internal
 */
export const link = (manager: object, registry: ResourceRegistryShape): void => void byManager.set(manager, registry)

/**
 * The registry a Manager service value was built on; undefined for a Manager built elsewhere (a test
 * double). Accessors reach the registry through it, so a Manager provided on its own still works.
 *
 * @internal
 */
export const registryOf = (manager: object): ResourceRegistryShape | undefined => byManager.get(manager)

/**
 * Builds a registry; its scope's close shuts down whatever is still registered.
 *
 * @internal
 */
export const make = Effect.fnUntraced(function*(eventCapacity: number) {
  const minimumLogLevel = yield* References.MinimumLogLevel
  const debugLogs = minimumLogLevel === "Debug" || minimumLogLevel === "Trace" || minimumLogLevel === "All"
  const events = yield* EventBus.make(eventCapacity, debugLogs)
  const active = new Map<string, Registration>()
  const edges = new Map<string, ReadonlyArray<string>>()
  const owners = new Map<string, object>()
  const closed = Deferred.makeUnsafe<ShutdownReport>()
  let closing = false

  const common = (registration: Registration) =>
    Effect.map(Clock.currentTimeMillis, (at) => ({
      key: registration.key,
      tenancy: Tenancy.format(registration.tenancy),
      at
    }))

  const reserve = (
    key: string,
    dependencies: ReadonlyArray<string>,
    token: object
  ): Effect.Effect<void, AlreadyRegistered | CircularDependency | ResourceClosed> =>
    Effect.suspend((): Effect.Effect<void, AlreadyRegistered | CircularDependency | ResourceClosed> => {
      if (closing) return Effect.fail(new ResourceClosed({ key }))
      if (edges.has(key)) return Effect.fail(new AlreadyRegistered({ key }))
      const cycle = findCycle(edges, key, dependencies)
      if (cycle !== undefined) return Effect.fail(new CircularDependency({ cycle }))
      edges.set(key, dependencies)
      owners.set(key, token)
      return Effect.void
    })

  const activate = (registration: Registration) =>
    Effect.suspend(() => {
      active.set(registration.key, registration)
      return Effect.flatMap(common(registration), (common) =>
        events.publish(ResourceEvent.Registered({ ...common, dependencies: registration.dependencies })))
    })

  const deregister = (key: string, token: object) =>
    Effect.suspend(() => {
      if (owners.get(key) !== token) return Effect.void
      const registration = active.get(key)
      active.delete(key)
      edges.delete(key)
      owners.delete(key)
      return registration === undefined
        ? Effect.void
        : Effect.flatMap(common(registration), (common) => events.publish(ResourceEvent.Deregistered(common)))
    })

  const remove = (registration: Registration) =>
    Effect.suspend(() =>
      active.get(registration.key) === registration
        ? deregister(registration.key, owners.get(registration.key)!)
        : Effect.void
    )

  const dependentsOf = (key: string) =>
    Array.from(edges.entries()).filter(([, dependencies]) => dependencies.includes(key)).map(([dependent]) => dependent)

  const cascade = (key: string, severe: boolean): Effect.Effect<void> =>
    Effect.suspend(() => {
      const depthLimit = active.get(key)?.monitor.cascadeDepth ?? 3
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
        const registration = active.get(dependent)
        return registration === undefined ? Effect.void : registration.monitor.setDependency(key, depth, severe)
      }, { discard: true })
    })

  const shutdown = (
    registrations: ReadonlyArray<Registration>,
    options: { readonly remove: boolean }
  ): Effect.Effect<ShutdownReport> =>
    Effect.gen(function*() {
      const ordered = registrations.slice().reverse()
      for (const registration of ordered) yield* registration.pool.stopIssuing
      const finished = new Map(ordered.map((registration) => [registration, Deferred.makeUnsafe<void>()]))
      const reports: Array<ResourceReport> = []
      const shutdownOne = (registration: Registration) =>
        Effect.gen(function*() {
          for (const other of ordered) {
            if (other.dependencies.includes(registration.key)) yield* Deferred.await(finished.get(other)!)
          }
          const report = yield* registration.pool.shutdown
          yield* registration.monitor.stop
          reports.push(report)
          if (options.remove) yield* remove(registration)
        }).pipe(Effect.ensuring(Deferred.done(finished.get(registration)!, Exit.void)))
      yield* Effect.forEach(ordered, shutdownOne, { concurrency: "unbounded", discard: true })
      return { resources: reports }
    })

  const closeAll = Effect.fn("resource.shutdown")(function*() {
    yield* Effect.annotateCurrentSpan("resource.count", active.size)
    const report = yield* shutdown(Array.from(active.values()), { remove: false })
    yield* Deferred.succeed(closed, report)
    yield* Effect.logInfo("resource manager shut down").pipe(
      Effect.annotateLogs({ resources: report.resources.length })
    )
    return report
  }, Effect.uninterruptible)

  const close: Effect.Effect<ShutdownReport> = Effect.suspend(() => {
    if (closing) return Deferred.await(closed)
    closing = true
    return closeAll()
  })

  yield* Effect.addFinalizer(() => close)

  const registry: ResourceRegistryShape = {
    events,
    lookup: (key) => active.get(key),
    registrations: () => Array.from(active.values()),
    closing: () => closing,
    reserve,
    activate,
    deregister,
    cascade,
    shutdown,
    close
  }
  return registry
})
