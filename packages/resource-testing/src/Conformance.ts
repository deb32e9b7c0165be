/**
 * A conformance suite for driver authors. Given a resource and its layer, it runs the lifecycle
 * the core relies on (create, use, release, reuse, concurrent leases, validation after the skip
 * window, a health snapshot, the typed errors of the failure paths, shutdown) against a fresh
 * `Manager`, and returns a report with one entry per check. `run` fails with `ConformanceFailed`
 * when a check failed; `report` always succeeds.
 *
 * It is an `Effect` with no test framework in it: run it from any test runner, on the real clock
 * (with `@effect/vitest`, `it.live`). Every step is bounded by `stepTimeout`, so a driver that hangs
 * fails the suite instead of stalling it.
 *
 * **Example** (A driver test in a few lines)
 *
 * ```ts
 * import { Conformance } from "@nebula/resource-testing"
 * import { it } from "@effect/vitest"
 *
 * it.live("the pg driver conforms", () =>
 *   Conformance.run({
 *     resource: Pg,
 *     layer: Pg.layer({ url }),
 *     useInstance: (client) => client.query("select 1"),
 *     countConnections: openConnections // e.g. from pg_stat_activity
 *   }))
 * ```
 *
 * @since 0.1.0
 */
import * as Caller from "@nebula/resource/Caller"
import * as Health from "@nebula/resource/Health"
import * as Manager from "@nebula/resource/Manager"
import * as PoolOptions from "@nebula/resource/PoolOptions"
import * as Tenancy from "@nebula/resource/Tenancy"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * One check of the suite. A skipped check passed trivially; `detail` says why it was skipped.
 *
 * @category models
 * @since 0.1.0
 */
export interface Check {
  readonly name: string
  readonly passed: boolean
  readonly skipped: boolean
  readonly detail: string
}

/**
 * The outcome of a conformance run: every check in the order it ran.
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly key: string
  readonly passed: boolean
  readonly checks: ReadonlyArray<Check>
}

/**
 * What the suite needs from a declared resource (any `Resource.make` value fits).
 *
 * @category models
 * @since 0.1.0
 */
export interface Subject<I> {
  readonly key: string
  readonly acquire: Effect.Effect<I, unknown, Scope.Scope | Manager.Manager>
  readonly definition: {
    readonly validate?: unknown
    readonly pool?: PoolOptions.Input | undefined
    readonly health?: Health.Options<any> | undefined
    readonly resident?: unknown
  }
}

/**
 * Options of `run` and `report`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<I, ROut, E, RIn, R2, R3> {
  /** The declared resource. */
  readonly resource: Subject<I>
  /** Its layer, still requiring `Manager.Manager`: the suite provides a fresh Manager. */
  readonly layer: Layer.Layer<ROut, E, RIn>
  /** A real operation on an instance (a query, a ping). Without it the use checks are skipped. */
  readonly useInstance?: ((instance: I) => Effect.Effect<unknown, unknown, R2>) | undefined
  /**
   * The backend's count of open connections (for example from `pg_stat_activity`). It is read before
   * the layer is built and after the shutdown; without it the connection check is skipped.
   */
  readonly countConnections?: Effect.Effect<number, unknown, R3> | undefined
  /**
   * The validation skip window in effect for the layer. Set it when the layer's options override the
   * definition's `validateSkipWindow`.
   *
   * @default the definition's pool option (500 ms when unset)
   */
  readonly validateSkipWindow?: Duration.Input | undefined
  /**
   * The longest the suite waits for the health status to become `Healthy`. A check interval longer
   * than this skips the health check, with a note.
   *
   * @default "10 seconds"
   */
  readonly healthWait?: Duration.Input | undefined
  /**
   * The bound of every step (an acquire, a use, a release, the shutdown, the layer's close).
   *
   * @default "30 seconds"
   */
  readonly stepTimeout?: Duration.Input | undefined
  /**
   * How long the backend may take to drop closed connections after the shutdown.
   *
   * @default "5 seconds"
   */
  readonly settleTimeout?: Duration.Input | undefined
}

