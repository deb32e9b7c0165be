/**
 * The driver contract. A driver declares a resource once (its key, a config `Schema`, how to create
 * an instance as a scoped acquisition, and optionally how to validate it on borrow and recycle it on
 * return) and gets a `Layer` that validates the config, builds the pool on `Pool.makeWithTTL` and
 * registers it with the Manager. Closing the layer drains and cleans up the resource.
 *
 * Dependencies declared as resources become layer requirements, so initialisation (dependencies
 * first) and shutdown (dependents first) follow from layer composition.
 *
 * **Example** (An in-memory resource)
 *
 * ```ts
 * const Cache = Resource.make({
 *   key: "cache",
 *   config: Schema.Struct({ prefix: Schema.String }),
 *   create: (config) => Effect.acquireRelease(
 *     Effect.sync(() => ({ prefix: config.prefix, map: new Map<string, string>() })),
 *     (cache) => Effect.sync(() => cache.map.clear())
 *   ),
 *   recycle: (cache) => Effect.sync(() => cache.map.clear())
 * })
 * const layer = Cache.layer({ prefix: "app" }).pipe(Layer.provideMerge(Manager.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as ConfigSchema from "./ConfigSchema.ts"
import * as Health from "./Health.ts"
import * as HealthMonitor from "./internal/healthMonitor.ts"
import * as Lease from "./internal/lease.ts"
import { type Registration, ResourceRegistry } from "./internal/registry.ts"
import * as ResourcePool from "./internal/resourcePool.ts"
import { unknownField } from "./internal/violations.ts"
import * as Manager from "./Manager.ts"
import * as PoolOptions from "./PoolOptions.ts"
import {
  type AcquireError,
  type AlreadyRegistered,
  type CircularDependency,
  InvalidConfig,
  type MissingCredential,
  type ResourceClosed,
  type Violation
} from "./ResourceError.ts"
import * as Tenancy from "./Tenancy.ts"

const TypeId = "~@nebula/resource/Resource"

/**
 * What `create` receives besides the config: the resource key and a credential lookup that resolves
 * a `Redacted` secret at the moment of creation.
 *
 * @category models
 * @since 0.1.0
 */
export interface CreateContext {
  readonly key: string
  readonly credential: (id: string) => Effect.Effect<Redacted.Redacted<string>, MissingCredential>
}

/**
 * The driver contract.
 *
 * @category models
 * @since 0.1.0
 */
export interface Definition<
  Key extends string,
  Instance,
  Config,
  Encoded,
  E,
  R,
  Deps extends ReadonlyArray<Any | string>
> {
  /** The unique registry key, such as `"db"`. */
  readonly key: Key
  /** The config schema; the layer decodes with it strictly (`ConfigSchema.decode`: unknown fields are errors). */
  readonly config: Schema.Codec<Config, Encoded>
  /** Builds a ready instance. Cleanup is its finalizer (use `Effect.acquireRelease`). */
  readonly create: (config: Config, context: CreateContext) => Effect.Effect<Instance, E, R | Scope.Scope>
  /** Read-only liveness probe on borrow, skipped while the instance was idle less than the skip window. */
  readonly validate?: ((instance: Instance, config: Config) => Effect.Effect<boolean, unknown>) | undefined
  /** Resets state when an instance comes back; a failure destroys it. */
  readonly recycle?: ((instance: Instance, config: Config) => Effect.Effect<void, unknown>) | undefined
  /** A synchronous hint that an instance came back dirty; when it returns false the return skips `recycle`. */
  readonly needsRecycle?: ((instance: Instance) => boolean) | undefined
  /** Resources that must exist first: resource values become layer requirements, keys are only recorded. */
  readonly dependencies?: Deps | undefined
  /** Where the resource lives; defaults to Global. */
  readonly tenancy?: Tenancy.Tenancy | undefined
  /** Pool options; validated when the layer is built. */
  readonly pool?: PoolOptions.Input | undefined
  /**
   * A resident resource keeps exactly one instance that every caller shares at once (an HTTP client,
   * an SDK with a token): up to `maxConcurrent` leases (default 1,024) on the same instance, no
   * validation or recycle per lease; health checks and max lifetime still replace it.
   */
  readonly resident?: boolean | { readonly maxConcurrent?: number | undefined } | undefined
  /** Health check, quarantine and cascade settings. Without a check the resource is Unknown (served). */
  readonly health?: Health.Options<Instance> | undefined
  /** Whether a create error is worth retrying within the acquire timeout; defaults to always. */
  readonly isRetryable?: ((error: E) => boolean) | undefined
}

