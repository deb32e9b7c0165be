import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { Caller } from "../Caller.ts"
import type { Callback } from "../Manager.ts"
import { AccessDenied, type AcquireError, NotRegistered } from "../ResourceError.ts"
import * as Tenancy from "../Tenancy.ts"
import type { EventBus } from "./eventBus.ts"
import type { Registration } from "./registry.ts"

/**
 * The one door for scoped acquires: `Manager.acquire`, the Manager service and a resource handle all
 * lease through it. It chooses the path synchronously, so call it inside the effect that runs it
 * (`Effect.withFiber`).
 *
 * @internal
 */
export const acquireUnsafe = (
  registration: Registration | undefined,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>,
  events: EventBus
): Effect.Effect<unknown, AcquireError, Scope.Scope> => {
  if (registration === undefined) return Effect.fail(new NotRegistered({ key }))
  const refused = refusal(registration, fiber)
  if (refused !== undefined) return refused
  return isTraced(fiber.context)
    ? tracedAcquire(registration, events.observed(), callerIds(registration, fiber))
    : registration.pool.acquireNow(events.observed(), false, callerIds(registration, fiber))
}

/**
 * The one door for `use`: a lease for the duration of `f`, without a scope when untraced.
 *
 * @internal
 */
export const useUnsafe = <A, E, R>(
  registration: Registration | undefined,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>,
  f: (instance: unknown) => Effect.Effect<A, E, R>,
  events: EventBus
): Effect.Effect<A, E | AcquireError, R> => {
  if (registration === undefined) return Effect.fail(new NotRegistered({ key }))
  const refused = refusal(registration, fiber)
  if (refused !== undefined) return refused
  const observed = events.observed()
  return isTraced(fiber.context)
    ? Effect.scoped(Effect.flatMap(tracedAcquire(registration, observed, callerIds(registration, fiber)), f))
    : registration.pool.useNow(f, observed, false, callerIds(registration, fiber))
}

/**
 * The one door for `useCallback`: a lease for one callback-style call.
 *
 * @internal
 */
export const useCallbackUnsafe = <A, E>(
  registration: Registration | undefined,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>,
  start: Callback<unknown, A, E>,
  events: EventBus
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

const callerIds = (registration: Registration, fiber: Fiber.Fiber<unknown, unknown>) => {
  if (!registration.pool.watchesHolds) return undefined
  const caller = fiber.getRef(Caller)
  return { tenantId: caller.tenantId, workflowId: caller.workflowId, executionId: caller.executionId }
}

const refusal = (
  registration: Registration,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<never, AcquireError> | undefined => {
  if (registration.tenancy._tag === "Global") return undefined
  const caller = fiber.getRef(Caller).tenancy
  return Tenancy.contains(registration.tenancy, caller)
    ? undefined
    : Effect.fail(
      new AccessDenied({
        key: registration.key,
        resourceTenancy: Tenancy.format(registration.tenancy),
        callerTenancy: Tenancy.format(caller)
      })
    )
}

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
