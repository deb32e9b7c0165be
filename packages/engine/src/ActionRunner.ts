/**
 * How a workflow engine embeds the framework. An execution runs its actions one after another; each
 * action runs as its caller (tenant, workflow, execution and action ids), so
 * `Effect.scoped(Manager.acquire("db"))` inside it gets a tenancy-checked lease. Resources declared
 * for the execution are built when it starts, under the execution's tenancy, and cleaned up when it
 * ends, whatever happens. Every action ends in an outcome the engine can act on: succeeded, failed
 * (retryable or fatal, from the error classification) or cancelled (interruption).
 *
 * @since 0.1.0
 */
import { Caller, Manager, ResourceError, Tenancy } from "@nebula/resource"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"

/**
 * The identity of one execution of a workflow.
 *
 * @category models
 * @since 0.1.0
 */
export interface Execution {
  readonly tenantId: string
  readonly workflowId: string
  readonly executionId: string
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

/**
 * One step of an execution.
 *
 * @category models
 * @since 0.1.0
 */
export interface Action<A, E, R> {
  readonly id: string
  readonly run: Effect.Effect<A, E, R>
}

/**
 * How an action ended.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome<A> =
  | { readonly _tag: "Succeeded"; readonly actionId: string; readonly value: A }
  | {
    readonly _tag: "Failed"
    readonly actionId: string
    /** Whether the engine should retry the action (with backoff). */
    readonly retryable: boolean
    /** The error's tag, or "Defect" for an unexpected failure. */
    readonly errorTag: string
    readonly message: string
  }
  | { readonly _tag: "Cancelled"; readonly actionId: string }

/**
 * The tenancy an action of an execution runs as.
 *
 * @category constructors
 * @since 0.1.0
 */
export const actionTenancy = (execution: Execution, actionId: string): Tenancy.Tenancy =>
  Tenancy.action(actionId, {
    executionId: execution.executionId,
    workflowId: execution.workflowId,
    tenantId: execution.tenantId
  })

/**
 * The tenancy of an execution, for resources that live as long as it does.
 *
 * @category constructors
 * @since 0.1.0
 */
export const executionTenancy = (execution: Execution): Tenancy.Tenancy =>
  Tenancy.execution(execution.executionId, { workflowId: execution.workflowId, tenantId: execution.tenantId })

/**
 * Classifies a failure: framework errors by their `retryable` flag, other errors that carry a
 * boolean `retryable` by it, everything else (and defects) as fatal; interruption is cancellation.
 *
 * @category classification
 * @since 0.1.0
 */
export const classify = <A>(actionId: string, exit: Exit.Exit<A, unknown>): Outcome<A> => {
  if (Exit.isSuccess(exit)) return { _tag: "Succeeded", actionId, value: exit.value }
  if (Cause.hasInterruptsOnly(exit.cause)) return { _tag: "Cancelled", actionId }
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure === undefined) {
    return { _tag: "Failed", actionId, retryable: false, errorTag: "Defect", message: Cause.pretty(exit.cause) }
  }
  const error = failure.error
  const tagged = typeof error === "object" && error !== null
  const errorTag = tagged && "_tag" in error ? String(error._tag) : "UnknownError"
  const retryable = ResourceError.isResourceError(error)
    ? error.retryable
    : tagged && "retryable" in error && typeof error.retryable === "boolean" && error.retryable
  const message = tagged && "message" in error ? String(error.message) : String(error)
  return { _tag: "Failed", actionId, retryable, errorTag, message }
}

/**
 * Runs one action as its caller and classifies how it ended. Never fails: the outcome says.
 *
 * @category running
 * @since 0.1.0
 */
export const runAction = <A, E, R>(
  execution: Execution,
  action: Action<A, E, R>
): Effect.Effect<Outcome<A>, never, R> =>
  Effect.map(
    Effect.exit(action.run.pipe(Caller.provide(actionTenancy(execution, action.id), execution.metadata))),
    (exit) => classify(action.id, exit as Exit.Exit<A, unknown>)
  )

/**
 * Runs an execution: builds its execution-scoped resource layer (under the Manager already
 * provided), runs the actions in order until one does not succeed, then closes every resource of the
 * execution's tenancy and the layer. Interrupting the returned effect cancels the running action
 * and still cleans up.
 *
 * @category running
 * @since 0.1.0
 */
export const runExecution = <R = never, ER = never, RR = never>(
  execution: Execution,
  options: {
    /** Resources that live as long as the execution (declare them with `executionTenancy(execution)`). */
    readonly resources?: Layer.Layer<R, ER, RR> | undefined
    readonly actions: ReadonlyArray<Action<unknown, unknown, R | Manager.Manager>>
  }
): Effect.Effect<ReadonlyArray<Outcome<unknown>>, ER, Manager.Manager | RR> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const resources = options.resources === undefined
      ? Effect.succeed(Context.empty() as Context.Context<R>)
      : Layer.buildWithScope(options.resources, scope)
    const run = Effect.gen(function*() {
      const context = yield* resources
      const outcomes: Array<Outcome<unknown>> = []
      for (const action of options.actions) {
        const outcome = yield* runAction(execution, action).pipe(Effect.provideContext(context))
        outcomes.push(outcome)
        if (outcome._tag !== "Succeeded") break
      }
      return outcomes
    })
    return yield* run.pipe(
      Effect.onExit(() =>
        Effect.andThen(Manager.closeTenancy(executionTenancy(execution)), Scope.close(scope, Exit.void))
      ),
      Effect.withSpan("engine.execution", {
        attributes: { "workflow.id": execution.workflowId, "execution.id": execution.executionId }
      })
    )
  })
