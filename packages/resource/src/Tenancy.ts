/**
 * Tenancy: where a resource lives and who may use it. Six kinds (Global, Tenant, Workflow, Execution,
 * Action, Custom) form a containment hierarchy; a caller may acquire a resource only when the
 * resource's tenancy contains the caller's. Containment is deny-by-default and transitive: a parent
 * id that the child does not carry denies access.
 *
 * Named `Tenancy` so it never clashes with Effect's `Scope`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { InvalidTenancy } from "./ResourceError.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Global {
  readonly _tag: "Global"
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Tenant {
  readonly _tag: "Tenant"
  readonly tenantId: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Workflow {
  readonly _tag: "Workflow"
  readonly workflowId: string
  readonly tenantId?: string | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Execution {
  readonly _tag: "Execution"
  readonly executionId: string
  readonly workflowId?: string | undefined
  readonly tenantId?: string | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Action {
  readonly _tag: "Action"
  readonly actionId: string
  readonly executionId?: string | undefined
  readonly workflowId?: string | undefined
  readonly tenantId?: string | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Custom {
  readonly _tag: "Custom"
  readonly key: string
  readonly value: string
}

/**
 * A tenancy: the containment level of a resource or a caller.
 *
 * @category models
 * @since 0.1.0
 */
export type Tenancy = Global | Tenant | Workflow | Execution | Action | Custom

/**
 * The tenancy that contains everything; the default for resources and callers.
 *
 * @category constructors
 * @since 0.1.0
 */
export const global: Tenancy = { _tag: "Global" }

/**
 * @category constructors
 * @since 0.1.0
 */
export const tenant = (tenantId: string): Tenancy => ({ _tag: "Tenant", tenantId })

/**
 * @category constructors
 * @since 0.1.0
 */
export const workflow = (workflowId: string, tenantId?: string): Tenancy => ({ _tag: "Workflow", workflowId, tenantId })

/**
 * @category constructors
 * @since 0.1.0
 */
export const execution = (executionId: string, parent?: {
  readonly workflowId?: string | undefined
  readonly tenantId?: string | undefined
}): Tenancy => ({ _tag: "Execution", executionId, workflowId: parent?.workflowId, tenantId: parent?.tenantId })

/**
 * @category constructors
 * @since 0.1.0
 */
export const action = (actionId: string, parent?: {
  readonly executionId?: string | undefined
  readonly workflowId?: string | undefined
  readonly tenantId?: string | undefined
}): Tenancy => ({
  _tag: "Action",
  actionId,
  executionId: parent?.executionId,
  workflowId: parent?.workflowId,
  tenantId: parent?.tenantId
})

/**
 * @category constructors
 * @since 0.1.0
 */
export const custom = (key: string, value: string): Tenancy => ({ _tag: "Custom", key, value })

/**
 * Checks that every id of a tenancy is a non-empty string; fails with `InvalidTenancy` naming the field.
 *
 * @category constructors
 * @since 0.1.0
 */
export const validate = (self: Tenancy): Effect.Effect<Tenancy, InvalidTenancy> => {
  const problem = firstProblem(self)
  return problem === undefined ? Effect.succeed(self) : Effect.fail(problem)
}

/**
 * The hierarchy level: Global 0, Tenant 1, Workflow 2, Execution 3, Action 4, Custom 5.
 *
 * @category getters
 * @since 0.1.0
 */
export const level = (self: Tenancy): number => levels[self._tag]

/**
 * A stable string form: `global`, `tenant:{id}`, `workflow:{id}`, `execution:{id}`, `action:{id}`,
 * `custom:{key}={value}`.
 *
 * @category getters
 * @since 0.1.0
 */
export const format = (self: Tenancy): string => {
  switch (self._tag) {
    case "Global":
      return "global"
    case "Tenant":
      return `tenant:${self.tenantId}`
    case "Workflow":
      return `workflow:${self.workflowId}`
    case "Execution":
      return `execution:${self.executionId}`
    case "Action":
      return `action:${self.actionId}`
    case "Custom":
      return `custom:${self.key}=${self.value}`
  }
}

/**
 * Whether `parent` contains `child`. Global contains everything. At the same level only an equal
 * tenancy is contained (every id, parent ids included). A narrower child must carry the parent's own
 * id, and every parent id the parent has (deny by default); ids the parent lacks are unconstrained.
 *
 * @category predicates
 * @since 0.1.0
 */
export const contains = (parent: Tenancy, child: Tenancy): boolean => {
  if (firstProblem(parent) !== undefined || firstProblem(child) !== undefined) return false
  switch (parent._tag) {
    case "Global":
      return true
    case "Tenant":
      return child._tag === "Tenant" ?
        child.tenantId === parent.tenantId :
        child._tag === "Custom" ?
        false :
        child._tag !== "Global" && child.tenantId === parent.tenantId
    case "Workflow":
      switch (child._tag) {
        case "Workflow":
          return child.workflowId === parent.workflowId && child.tenantId === parent.tenantId
        case "Execution":
        case "Action":
          return child.workflowId === parent.workflowId && consistent(parent.tenantId, child.tenantId)
        default:
          return false
      }
    case "Execution":
      switch (child._tag) {
        case "Execution":
          return child.executionId === parent.executionId && child.workflowId === parent.workflowId &&
            child.tenantId === parent.tenantId
        case "Action":
          return child.executionId === parent.executionId && consistent(parent.workflowId, child.workflowId) &&
            consistent(parent.tenantId, child.tenantId)
        default:
          return false
      }
    case "Action":
      return child._tag === "Action" && child.actionId === parent.actionId &&
        child.executionId === parent.executionId && child.workflowId === parent.workflowId &&
        child.tenantId === parent.tenantId
    case "Custom":
      return child._tag === "Custom" && child.key === parent.key && child.value === parent.value
  }
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const levels: Record<Tenancy["_tag"], number> = {
  Global: 0,
  Tenant: 1,
  Workflow: 2,
  Execution: 3,
  Action: 4,
  Custom: 5
}

const consistent = (parentId: string | undefined, childId: string | undefined): boolean =>
  parentId === undefined || (childId !== undefined && childId === parentId)

const idFields: Record<Tenancy["_tag"], ReadonlyArray<string>> = {
  Global: [],
  Tenant: ["tenantId"],
  Workflow: ["workflowId"],
  Execution: ["executionId"],
  Action: ["actionId"],
  Custom: ["key", "value"]
}

const optionalIdFields = ["tenantId", "workflowId", "executionId"]

const firstProblem = (self: Tenancy): InvalidTenancy | undefined => {
  const record = self as unknown as Record<string, unknown>
  for (const field of idFields[self._tag]) {
    const value = record[field]
    if (typeof value !== "string" || value.length === 0) {
      return new InvalidTenancy({ field: `${self._tag}.${field}`, reason: "must be a non-empty string" })
    }
  }
  for (const field of optionalIdFields) {
    const value = record[field]
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) {
      return new InvalidTenancy({ field: `${self._tag}.${field}`, reason: "must be a non-empty string when present" })
    }
  }
  return undefined
}
