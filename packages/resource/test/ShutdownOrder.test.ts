import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Caller from "../src/Caller.ts"
import * as Manager from "../src/Manager.ts"
import * as Tenancy from "../src/Tenancy.ts"
import * as Fake from "./utils/fake.ts"

const settle = Effect.forEach(Array.from({ length: 30 }), () => Effect.yieldNow, { discard: true })

const execution = Tenancy.execution("E", { workflowId: "W", tenantId: "T" })

/** The diamond a ← b, a ← c, b,c ← d; each drain waits out its deadline (a lease stays out). */
const diamond = () => {
  const resource = (key: string, drainTimeout: Duration.Input, dependencies: ReadonlyArray<any> = []) =>
    Fake.make(new Fake.Fake(), { key, dependencies, tenancy: execution, pool: { min: 0, max: 1, drainTimeout } })
  const A = resource("a", "1 second")
  const B = resource("b", "2 seconds", [A])
  const C = resource("c", "2 seconds", [A])
  const D = resource("d", "1 second", [B, C])
  const la = A.layer({ label: "a" })
  const lb = B.layer({ label: "b" }).pipe(Layer.provide(la))
  const lc = C.layer({ label: "c" }).pipe(Layer.provide(la))
  const ld = D.layer({ label: "d" }).pipe(Layer.provide(Layer.mergeAll(lb, lc)))
  return Layer.mergeAll(ld, lb, lc, la).pipe(Layer.provideMerge(Manager.layer)) as Layer.Layer<Manager.Manager>
}

const edges: ReadonlyArray<readonly [dependent: string, dependency: string]> = [
  ["b", "a"],
  ["c", "a"],
  ["d", "b"],
  ["d", "c"]
]

interface Span {
  readonly start: number
  readonly end: number
  readonly startIndex: number
  readonly endIndex: number
}

/** Records when each resource's shutdown starts (phase stop) and ends (phase terminate). */
const recordShutdowns = Effect.gen(function*() {
  const log: Array<{ readonly key: string; readonly edge: "start" | "end"; readonly at: number }> = []
  const stream = yield* Manager.subscribe({ tags: ["ShutdownPhaseStarted", "ShutdownPhaseFinished"] })
  yield* Effect.forkScoped(Stream.runForEach(stream, (event) =>
    Effect.sync(() => {
      if (event._tag === "ShutdownPhaseStarted" && event.phase === "stop") {
        log.push({ key: event.key, edge: "start", at: event.at })
      }
      if (event._tag === "ShutdownPhaseFinished" && event.phase === "terminate") {
        log.push({ key: event.key, edge: "end", at: event.at })
      }
    })))
  return () => {
    const spans: Record<string, Span> = {}
    for (const key of ["a", "b", "c", "d"]) {
      const startIndex = log.findIndex((entry) => entry.key === key && entry.edge === "start")
      const endIndex = log.findIndex((entry) => entry.key === key && entry.edge === "end")
      spans[key] = { start: log[startIndex]!.at, end: log[endIndex]!.at, startIndex, endIndex }
    }
    return spans
  }
})

/** Holds one lease of every resource, never returned: each drain then lasts its whole deadline. */
const holdEveryResource = Effect.forEach(
  ["a", "b", "c", "d"],
  (key) => Effect.forkChild(Effect.scoped(Effect.andThen(Manager.acquire(key), Effect.never)))
).pipe(Caller.provide(Tenancy.action("X", { executionId: "E", workflowId: "W", tenantId: "T" })))

const assertDependentsFirst = (spans: Record<string, Span>) => {
  for (const [dependent, dependency] of edges) {
    assert.isBelow(spans[dependent]!.endIndex, spans[dependency]!.startIndex, `${dependent} ends before ${dependency}`)
    assert.isAtMost(spans[dependent]!.end, spans[dependency]!.start, `${dependent} ends before ${dependency}`)
  }
}

const assertIndependentOverlap = (spans: Record<string, Span>) => {
  assert.deepStrictEqual(
    Object.fromEntries(Object.entries(spans).map(([key, span]) => [key, [span.start, span.end]])),
    { d: [0, 1000], b: [1000, 3000], c: [1000, 3000], a: [3000, 4000] }
  )
}