/**
 * The handle a resource layer provides: acquire and use bound to that resource, without a registry
 * lookup.
 *
 * @category models
 * @since 0.1.0
 */
export interface Handle<Key extends string, Instance> {
  readonly key: Key
  readonly acquire: Effect.Effect<Instance, AcquireError, Scope.Scope>
  readonly use: <A, E, R>(f: (instance: Instance) => Effect.Effect<A, E, R>) => Effect.Effect<A, E | AcquireError, R>
  /** Leases an instance for one callback-style call (see `Manager.useCallback`). */
  readonly useCallback: <A, E>(start: Manager.Callback<Instance, A, E>) => Effect.Effect<A, E | AcquireError>
  readonly stats: Effect.Effect<Manager.Stats>
}

/**
 * Any resource, for constraints.
 *
 * @category models
 * @since 0.1.0
 */
export interface Any {
  readonly [TypeId]: typeof TypeId
  readonly key: string
  readonly tag: Context.Service<any, any>
}

/**
 * A declared resource: its definition, the service key of its handle, a `layer` constructor and
 * typed `acquire` / `use`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Resource<
  Key extends string,
  Instance,
  Config,
  Encoded,
  E,
  R,
  Deps extends ReadonlyArray<Any | string>
> extends Any, Pipeable {
  readonly key: Key
  readonly definition: Definition<Key, Instance, Config, Encoded, E, R, Deps>
  readonly tag: Context.Service<Handle<Key, Instance>, Handle<Key, Instance>>
  /**
   * A layer that validates `config` (and pool options), builds the pool and registers it.
   */
  readonly layer: (
    config: Encoded,
    options?: {
      readonly pool?: PoolOptions.Input | undefined
      readonly tenancy?: Tenancy.Tenancy | undefined
    }
  ) => Layer.Layer<
    Handle<Key, Instance>,
    InvalidConfig | AlreadyRegistered | CircularDependency | ResourceClosed,
    Manager.Manager | Exclude<R, Scope.Scope> | DependencyHandles<Deps>
  >
  /** Leases an instance for the current scope through the Manager. */
  readonly acquire: Effect.Effect<Instance, AcquireError, Scope.Scope | Manager.Manager>
  /** Leases an instance for the duration of `f`. */
  readonly use: <A, E2, R2>(
    f: (instance: Instance) => Effect.Effect<A, E2, R2>
  ) => Effect.Effect<A, E2 | AcquireError, R2 | Manager.Manager>
  /** Leases an instance for one callback-style call (see `Manager.useCallback`). */
  readonly useCallback: <A, E2>(
    start: Manager.Callback<Instance, A, E2>
  ) => Effect.Effect<A, E2 | AcquireError, Manager.Manager>
}

/**
 * The handle services a list of dependencies requires.
 *
 * @category models
 * @since 0.1.0
 */
export type DependencyHandles<Deps extends ReadonlyArray<Any | string>> = {
  [K in keyof Deps]: Deps[K] extends { readonly tag: Context.Service<infer I, any> } ? I : never
}[number]

/**
 * Whether a value is a declared resource.
 *
 * @category guards
 * @since 0.1.0
 */
export const isResource = (u: unknown): u is Any => hasProperty(u, TypeId)

