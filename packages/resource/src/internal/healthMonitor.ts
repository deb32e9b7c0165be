import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Health from "../Health.ts"
import { ResourceQuarantined, ResourceUnhealthy } from "../ResourceError.ts"
import { ResourceEvent } from "../ResourceEvent.ts"
import type { HealthAccess } from "./resourcePool.ts"

/** @internal */
export interface Settings<I> {
  readonly check: ((instance: I) => Effect.Effect<Health.Status, unknown>) | undefined
  readonly interval: Duration.Duration
  readonly failureThreshold: number
  readonly recoveryBase: Duration.Duration
  readonly recoveryMax: Duration.Duration
  readonly recoveryAttempts: number
  readonly recoveryJitter: number
  readonly cascadeDepth: number
}

/** @internal */
export interface Transition {
  readonly from: string
  readonly to: string
  readonly at: number
}

/** @internal */
export type QuarantineView = Health.QuarantineView

/** @internal */
export interface View {
  readonly status: Health.Status
  readonly consecutiveFailures: number
  readonly lastTransitionAt: number | undefined
  readonly transitions: ReadonlyArray<Transition>
  readonly degradedBy: ReadonlyArray<Health.DegradationCause>
  readonly quarantine: QuarantineView | undefined
}

/** @internal */
export interface Monitor {
  readonly view: () => View
  /** True while the resource is Unhealthy or quarantined: its dependents are degraded. */
  readonly severe: () => boolean
  readonly cascadeDepth: number
  readonly quarantine: (reason: string, manual: boolean) => Effect.Effect<boolean>
  readonly restore: Effect.Effect<boolean>
  readonly setDependency: (dependency: string, depth: number, degraded: boolean) => Effect.Effect<void>
  /** Stops checking and recovery, and clears the degradations this resource imposed on its dependents. */
  readonly stop: Effect.Effect<void>
}

type Quarantine =
  | { readonly _tag: "Active" }
  | {
    readonly _tag: "Quarantined"
    readonly reason: string
    readonly since: number
    readonly manual: boolean
    attempts: number
    nextProbeAt: number | undefined
    /** `nextProbeAt` on the monotonic clock: what the retry-after hint is computed from. */
    nextProbeDue: number | undefined
  }
  | {
    readonly _tag: "PermanentlyFailed"
    readonly reason: string
    readonly since: number
    readonly attempts: number
    readonly manual: boolean
  }

const maxTransitions = 20

/**
 * Health and quarantine of one resource: a `Schedule`-driven check fiber that probes the idle
 * instances, the acquire gate that follows from the status, quarantine after consecutive failures
 * with a single recovery fiber probing on an exponential, capped, jittered `Schedule`, and the
 * degradations its dependencies impose on it. Every fiber is forked into the resource's scope.
 *
 * @internal
 */