/**
 * The names of the checks, in the order they run.
 *
 * @category models
 * @since 0.1.0
 */
export const checkNames = {
  build: "layer builds and registers the resource",
  create: "create: an acquire leases a new instance",
  use: "use: a real operation succeeds on the leased instance",
  release: "release: the instance goes back to the pool, kept",
  reuse: "reuse: the next acquire gets the idle instance, usable",
  concurrent: "concurrent leases get distinct instances",
  validate: "validate: an idle instance past the skip window is validated and kept",
  health: "health: the status becomes Healthy after an interval",
  accessDenied: "typed error: a caller outside the tenancy gets AccessDenied",
  shutdown: "shutdown: drained, nothing forced, cleaned up",
  noInstances: "no instance left after shutdown",
  resourceClosed: "typed error: acquire after shutdown gets ResourceClosed",
  connections: "no connection left after shutdown",
  close: "the layer closes"
} as const

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * At least one check failed.
 *
 * @category errors
 * @since 0.1.0
 */
export class ConformanceFailed extends Data.TaggedError("ConformanceFailed")<{
  readonly key: string
  readonly failed: ReadonlyArray<Check>
  readonly report: Report
}> {
  override get message() {
    return `Resource "${this.key}" failed ${this.failed.length} conformance check(s):\n` +
      this.failed.map((check) => `- ${check.name}: ${check.detail}`).join("\n")
  }
}

// -----------------------------------------------------------------------------
// running
// -----------------------------------------------------------------------------

/**
 * Runs the suite and fails with `ConformanceFailed` when a check failed.
 *
 * @category running
 * @since 0.1.0
 */
export const run = <I, ROut, E, RIn, R2 = never, R3 = never>(
  options: Options<I, ROut, E, RIn, R2, R3>
): Effect.Effect<Report, ConformanceFailed, Exclude<RIn, Manager.Manager> | R2 | R3> =>
  Effect.flatMap(report(options), (result) => {
    if (result.passed) return Effect.succeed(result)
    return Effect.fail(
      new ConformanceFailed({ key: result.key, failed: result.checks.filter((check) => !check.passed), report: result })
    )
  })

/**
 * Runs the suite and returns the report, whatever it says.
 *
 * @category running
 * @since 0.1.0
 */