/** Advances the clock one second at a time until `fiber` is done; returns the seconds it took. */
const secondsUntilDone = (fiber: Fiber.Fiber<unknown, unknown>) =>
  Effect.gen(function*() {
    let seconds = 0
    yield* settle
    while (fiber.pollUnsafe() === undefined && seconds < 60) {
      yield* TestClock.adjust("1 second")
      yield* settle
      seconds++
    }
    return seconds
  })

describe("shutdown order", () => {
  it.effect("Manager.shutdown of a diamond: dependents first, independent resources drain at the same time", () =>
    Effect.gen(function*() {
      const spans = yield* recordShutdowns
      const holders = yield* holdEveryResource
      yield* settle
      const shutdown = yield* Effect.forkChild(Manager.shutdown)
      assert.strictEqual(yield* secondsUntilDone(shutdown), 4)
      const report = yield* Fiber.join(shutdown)
      yield* settle
      assertDependentsFirst(spans())
      assertIndependentOverlap(spans())
      const keys = report.resources.map((r) => r.key)
      assert.strictEqual(keys[0], "d")
      assert.deepStrictEqual(keys.slice(1, 3).sort(), ["b", "c"])
      assert.strictEqual(keys[3], "a")
      assert.isTrue(report.resources.every((r) => !r.drained && r.forced === 1 && r.cleanedUp))
      yield* Effect.forEach(holders, Fiber.interrupt, { discard: true })
    }).pipe(Effect.provide(diamond())))

  it.effect("closeTenancy of a diamond follows the same order and deregisters each resource", () =>
    Effect.gen(function*() {
      const spans = yield* recordShutdowns
      const holders = yield* holdEveryResource
      yield* settle
      const close = yield* Effect.forkChild(
        Manager.closeTenancy(Tenancy.execution("E", { workflowId: "W", tenantId: "T" }))
      )
      assert.strictEqual(yield* secondsUntilDone(close), 4)
      const report = yield* Fiber.join(close)
      yield* settle
      assertDependentsFirst(spans())
      assertIndependentOverlap(spans())
      assert.deepStrictEqual(report.resources.map((r) => r.key).sort(), ["a", "b", "c", "d"])
      assert.deepStrictEqual(yield* Manager.list, [])
      assert.isTrue(yield* Manager.liveness)
      yield* Effect.forEach(holders, Fiber.interrupt, { discard: true })
    }).pipe(Effect.provide(diamond())))

  it.effect("layer teardown of a diamond follows the same order, and a later Manager.shutdown finds nothing left", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(diamond(), scope)
      const { holders, spans } = yield* Effect.gen(function*() {
        const spans = yield* recordShutdowns
        const holders = yield* holdEveryResource
        return { holders, spans }
      }).pipe(Effect.provideContext(context))
      yield* settle
      const teardown = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      assert.strictEqual(yield* secondsUntilDone(teardown), 4)
      yield* settle
      assertDependentsFirst(spans())
      assertIndependentOverlap(spans())
      const report = yield* Manager.shutdown.pipe(Effect.provideContext(context))
      assert.deepStrictEqual(report.resources, [])
      yield* Effect.forEach(holders, Fiber.interrupt, { discard: true })
    }))

  it.effect("layer teardown after Manager.shutdown takes no time and leaves the shutdown report as it was", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(diamond(), scope)
      const holders = yield* holdEveryResource.pipe(Effect.provideContext(context))
      yield* settle
      const shutdown = yield* Effect.forkChild(Manager.shutdown.pipe(Effect.provideContext(context)))
      yield* secondsUntilDone(shutdown)
      const first = yield* Fiber.join(shutdown)
      yield* Scope.close(scope, Exit.void)
      const again = yield* Manager.shutdown.pipe(Effect.provideContext(context))
      assert.strictEqual(again, first)
      assert.strictEqual(first.resources.length, 4)
      yield* Effect.forEach(holders, Fiber.interrupt, { discard: true })
    }))
})