export const make = Effect.fnUntraced(function*<I>(params: {
  readonly key: string
  readonly tenancy: string
  readonly access: HealthAccess<I>
  readonly settings: Settings<I>
  readonly onSeverity: (severe: boolean) => Effect.Effect<void>
}) {
  const { access, key, settings } = params
  const scope = yield* Scope.Scope
  const common = () => ({ key, tenancy: params.tenancy, at: access.now() })
  const publish = (make: (common: { key: string; tenancy: string; at: number }) => ResourceEvent) =>
    access.publish(make(common()))

  let own: Health.Status = Health.unknown
  let consecutive = 0
  let quarantine: Quarantine = { _tag: "Active" }
  let effective: Health.Status = Health.unknown
  let wasSevere = false
  let totalFailure = false
  let recovery: Fiber.Fiber<void> | undefined
  const degradedBy = new Map<string, number>()
  const transitions: Array<Transition> = []

  const severe = () => quarantine._tag !== "Active" || own._tag === "Unhealthy"

  const computeEffective = (): Health.Status => {
    if (own._tag === "Unhealthy" || degradedBy.size === 0) return own
    const byDependency = Health.degraded(`dependency ${Array.from(degradedBy.keys()).join(", ")} unhealthy`, 0.5)
    return own._tag !== "Unknown" && Health.score(own) < Health.score(byDependency) ? own : byDependency
  }

  const gate = (): void => {
    const q = quarantine
    if (q._tag === "Quarantined") {
      access.block(() =>
        new ResourceQuarantined({
          key,
          reason: q.reason,
          retryAfterMs: q.nextProbeDue === undefined
            ? undefined
            : Math.max(Duration.toMillis(settings.recoveryBase), q.nextProbeDue - access.monotonic()),
          permanent: false
        })
      )
    } else if (q._tag === "PermanentlyFailed") {
      access.block(() => new ResourceQuarantined({ key, reason: q.reason, retryAfterMs: undefined, permanent: true }))
    } else if (own._tag === "Unhealthy") {
      const status = own
      access.block(() => new ResourceUnhealthy({ key, reason: status.reason, recoverable: status.recoverable }))
    } else {
      access.block(undefined)
    }
  }

  const logChange = (to: Health.Status) => {
    const message = `resource health ${Health.format(to)}`
    switch (to._tag) {
      case "Unhealthy":
        return access.log(Effect.logError(message))
      case "Degraded":
        return access.log(Effect.logWarning(message))
      default:
        return access.log(Effect.logInfo(message))
    }
  }

  /** Applies the current state: gate, effective status, events, and the cascade when severity changes. */
  const settle: Effect.Effect<void> = Effect.suspend(() => {
    gate()
    const next = computeEffective()
    const effects: Array<Effect.Effect<void>> = []
    if (!Health.equals(next, effective)) {
      const transition = { from: Health.format(effective), to: Health.format(next), at: access.now() }
      transitions.push(transition)
      if (transitions.length > maxTransitions) transitions.shift()
      effective = next
      access.setHealthScore(Health.score(next))
      effects.push(publish((c) => ResourceEvent.HealthChanged({ ...c, from: transition.from, to: transition.to })))
      effects.push(logChange(next))
    }
    const nowSevere = severe()
    if (nowSevere !== wasSevere) {
      wasSevere = nowSevere
      effects.push(params.onSeverity(nowSevere))
    }
    return Effect.all(effects, { discard: true })
  })

  // ---------------------------------------------------------------------------
  // health checks
  // ---------------------------------------------------------------------------

  const aggregate = (statuses: ReadonlyArray<Health.Status>): Health.Status => {
    const failed = statuses.filter((s) => s._tag === "Unhealthy")
    if (failed.length === statuses.length) {
      return failed.find((s) => s._tag === "Unhealthy" && !s.recoverable) ?? failed[0]!
    }
    if (failed.length > 0) {
      return Health.degraded(
        `${failed.length} of ${statuses.length} instances failed their health check`,
        failed.length / statuses.length
      )
    }
    return statuses.reduce((worst, s) => Health.score(s) < Health.score(worst) ? s : worst, Health.healthy)
  }

  const check = settings.check
  const tick = Effect.suspend(() => {
    if (quarantine._tag !== "Active" || check === undefined) return Effect.void
    return Effect.flatMap(
      access.probeIdle(check as (instance: I) => Effect.Effect<Health.Status>),
      ({ instances, statuses }) => {
        if (statuses.length === 0) return Effect.void
        own = aggregate(statuses)
        consecutive = own._tag === "Unhealthy" ? consecutive + 1 : 0
        const effects: Array<Effect.Effect<unknown>> = []
        const allFailed = own._tag === "Unhealthy" && statuses.length >= instances
        if (allFailed && !totalFailure) {
          effects.push(
            publish((c) => ResourceEvent.TotalFailure({ ...c, instances: statuses.length, reason: Health.format(own) }))
          )
          effects.push(access.log(Effect.logError("every instance of the resource failed at once")))
        }
        totalFailure = allFailed
        if (own._tag === "Unhealthy" && !own.recoverable) effects.push(access.evictIdle)
        effects.push(settle)
        if (own._tag === "Unhealthy" && own.recoverable && consecutive >= settings.failureThreshold) {
          effects.push(quarantineWith(`health check failed (${consecutive} consecutive)`, false))
        }
        return Effect.all(effects, { discard: true })
      }
    )
  })

  const checking = check === undefined
    ? undefined
    : yield* Effect.forkIn(Effect.schedule(tick, Schedule.spaced(settings.interval)), scope)

  // ---------------------------------------------------------------------------
  // quarantine and recovery
  // ---------------------------------------------------------------------------

  const delayFor = (attempt: number) =>
    Effect.map(Random.next, (random) => {
      const nominal = Math.min(
        Duration.toMillis(settings.recoveryBase) * 2 ** (attempt - 1),
        Duration.toMillis(settings.recoveryMax)
      )
      return Math.round(nominal * (1 - settings.recoveryJitter * random))
    })

  const probe: (instance: I) => Effect.Effect<Health.Status> = check === undefined
    ? () => Effect.succeed(Health.healthy)
    : (check as (instance: I) => Effect.Effect<Health.Status>)

  let nextDelay = 0

  const attempt = Effect.suspend(() => {
    const q = quarantine
    if (q._tag !== "Quarantined") return Effect.void
    const n = q.attempts + 1
    q.attempts = n
    access.countRecoveryAttempt()
    return Effect.flatMap(access.probeFresh(probe), (status) => {
      const usable = status._tag === "Healthy" || (status._tag === "Degraded" && status.impact < 0.8)
      if (usable) {
        return Effect.andThen(
          publish((c) => ResourceEvent.RecoveryAttempt({ ...c, attempt: n, succeeded: true, nextDelayMs: undefined })),
          recovered(status, n, false)
        )
      }
      const last = n >= settings.recoveryAttempts
      return Effect.flatMap(last ? Effect.succeed(0) : delayFor(n + 1), (delay) => {
        nextDelay = delay
        q.nextProbeAt = last ? undefined : access.now() + delay
        q.nextProbeDue = last ? undefined : access.monotonic() + delay
        return Effect.andThen(
          publish((c) =>
            ResourceEvent.RecoveryAttempt({ ...c, attempt: n, succeeded: false, nextDelayMs: last ? undefined : delay })
          ),
          Effect.fail(status)
        )
      })
    })
  })

  const recoverySchedule = Schedule.recurs(Math.max(0, settings.recoveryAttempts - 1)).pipe(
    Schedule.modifyDelay(() => Effect.sync(() => Duration.millis(nextDelay)))
  )

  const giveUp = Effect.suspend(() => {
    const q = quarantine
    if (q._tag !== "Quarantined") return Effect.void
    quarantine = { _tag: "PermanentlyFailed", reason: q.reason, since: q.since, attempts: q.attempts, manual: q.manual }
    return Effect.andThen(
      publish((c) => ResourceEvent.PermanentlyFailed({ ...c, reason: q.reason, attempts: q.attempts })),
      Effect.andThen(access.log(Effect.logError("resource permanently failed; an operator must restore it")), settle)
    )
  })

  const recover = Effect.gen(function*() {
    const first = yield* delayFor(1)
    const q = quarantine
    if (q._tag === "Quarantined") {
      q.nextProbeAt = access.now() + first
      q.nextProbeDue = access.monotonic() + first
    }
    yield* settle
    yield* Effect.sleep(first)
    yield* Effect.retry(attempt, recoverySchedule).pipe(Effect.catch(() => giveUp))
  })

  const recovered = (status: Health.Status, attempts: number, manual: boolean): Effect.Effect<void> =>
    Effect.suspend(() => {
      quarantine = { _tag: "Active" }
      own = status
      consecutive = 0
      totalFailure = false
      return Effect.andThen(
        publish((c) => ResourceEvent.Recovered({ ...c, attempts, manual })),
        Effect.andThen(access.log(Effect.logInfo("resource recovered from quarantine")), settle)
      )
    })

  const quarantineWith = (reason: string, manual: boolean): Effect.Effect<boolean> =>
    Effect.suspend(() => {
      if (quarantine._tag !== "Active") return Effect.succeed(false)
      quarantine = {
        _tag: "Quarantined",
        reason,
        since: access.now(),
        manual,
        attempts: 0,
        nextProbeAt: undefined,
        nextProbeDue: undefined
      }
      access.countQuarantine()
      return Effect.gen(function*() {
        yield* publish((c) => ResourceEvent.Quarantined({ ...c, reason, manual }))
        yield* access.log(Effect.logWarning("resource quarantined", reason))
        yield* settle
        yield* access.evictIdle
        recovery = yield* Effect.forkIn(
          Effect.ensuring(recover, Effect.sync(() => void (recovery = undefined))),
          scope,
          { startImmediately: true }
        )
        return true
      })
    })

  const restore: Effect.Effect<boolean> = Effect.suspend(() => {
    if (quarantine._tag === "Active") return Effect.succeed(false)
    const attempts = quarantine.attempts
    const running = recovery
    return Effect.andThen(
      running === undefined ? Effect.void : Fiber.interrupt(running),
      Effect.as(recovered(Health.unknown, attempts, true), true)
    )
  })

  const setDependency = (dependency: string, depth: number, degraded: boolean): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (degraded === degradedBy.has(dependency)) return Effect.void
      if (degraded) degradedBy.set(dependency, depth)
      else degradedBy.delete(dependency)
      return Effect.andThen(
        publish((c) =>
          degraded
            ? ResourceEvent.DegradedByDependency({ ...c, dependency, depth })
            : ResourceEvent.DependencyRecovered({ ...c, dependency })
        ),
        settle
      )
    })

  const stop: Effect.Effect<void> = Effect.suspend(() => {
    const fibers: Array<Fiber.Fiber<unknown>> = []
    if (checking !== undefined) fibers.push(checking)
    if (recovery !== undefined) fibers.push(recovery)
    const clear = wasSevere
      ? Effect.andThen(Effect.sync(() => void (wasSevere = false)), params.onSeverity(false))
      : Effect.void
    return Effect.andThen(Effect.forEach(fibers, Fiber.interrupt, { discard: true }), clear)
  })

  yield* Scope.addFinalizer(scope, Effect.sync(() => access.block(undefined)))

  const monitor: Monitor = {
    view: () => ({
      status: effective,
      consecutiveFailures: consecutive,
      lastTransitionAt: transitions.at(-1)?.at,
      transitions: transitions.slice(),
      degradedBy: Array.from(degradedBy, ([dependency, depth]) => ({ dependency, depth })),
      quarantine: quarantine._tag === "Active" ? undefined : {
        reason: quarantine.reason,
        since: quarantine.since,
        attempts: quarantine.attempts,
        nextProbeAt: quarantine._tag === "Quarantined" ? quarantine.nextProbeAt : undefined,
        permanent: quarantine._tag === "PermanentlyFailed",
        manual: quarantine.manual
      }
    }),
    severe,
    cascadeDepth: settings.cascadeDepth,
    quarantine: quarantineWith,
    restore,
    setDependency,
    stop
  }
  return monitor
})