export const report = <I, ROut, E, RIn, R2 = never, R3 = never>(
  options: Options<I, ROut, E, RIn, R2, R3>
): Effect.Effect<Report, never, Exclude<RIn, Manager.Manager> | R2 | R3> =>
  Effect.gen(function*() {
    const key = options.resource.key
    const stepTimeout = Duration.fromInputUnsafe(options.stepTimeout ?? "30 seconds")
    const checks: Array<Check> = []
    const pass = (name: string, detail: string) => checks.push({ name, passed: true, skipped: false, detail })
    const fail = (name: string, detail: string) => checks.push({ name, passed: false, skipped: false, detail })
    const skip = (name: string, detail: string) => checks.push({ name, passed: true, skipped: true, detail })
    const verdict = (name: string, problems: ReadonlyArray<string>, detail: string) =>
      problems.length === 0 ? pass(name, detail) : fail(name, problems.join("; "))
    const finish = (): Report => ({ key, passed: checks.every((check) => check.passed), checks })
    const bounded = <A, E2, R>(effect: Effect.Effect<A, E2, R>) => boundedBy(stepTimeout, effect)

    const baseline = options.countConnections === undefined
      ? undefined
      : yield* bounded(options.countConnections)

    const layerScope = yield* Scope.make()
    const built = yield* bounded(
      Layer.buildWithScope(
        Layer.provideMerge(options.layer, Manager.layer) as Layer.Layer<
          ROut | Manager.Manager,
          E,
          Exclude<RIn, Manager.Manager>
        >,
        layerScope
      )
    )
    if (!built.ok) {
      fail(checkNames.build, built.detail)
      yield* bounded(Scope.close(layerScope, Exit.void))
      return finish()
    }
    const flow = lifecycle(options, key, bounded, { pass, fail, skip, verdict })
    yield* Effect.provideContext(flow, built.value as Context.Context<Manager.Manager>)

    if (options.countConnections === undefined || baseline === undefined) {
      skip(checkNames.connections, "no countConnections given")
    } else if (!baseline.ok) {
      fail(checkNames.connections, `counting connections before the run failed: ${baseline.detail}`)
    } else {
      const settle = Duration.toMillis(Duration.fromInputUnsafe(options.settleTimeout ?? "5 seconds"))
      const count = options.countConnections
      const start = yield* Clock.currentTimeMillis
      let last = yield* bounded(count)
      while (last.ok && last.value > baseline.value && (yield* Clock.currentTimeMillis) - start < settle) {
        yield* Effect.sleep(50)
        last = yield* bounded(count)
      }
      if (!last.ok) fail(checkNames.connections, `counting connections failed: ${last.detail}`)
      else if (last.value > baseline.value) {
        fail(
          checkNames.connections,
          `${last.value - baseline.value} connection(s) still open ${settle} ms after shutdown ` +
            `(${baseline.value} before the run, ${last.value} after): is the cleanup registered with acquireRelease?`
        )
      } else pass(checkNames.connections, `${last.value} open after shutdown, ${baseline.value} before the run`)
    }

    const closed = yield* bounded(Scope.close(layerScope, Exit.void))
    if (closed.ok) pass(checkNames.close, "the layer's scope closed")
    else fail(checkNames.close, closed.detail)
    return finish()
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

type Attempt<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly detail: string }

interface Recorder {
  readonly pass: (name: string, detail: string) => void
  readonly fail: (name: string, detail: string) => void
  readonly skip: (name: string, detail: string) => void
  readonly verdict: (name: string, problems: ReadonlyArray<string>, detail: string) => void
}

type Bounded = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Attempt<A>, never, R>

/**
 * Runs `effect` in a detached fiber and waits for it at most `timeout`. A step stuck in an
 * uninterruptible region (a hanging cleanup) is abandoned, not awaited.
 */
const boundedBy = <A, E, R>(timeout: Duration.Duration, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkDetach(effect, { startImmediately: true })
    const exit = yield* Effect.timeoutOption(Fiber.await(fiber), timeout)
    if (exit._tag === "None") {
      fiber.interruptUnsafe()
      return { ok: false, detail: `did not finish within ${Duration.format(timeout)}` } as Attempt<A>
    }
    return Exit.isSuccess(exit.value)
      ? { ok: true, value: exit.value.value } as Attempt<A>
      : { ok: false, detail: describeCause(exit.value.cause) } as Attempt<A>
  })

const describeError = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const tag = "_tag" in error ? String(error._tag) : undefined
    const message = "message" in error ? String(error.message) : String(error)
    return tag === undefined || message.startsWith(tag) ? message : `${tag}: ${message}`
  }
  return String(error)
}

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const reason = cause.reasons[0]
  if (reason === undefined) return "failed with an empty cause"
  if (Cause.isFailReason(reason)) return describeError(reason.error)
  if (Cause.isDieReason(reason)) return `defect: ${describeError(reason.defect)}`
  return "interrupted"
}

const failureTag = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const reason = exit.cause.reasons[0]
  if (reason !== undefined && Cause.isFailReason(reason)) {
    const error = reason.error
    return typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : describeError(error)
  }
  return describeCause(exit.cause)
}

/** A tracer that records the names of the spans it starts. */
const recordingTracer = (names: Array<string>): Tracer.Tracer =>
  Tracer.make({
    span: (options) => {
      names.push(options.name)
      return new Tracer.NativeSpan(options)
    }
  })

