import { Effect, Exit, Layer } from "effect"
import * as Manager from "../../src/Manager.ts"
import * as Fake from "./fake.ts"
import { advance30 } from "./time.ts"

/** One call started through `useCallback`: its caller's label, its instance, and its `resume`. */
export interface Call {
  readonly caller: number
  readonly instance: Fake.FakeInstance
  readonly resume: (effect: Effect.Effect<number, string>) => void
  interrupted: boolean
}

/**
 * A driver whose calls the test completes by hand, as an I/O callback would, outside the caller's
 * fiber. It records every started call and every instance that ran two calls at once.
 */
export class Driver {
  readonly started: Array<Call> = []
  readonly running = new Set<number>()
  readonly overlaps: Array<number> = []

  start = (caller: number) => (instance: Fake.FakeInstance, resume: Call["resume"]): Effect.Effect<void> => {
    if (this.running.has(instance.id)) this.overlaps.push(instance.id)
    this.running.add(instance.id)
    const call: Call = { caller, instance, resume, interrupted: false }
    this.started.push(call)
    return Effect.sync(() => {
      call.interrupted = true
      this.running.delete(instance.id)
    })
  }

  complete(call: Call, outcome: Effect.Effect<number, string>): void {
    this.running.delete(call.instance.id)
    call.resume(outcome)
  }
}

/** `Manager.useCallback` on the fake resource with one of the driver's calls. */
export const useCallback = (driver: Driver, caller: number) =>
  Manager.useCallback("fake", driver.start(caller) as Manager.Callback<unknown, number, string>)

/** The fake resource (at most one instance unless `options` says otherwise) with a Manager. */
export const layer = (fake: Fake.Fake, options: Parameters<typeof Fake.make>[1] = {}) =>
  Fake.make(fake, { pool: { min: 0, max: 1 }, ...options }).layer({ label: "x" }).pipe(
    Layer.provideMerge(Manager.layer)
  )

/** Shuts the manager down under the test clock (a leaked lease makes the drain wait its full timeout). */
export const finish = Effect.gen(function*() {
  const fiber = yield* Effect.forkChild(Manager.shutdown)
  yield* advance30(10_000, 1000)
  const report = fiber.pollUnsafe()
  const r = report !== undefined && Exit.isSuccess(report)
    ? report.value.resources.find((x) => x.key === "fake")
    : undefined
  return r === undefined ? "shutdown hung" : { drained: r.drained, forced: r.forced }
})

/** "pending", "success", or the first reason's tag and its error's tag, as in "Fail:ResourceClosed". */
export const tagOf = (exit: Exit.Exit<unknown, unknown> | undefined) =>
  exit === undefined
    ? "pending"
    : Exit.isSuccess(exit)
    ? "success"
    : String((exit.cause.reasons[0] as any)?._tag) + ":" + String((exit.cause.reasons[0] as any)?.error?._tag)
