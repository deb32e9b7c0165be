/**
 * The caller's context: who is acquiring (its tenancy and the tenant, workflow, execution and action
 * ids it derives from) plus free-form metadata. An engine provides it per action; without one, the
 * caller is Global. `Manager.acquire` checks it against the resource's tenancy.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { InvalidTenancy } from "./ResourceError.ts"
import * as Tenancy from "./Tenancy.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface CallerContext {
  readonly tenancy: Tenancy.Tenancy
  readonly tenantId: string | undefined
  readonly workflowId: string | undefined
  readonly executionId: string | undefined
  readonly actionId: string | undefined
  readonly metadata: Readonly<Record<string, string>>
}

/**
 * The current caller; defaults to a Global caller with no ids.
 *
 * @category services
 * @since 0.1.0
 */
export const Caller: Context.Reference<CallerContext> = Context.Reference<CallerContext>(
  "@nebula/resource/Caller",
  { defaultValue: () => fromTenancy(Tenancy.global) }
)

/**
 * Builds a caller context from a tenancy, deriving the ids it carries.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromTenancy = (
  tenancy: Tenancy.Tenancy,
  metadata: Readonly<Record<string, string>> = {}
): CallerContext => {
  const ids = tenancy as Partial<Record<"tenantId" | "workflowId" | "executionId" | "actionId", string>>
  return {
    tenancy,
    tenantId: ids.tenantId,
    workflowId: ids.workflowId,
    executionId: ids.executionId,
    actionId: ids.actionId,
    metadata
  }
}

/**
 * Validates the tenancy (no empty ids) and runs `effect` as that caller.
 *
 * @category combinators
 * @since 0.1.0
 */
export const provide = (
  tenancy: Tenancy.Tenancy,
  metadata?: Readonly<Record<string, string>>
) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | InvalidTenancy, R> =>
  Effect.flatMap(
    Tenancy.validate(tenancy),
    (valid) => Effect.provideService(effect, Caller, fromTenancy(valid, metadata))
  )

/**
 * A layer that sets the caller, after validating its tenancy.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  tenancy: Tenancy.Tenancy,
  metadata?: Readonly<Record<string, string>>
): Layer.Layer<never, InvalidTenancy> =>
  Layer.effectContext(
    Effect.map(Tenancy.validate(tenancy), (valid) => Context.make(Caller, fromTenancy(valid, metadata)))
  ) as Layer.Layer<never, InvalidTenancy>