const lifecycle = <I, ROut, E, RIn, R2, R3>(
  options: Options<I, ROut, E, RIn, R2, R3>,
  key: string,
  bounded: Bounded,
  { fail, pass, skip, verdict }: Recorder
): Effect.Effect<void, never, Manager.Manager | R2> =>
  Effect.gen(function*() {
    const definition = options.resource.definition
    const stats = Effect.orDie(Manager.stats(key))
    const info = (yield* Manager.list).find((entry) => entry.key === key)
    if (info === undefined) {
      fail(checkNames.build, `no resource "${key}" is registered once the layer is built`)
      return yield* shutdownChecks(key, bounded, Effect.void, (effect) => effect, { fail, pass, skip, verdict })
    }
    pass(checkNames.build, `registered with tenancy ${Tenancy.format(info.tenancy)}`)
    const tenancy = info.tenancy
    const asCaller = <A, E2, R>(effect: Effect.Effect<A, E2, R>) =>
      Effect.provideService(effect, Caller.Caller, Caller.fromTenancy(tenancy))
    const acquire = asCaller(options.resource.acquire)
    const useInstance = options.useInstance
    const seen = new Set<I>()

    const acquireIn = (scope: Scope.Scope) => bounded(Scope.provide(acquire, scope))
    const useOn = (instance: I) =>
      useInstance === undefined ? Effect.succeed({ ok: true, value: undefined } as Attempt<unknown>) : bounded(
        asCaller(useInstance(instance))
      )
    const closeLease = (scope: Scope.Closeable) => bounded(Scope.close(scope, Exit.void))

    // create
    const before = yield* stats
    const lease = yield* Scope.make()
    const first = yield* acquireIn(lease)
    const afterCreate = yield* stats
    if (!first.ok) {
      fail(checkNames.create, `acquire failed: ${first.detail}`)
      yield* closeLease(lease)
      for (const name of [checkNames.use, checkNames.release, checkNames.reuse, checkNames.concurrent]) {
        skip(name, "skipped: the first acquire failed")
      }
      skip(checkNames.validate, "skipped: the first acquire failed")
    } else {
      const instance = first.value
      seen.add(instance)
      verdict(checkNames.create, [
        ...(afterCreate.inUse === 1 ? [] : [`stats.inUse is ${afterCreate.inUse} with one lease out`]),
        ...(afterCreate.created >= 1 ? [] : ["stats.created is 0 after a lease"])
      ], `leased an instance; ${afterCreate.created} created (${before.created} before the acquire)`)

      // use
      if (useInstance === undefined) skip(checkNames.use, "no useInstance given")
      else {
        const used = yield* useOn(instance)
        if (used.ok) pass(checkNames.use, "useInstance succeeded")
        else fail(checkNames.use, `useInstance failed: ${used.detail}`)
      }

      // release
      const released = yield* closeLease(lease)
      const afterRelease = yield* stats
      verdict(checkNames.release, [
        ...(released.ok ? [] : [`closing the lease's scope failed: ${released.detail}`]),
        ...(afterRelease.inUse === 0 ? [] : [`stats.inUse is ${afterRelease.inUse} after the release`]),
        ...(afterRelease.destroyed === afterCreate.destroyed ?
          [] :
          [`the returned instance was destroyed (recycle failed or timed out?)`]),
        ...(afterRelease.idle >= 1 ? [] : [`stats.idle is ${afterRelease.idle} after the release`])
      ], `inUse ${afterRelease.inUse}, idle ${afterRelease.idle}`)

      // reuse
      const again = yield* Scope.make()
      const second = yield* acquireIn(again)
      const afterReuse = yield* stats
      if (!second.ok) fail(checkNames.reuse, `acquire failed: ${second.detail}`)
      else {
        const used = yield* useOn(second.value)
        const same = second.value === instance
        seen.add(second.value)
        const kept = afterRelease.destroyed === afterCreate.destroyed
        verdict(checkNames.reuse, [
          ...(kept ? [] : ["the released instance was destroyed, so it could not be reused"]),
          ...(afterReuse.created === afterRelease.created ?
            [] :
            ["a new instance was created although an idle one was available"]),
          ...(used.ok ? [] : [`useInstance failed on the reused instance: ${used.detail}`])
        ], same ? "the same instance came back" : "another idle instance came back (fifo selection?)")
      }
      yield* closeLease(again)

      // concurrent leases
      const max = afterReuse.max
      const resident = definition.resident !== undefined && definition.resident !== false
      if (max < 2 && !resident) skip(checkNames.concurrent, `max is ${max}`)
      else {
        const pair = yield* Scope.make()
        const both = yield* bounded(
          Scope.provide(Effect.all([acquire, acquire], { concurrency: "unbounded" }), pair)
        )
        if (!both.ok) fail(checkNames.concurrent, `acquiring two at once failed: ${both.detail}`)
        else {
          const [a, b] = both.value
          seen.add(a)
          seen.add(b)
          const used = yield* Effect.all([useOn(a), useOn(b)], { concurrency: "unbounded" })
          verdict(
            checkNames.concurrent,
            [
              ...(resident
                ? a === b ? [] : ["a resident resource gave two leases different instances"]
                : a === b
                ? ["both leases got the same instance"]
                : []),
              ...used.flatMap((u) => u.ok ? [] : [`useInstance failed: ${u.detail}`])
            ],
            resident
              ? "two leases held at once shared the resident instance, usable"
              : "two leases held at once got distinct, usable instances"
          )
        }
        const closed = yield* closeLease(pair)
        const afterPair = yield* stats
        if (both.ok && (!closed.ok || afterPair.inUse !== 0)) {
          fail(checkNames.concurrent, `after releasing both, inUse is ${afterPair.inUse}`)
        }
      }

      // validate
      if (definition.validate === undefined) skip(checkNames.validate, "the definition has no validate")
      else if (definition.resident !== undefined && definition.resident !== false) {
        skip(checkNames.validate, "a resident resource does not validate per lease")
      } else {
        const window = options.validateSkipWindow === undefined
          ? yield* Effect.map(
            Effect.orElseSucceed(PoolOptions.decode(key, definition.pool ?? {}), () => undefined),
            (decoded) => decoded === undefined ? 500 : Duration.toMillis(decoded.validateSkipWindow)
          )
          : Duration.toMillis(Duration.fromInputUnsafe(options.validateSkipWindow))
        yield* Effect.sleep(window + 50)
        const createdBefore = (yield* stats).created
        const spans: Array<string> = []
        const scope = yield* Scope.make()
        const validated = yield* bounded(
          Scope.provide(acquire, scope).pipe(
            Effect.withSpan("conformance.validate"),
            Effect.withTracer(recordingTracer(spans))
          )
        )
        const createdAfter = (yield* stats).created
        if (!validated.ok) fail(checkNames.validate, `acquire failed: ${validated.detail}`)
        else {
          const used = yield* useOn(validated.value)
          verdict(checkNames.validate, [
            ...(spans.includes("resource.acquire.validate") ? [] : ["validate did not run on the borrow"]),
            ...(createdAfter === createdBefore && seen.has(validated.value) ?
              [] :
              ["validate rejected a healthy idle instance (a new one was created)"]),
            ...(used.ok ? [] : [`useInstance failed on the validated instance: ${used.detail}`])
          ], `validated after ${window + 50} ms idle and kept`)
        }
        yield* closeLease(scope)
      }
    }

    // health
    const health = definition.health
    if (health?.check === undefined) skip(checkNames.health, "the definition has no health check")
    else {
      const settings = yield* Effect.exit(Health.decodeSettings(key, health))
      const wait = Duration.toMillis(Duration.fromInputUnsafe(options.healthWait ?? "10 seconds"))
      if (Exit.isFailure(settings)) fail(checkNames.health, `invalid health settings: ${describeCause(settings.cause)}`)
      else if (Duration.toMillis(settings.value.interval) > wait) {
        skip(
          checkNames.health,
          `skipped: the check interval ${Duration.format(settings.value.interval)} is longer than healthWait ` +
            `${wait} ms (set a shorter interval in the definition for the test, or a larger healthWait)`
        )
      } else {
        const start = yield* Clock.currentTimeMillis
        const interval = Duration.toMillis(settings.value.interval)
        const poll = Math.max(10, Math.min(100, interval / 4))
        let view = yield* snapshotOf(key)
        while (view?.health.status !== "Healthy" && (yield* Clock.currentTimeMillis) - start < wait) {
          yield* Effect.sleep(poll)
          view = yield* snapshotOf(key)
        }
        const status = view?.health.status ?? "not registered"
        if (status === "Healthy") {
          pass(checkNames.health, `Healthy after ${(yield* Clock.currentTimeMillis) - start} ms`)
        } else {
          fail(
            checkNames.health,
            `status is ${status}${
              view?.health.reason === undefined ? "" : ` (${view.health.reason})`
            } after ${wait} ms (interval ${interval} ms)`
          )
        }
      }
    }

    // access denied
    if (tenancy._tag === "Global") skip(checkNames.accessDenied, "the resource is Global: every caller is admitted")
    else {
      const outsider = Caller.fromTenancy(Tenancy.global)
      const createdBefore = (yield* stats).created
      const viaAcquire = yield* bounded(
        Effect.exit(Effect.scoped(Effect.provideService(options.resource.acquire, Caller.Caller, outsider)))
      )
      const viaUse = yield* bounded(
        Effect.exit(Effect.provideService(Manager.use(key, () => Effect.void), Caller.Caller, outsider))
      )
      const createdAfter = (yield* stats).created
      const tags = [viaAcquire, viaUse].map((attempt) => attempt.ok ? failureTag(attempt.value) : attempt.detail)
      verdict(checkNames.accessDenied, [
        ...tags.flatMap((tag, i) => tag === "AccessDenied" ? [] : [`${i === 0 ? "acquire" : "use"} ended with ${tag}`]),
        ...(createdAfter === createdBefore ? [] : ["a denied acquire created an instance"])
      ], `a Global caller was denied ${Tenancy.format(tenancy)} on acquire and use`)
    }

    yield* shutdownChecks(key, bounded, acquire, asCaller, { fail, pass, skip, verdict })
  })

