import { assert, describe, it } from "@effect/vitest"
import { Manager, Resource, ResourceError, Tenancy } from "@nebula/resource"
import { Data, Effect, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as ActionRunner from "../src/ActionRunner.ts"

const execution: ActionRunner.Execution = { tenantId: "acme", workflowId: "billing", executionId: "run-1" }

const memory = (key: string, tenancy: Tenancy.Tenancy, log: Array<string> = []) =>
  Resource.make({
    key,
    config: Schema.Struct({}),
    tenancy,
    pool: { min: 0, max: 2, acquireTimeout: "1 second" },
    create: () =>
      Effect.acquireRelease(
        Effect.sync(() => {
          log.push(`create ${key}`)
          return { key }
        }),
        () => Effect.sync(() => void log.push(`destroy ${key}`))
      )
  })

class Transient extends Data.TaggedError("Transient")<{ readonly retryable: boolean }> {}

describe("ActionRunner", () => {
  it.effect("classifies outcomes: success, retryable and fatal failures, defects and cancellation", () =>
    Effect.gen(function*() {
      const run = <A, E>(id: string, effect: Effect.Effect<A, E>) =>
        ActionRunner.runAction(execution, { id, run: effect })
      assert.deepStrictEqual(yield* run("ok", Effect.succeed(1)), { _tag: "Succeeded", actionId: "ok", value: 1 })
      const timeout = yield* run(
        "timeout",
        Effect.fail(
          new ResourceError.AcquireTimeout({
            key: "db",
            phase: "wait",
            timeoutMs: 10,
            pool: { size: 1, inUse: 1, idle: 0, waiters: 1, max: 1 }
          })
        )
      )
      assert.deepStrictEqual(timeout._tag === "Failed" ? [timeout.retryable, timeout.errorTag] : [], [
        true,
        "AcquireTimeout"
      ])
      const denied = yield* run(
        "denied",
        Effect.fail(
          new ResourceError.AccessDenied({ key: "db", resourceTenancy: "tenant:a", callerTenancy: "tenant:b" })
        )
      )
      assert.deepStrictEqual(denied._tag === "Failed" ? [denied.retryable, denied.errorTag] : [], [
        false,
        "AccessDenied"
      ])
      const custom = yield* run("custom", Effect.fail(new Transient({ retryable: true })))
      assert.deepStrictEqual(custom._tag === "Failed" ? [custom.retryable, custom.errorTag] : [], [true, "Transient"])
      const plain = yield* run("plain", Effect.fail("nope"))
      assert.deepStrictEqual(plain._tag === "Failed" ? [plain.retryable, plain.errorTag] : [], [false, "UnknownError"])
      const defect = yield* run("defect", Effect.die(new Error("bug")))
      assert.deepStrictEqual(defect._tag === "Failed" ? [defect.retryable, defect.errorTag] : [], [false, "Defect"])
      const cancelled = yield* run("cancelled", Effect.interrupt)
      assert.deepStrictEqual(cancelled, { _tag: "Cancelled", actionId: "cancelled" })
    }))

  it.effect("an action acquires as its caller: its tenant's resources are granted, another tenant's denied with a typed error", () => {
    const Own = memory("own-db", Tenancy.tenant("acme"))
    const Other = memory("other-db", Tenancy.tenant("globex"))
    const layer = Layer.mergeAll(Own.layer({}), Other.layer({})).pipe(Layer.provideMerge(Manager.layer))
    return Effect.gen(function*() {
      const outcomes = yield* ActionRunner.runExecution(execution, {
        actions: [
          { id: "read-own", run: Effect.scoped(Effect.map(Manager.acquire("own-db"), () => "ok")) },
          { id: "read-other", run: Effect.scoped(Manager.acquire("other-db")) }
        ]
      })
      assert.strictEqual(outcomes[0]!._tag, "Succeeded")
      const denied = outcomes[1]!
      assert.strictEqual(denied._tag, "Failed")
      assert.strictEqual(denied._tag === "Failed" ? denied.errorTag : "", "AccessDenied")
      assert.isFalse(denied._tag === "Failed" && denied.retryable)
    }).pipe(Effect.provide(layer))
  })

  it.effect("execution-scoped resources are created for the execution and cleaned up when it ends, even on failure", () => {
    const log: Array<string> = []
    return Effect.gen(function*() {
      const Scratch = memory("scratch", ActionRunner.executionTenancy(execution), log)
      const outcomes = yield* ActionRunner.runExecution(execution, {
        resources: Scratch.layer({}),
        actions: [
          { id: "use", run: Effect.scoped(Manager.acquire("scratch")) },
          { id: "fail", run: Effect.fail(new Transient({ retryable: false })) },
          { id: "never-runs", run: Effect.void }
        ]
      })
      assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Succeeded", "Failed"])
      assert.deepStrictEqual(log, ["create scratch", "destroy scratch"])
      assert.deepStrictEqual(yield* Manager.list, [])
      const second = { ...execution, executionId: "run-2" }
      const Next = memory("scratch", ActionRunner.executionTenancy(second), log)
      const again = yield* ActionRunner.runExecution(second, {
        resources: Next.layer({}),
        actions: [{ id: "use", run: Effect.scoped(Manager.acquire("scratch")) }]
      })
      assert.strictEqual(again[0]!._tag, "Succeeded")
      assert.deepStrictEqual(log, ["create scratch", "destroy scratch", "create scratch", "destroy scratch"])
    }).pipe(Effect.provide(Manager.layer))
  })

  it.effect("interrupting an execution cancels the running action and still cleans up its resources", () => {
    const log: Array<string> = []
    return Effect.gen(function*() {
      const Scratch = memory("scratch", ActionRunner.executionTenancy(execution), log)
      const fiber = yield* Effect.forkChild(
        ActionRunner.runExecution(execution, {
          resources: Scratch.layer({}),
          actions: [{ id: "hold", run: Effect.scoped(Effect.andThen(Manager.acquire("scratch"), Effect.never)) }]
        })
      )
      yield* Effect.forEach(Array.from({ length: 30 }), () => Effect.yieldNow, { discard: true })
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(log, ["create scratch", "destroy scratch"])
      assert.deepStrictEqual(yield* Manager.list, [])
    }).pipe(Effect.provide(Manager.layer))
  })

  describe("isolation matrix", () => {
    const own = { tenantId: "acme", workflowId: "billing", executionId: "run-1", actionId: "charge" }
    const other = { tenantId: "globex", workflowId: "payroll", executionId: "run-9", actionId: "pay" }
    const tenancyOf = (kind: string, ids: typeof own): Tenancy.Tenancy => {
      switch (kind) {
        case "tenant":
          return Tenancy.tenant(ids.tenantId)
        case "workflow":
          return Tenancy.workflow(ids.workflowId, ids.tenantId)
        case "execution":
          return Tenancy.execution(ids.executionId, { workflowId: ids.workflowId, tenantId: ids.tenantId })
        case "action":
          return Tenancy.action(ids.actionId, {
            executionId: ids.executionId,
            workflowId: ids.workflowId,
            tenantId: ids.tenantId
          })
        default:
          return Tenancy.custom("region", ids.tenantId)
      }
    }
    const kinds = ["tenant", "workflow", "execution", "action", "custom"] as const
    const cases = kinds.flatMap((kind) => [
      { kind, ids: "same" as const, expected: kind === "custom" ? "AccessDenied" : "Succeeded" },
      { kind, ids: "different" as const, expected: "AccessDenied" }
    ])

    it.effect(`every scope kind × same/different ids (${cases.length} cases) gives the expected grant or typed denial`, () => {
      const resources = cases.map((c) =>
        memory(`${c.kind}-${c.ids}`, tenancyOf(c.kind, c.ids === "same" ? own : other)).layer({})
      )
      const layer = Layer.mergeAll(resources[0]!, ...resources.slice(1)).pipe(Layer.provideMerge(Manager.layer))
      return Effect.gen(function*() {
        const outcomes = yield* ActionRunner.runExecution(
          { tenantId: own.tenantId, workflowId: own.workflowId, executionId: own.executionId },
          {
            actions: cases.map((c) => ({
              id: own.actionId,
              run: Effect.scoped(Manager.acquire(`${c.kind}-${c.ids}`)).pipe(
                Effect.as("granted"),
                Effect.catchTag("AccessDenied", () => Effect.succeed("denied"))
              )
            }))
          }
        )
        const results = outcomes.map((o) => o._tag === "Succeeded" ? o.value : o._tag)
        assert.deepStrictEqual(
          results,
          cases.map((c) => c.expected === "Succeeded" ? "granted" : "denied")
        )
      }).pipe(Effect.provide(layer))
    })
  })
})