/**
 * Declares a resource.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <
  const Key extends string,
  Instance,
  Config,
  Encoded,
  E = never,
  R = never,
  const Deps extends ReadonlyArray<Any | string> = readonly []
>(
  definition: Definition<Key, Instance, Config, Encoded, E, R, Deps>
): Resource<Key, Instance, Config, Encoded, E, R, Deps> => {
  const tag = Context.Service<Handle<Key, Instance>>(`@nebula/resource/Resource/${definition.key}`)
  const dependencies = (definition.dependencies ?? []) as ReadonlyArray<Any | string>
  const self: Resource<Key, Instance, Config, Encoded, E, R, Deps> = {
    [TypeId]: TypeId,
    key: definition.key,
    definition,
    tag,
    layer: (config, options) => Layer.effect(tag, register(definition, dependencies, config, options)) as any,
    acquire: Manager.acquire(definition.key) as Effect.Effect<Instance, AcquireError, Scope.Scope | Manager.Manager>,
    use: (f) => Manager.use(definition.key, f as (instance: unknown) => Effect.Effect<any, any, any>),
    useCallback: (start) => Manager.useCallback(definition.key, start as Manager.Callback<unknown, any, any>),
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
  return self
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const register = Effect.fn("resource.register")(function*<
  Key extends string,
  Instance,
  Config,
  Encoded,
  E,
  R,
  Deps extends ReadonlyArray<Any | string>
>(
  definition: Definition<Key, Instance, Config, Encoded, E, R, Deps>,
  dependencies: ReadonlyArray<Any | string>,
  rawConfig: Encoded,
  options: {
    readonly pool?: PoolOptions.Input | undefined
    readonly tenancy?: Tenancy.Tenancy | undefined
  } | undefined
) {
  const key = definition.key
  yield* Effect.annotateCurrentSpan({
    "resource.id": key,
    "resource.scope": Tenancy.format(definition.tenancy ?? Tenancy.global)
  })
  const registry = yield* ResourceRegistry
  const [config, poolOptions, tenancy, health] = yield* validateAll(definition, rawConfig, options)
  for (const dependency of dependencies) {
    if (typeof dependency !== "string") yield* dependency.tag
  }
  const dependencyKeys = dependencies.map((dependency) => typeof dependency === "string" ? dependency : dependency.key)
  const scope = yield* Scope.Scope
  const token = {}
  yield* registry.reserve(key, dependencyKeys, token)
  yield* Scope.addFinalizer(scope, registry.deregister(key, token))
  const resourceScope = yield* Scope.fork(scope)
  const pool = yield* ResourcePool.make<Instance, Config>({
    key,
    tenancy,
    options: poolOptions,
    config,
    lifecycle: {
      create: definition.create as ResourcePool.Lifecycle<Instance, Config>["create"],
      validate: definition.validate,
      recycle: definition.recycle,
      needsRecycle: definition.needsRecycle,
      isRetryable: (definition.isRetryable ?? (() => true)) as (error: unknown) => boolean
    },
    events: registry.events,
    healthTimeout: health.timeout,
    maxEvictionFraction: health.maxEvictionFraction,
    concurrency: residentConcurrency(definition.resident)
  }).pipe(Scope.provide(resourceScope))
  const monitor = yield* HealthMonitor.make<Instance>({
    key,
    tenancy: Tenancy.format(tenancy),
    access: pool.health,
    settings: {
      check: definition.health?.check,
      interval: health.interval,
      failureThreshold: health.failureThreshold,
      recoveryBase: health.recoveryBaseDelay,
      recoveryMax: health.recoveryMaxDelay,
      recoveryAttempts: health.recoveryAttempts,
      recoveryJitter: health.recoveryJitter,
      cascadeDepth: health.cascadeDepth
    },
    onSeverity: (severe) => registry.cascade(key, severe)
  }).pipe(Scope.provide(resourceScope))
  const registration: Registration = {
    key,
    tenancy,
    dependencies: dependencyKeys,
    pool: pool as ResourcePool.ResourcePool<unknown>,
    monitor,
    critical: health.critical
  }
  yield* registry.activate(registration)
  yield* Scope.addFinalizer(resourceScope, registry.shutdown([registration], { remove: false }))
  yield* Effect.logInfo("resource registered").pipe(
    Effect.annotateLogs({
      "resource.id": key,
      "resource.scope": Tenancy.format(tenancy),
      "pool.max": poolOptions.max
    })
  )
  const events = registry.events
  const handle: Handle<Key, Instance> = {
    key,
    acquire: Effect.withFiber((fiber) => Lease.acquireUnsafe(registration, key, fiber, events)) as Effect.Effect<
      Instance,
      AcquireError,
      Scope.Scope
    >,
    use: (f) =>
      Effect.withFiber((fiber) =>
        Lease.useUnsafe(registration, key, fiber, f as (instance: unknown) => Effect.Effect<any, any, any>, events)
      ),
    useCallback: (start) =>
      Effect.withFiber((fiber) =>
        Lease.useCallbackUnsafe(registration, key, fiber, start as Manager.Callback<unknown, any, any>, events)
      ),
    stats: Effect.sync(() => pool.stats())
  }
  return handle
})

const residentConcurrency = (resident: boolean | { readonly maxConcurrent?: number | undefined } | undefined) =>
  resident === undefined || resident === false ? 1 : resident === true ? 1024 : resident.maxConcurrent ?? 1024

const layerOptions = ["pool", "tenancy"]

const validateAll = <Key extends string, Instance, Config, Encoded, E, R, Deps extends ReadonlyArray<Any | string>>(
  definition: Definition<Key, Instance, Config, Encoded, E, R, Deps>,
  rawConfig: Encoded,
  options: {
    readonly pool?: PoolOptions.Input | undefined
    readonly tenancy?: Tenancy.Tenancy | undefined
  } | undefined
): Effect.Effect<readonly [Config, PoolOptions.PoolOptions, Tenancy.Tenancy, Health.Settings], InvalidConfig> =>
  Effect.gen(function*() {
    const key = definition.key
    const violations: Array<Violation> = []
    const config = yield* ConfigSchema.decode(key, definition.config, rawConfig, "config.").pipe(
      Effect.catch((error) => Effect.sync(() => violations.push(...error.violations)))
    )
    for (const [name, value] of Object.entries(options ?? {})) {
      if (!layerOptions.includes(name)) violations.push(unknownField([name], layerOptions, value))
    }
    const poolInput = definition.resident === undefined || definition.resident === false
      ? { ...definition.pool, ...options?.pool }
      : { ...definition.pool, ...options?.pool, min: 1, max: 1 }
    const resident = residentConcurrency(definition.resident)
    if (!Number.isInteger(resident) || resident < 1) {
      violations.push({
        path: "resident.maxConcurrent",
        constraint: "Expected an integer of at least 1",
        actual: String(resident)
      })
    }
    const poolOptions = yield* PoolOptions.decode(key, poolInput).pipe(
      Effect.catch((error) => Effect.sync(() => violations.push(...error.violations)))
    )
    const health = yield* Health.decodeSettings(key, definition.health as Health.Options<unknown> | undefined).pipe(
      Effect.catch((error) => Effect.sync(() => violations.push(...error.violations)))
    )
    const tenancy = options?.tenancy ?? definition.tenancy ?? Tenancy.global
    yield* Tenancy.validate(tenancy).pipe(
      Effect.catch((error) =>
        Effect.sync(() => violations.push({ path: `tenancy.${error.field}`, constraint: error.reason, actual: "\"\"" }))
      )
    )
    if (violations.length > 0) return yield* Effect.fail(new InvalidConfig({ key, violations }))
    return [config as Config, poolOptions as PoolOptions.PoolOptions, tenancy, health as Health.Settings] as const
  })