const snapshotOf = (key: string) => Effect.map(Manager.snapshot, (all) => all.find((s) => s.key === key))

const shutdownChecks = (
  key: string,
  bounded: Bounded,
  acquire: Effect.Effect<unknown, unknown, Scope.Scope | Manager.Manager>,
  asCaller: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
  { fail, verdict }: Recorder
): Effect.Effect<void, never, Manager.Manager> =>
  Effect.gen(function*() {
    const shutdown = yield* bounded(Manager.shutdown)
    if (!shutdown.ok) fail(checkNames.shutdown, `Manager.shutdown failed: ${shutdown.detail}`)
    else {
      const entry = shutdown.value.resources.find((r) => r.key === key)
      if (entry === undefined) fail(checkNames.shutdown, "the shutdown report has no entry for the resource")
      else {
        verdict(checkNames.shutdown, [
          ...(entry.drained ? [] : ["not drained"]),
          ...(entry.outstanding === 0 ? [] : [`${entry.outstanding} lease(s) outstanding`]),
          ...(entry.forced === 0 ? [] : [`${entry.forced} lease(s) forced`]),
          ...(entry.cleanedUp ? [] : ["cleanup did not finish within the cleanup timeout"])
        ], "drained, nothing forced, cleaned up")
      }
    }
    const after = yield* Effect.exit(Manager.stats(key))
    if (Exit.isFailure(after)) fail(checkNames.noInstances, `stats failed: ${describeCause(after.cause)}`)
    else {
      const s = after.value
      verdict(checkNames.noInstances, [
        ...(s.size === 0 && s.inUse === 0 && s.idle === 0 ? [] : [`size ${s.size}, inUse ${s.inUse}, idle ${s.idle}`]),
        ...(s.created === s.destroyed ? [] : [`created ${s.created}, destroyed ${s.destroyed}`])
      ], `created ${s.created}, destroyed ${s.destroyed}`)
    }
    const viaAcquire = yield* bounded(Effect.exit(Effect.scoped(acquire)))
    const viaUse = yield* bounded(Effect.exit(asCaller(Manager.use(key, () => Effect.void))))
    const tags = [viaAcquire, viaUse].map((attempt) => attempt.ok ? failureTag(attempt.value) : attempt.detail)
    verdict(
      checkNames.resourceClosed,
      tags.flatMap((tag, i) => tag === "ResourceClosed" ? [] : [`${i === 0 ? "acquire" : "use"} ended with ${tag}`]),
      "acquire and use failed with ResourceClosed"
    )
  })
