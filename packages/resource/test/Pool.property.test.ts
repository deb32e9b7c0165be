/**
 * Randomized model tests of the resource pool (tarn.js style).
 *
 * Each fast-check run builds a fresh Manager + fake resource under a fresh TestClock, runs a random
 * script of concurrent callers against random faults of the fake, advances virtual time in random
 * steps until every caller is done, and checks the pool's invariants:
 *
 * 1. at every observation point `inUse + idle <= max` and the fake's live instances `<= max`;
 * 2. no instance is held by two callers at once (and none is handed out destroyed);
 * 3. after shutdown every created instance was destroyed exactly once;
 * 4. after interruptions and faults the pool still reaches `max` distinct leases.
 *
 * A second property checks shutdown under load: drain, force, report and `ResourceClosed`.
 *
 * Invariant 4 allows exactly one missing lease per create still hanging in an uninterruptible
 * connect (by design such a create keeps its slot until it settles). A reported failure replays with
 * `POOL_PROPERTY_REPLAY='{"seed":…,"path":"…"}'`.
 * Everything runs on virtual time: no real sleeps.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Random, References } from "effect"
import type * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Manager from "../src/Manager.ts"
import * as Fake from "./utils/fake.ts"
import { settle40 as settle } from "./utils/time.ts"

// -----------------------------------------------------------------------------
// model
// -----------------------------------------------------------------------------

type Via = "acquire" | "use" | "callback"

type Op =
  | { readonly kind: "hold"; readonly via: Via; readonly delay: number; readonly hold: number }
  | { readonly kind: "failBody"; readonly via: Via; readonly delay: number; readonly hold: number }
  | { readonly kind: "interrupt"; readonly via: Via; readonly delay: number; readonly after: number }

interface PoolInput {
  readonly max: number
  readonly min: number
  readonly acquireTimeout: number
  readonly createTimeout: number
  readonly validateTimeout: number
  readonly validateSkipWindow: number
  readonly recycleTimeout: number
  readonly idleTimeout: number
  readonly maxLifetime: number
  readonly lifetimeJitter: number
  readonly selection: "lifo" | "fifo"
  readonly createBackoff: number
  readonly createBackoffMax: number
}

interface Scenario {
  readonly pool: PoolInput
  readonly withValidate: boolean
  readonly withRecycle: boolean
  readonly create: ReadonlyArray<Fake.Outcome>
  readonly validate: ReadonlyArray<Fake.Outcome | boolean>
  readonly recycle: ReadonlyArray<Fake.Outcome>
  readonly callers: ReadonlyArray<ReadonlyArray<Op>>
  readonly steps: ReadonlyArray<number>
  readonly seed: number
}

const MAX_SLOW = 3000
const MAX_OPS = 12

const slowArb = fc.integer({ min: 1, max: MAX_SLOW }).map(Fake.slow)

const createOutcomeArb: fc.Arbitrary<Fake.Outcome> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(Fake.ok) },
  { weight: 2, arbitrary: fc.constant(Fake.fail("injected create failure")) },
  { weight: 3, arbitrary: slowArb },
  { weight: 1, arbitrary: fc.constant(Fake.hang) }
)

const validateOutcomeArb: fc.Arbitrary<Fake.Outcome | boolean> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(true) },
  { weight: 2, arbitrary: fc.constant(false) },
  { weight: 2, arbitrary: fc.constant(Fake.fail("injected validate failure")) },
  { weight: 2, arbitrary: slowArb },
  { weight: 1, arbitrary: fc.constant(Fake.hang) }
)

const recycleOutcomeArb: fc.Arbitrary<Fake.Outcome> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(Fake.ok) },
  { weight: 2, arbitrary: fc.constant(Fake.fail("injected recycle failure")) },
  { weight: 2, arbitrary: slowArb },
  { weight: 1, arbitrary: fc.constant(Fake.hang) }
)

const viaArb: fc.Arbitrary<Via> = fc.constantFrom("acquire", "use", "callback")
const delayArb = fc.integer({ min: 0, max: 1500 })

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("hold" as const),
      via: viaArb,
      delay: delayArb,
      hold: fc.integer({ min: 0, max: 2000 })
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("failBody" as const),
      via: viaArb,
      delay: delayArb,
      hold: fc.integer({ min: 0, max: 1000 })
    })
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("interrupt" as const),
      via: viaArb,
      delay: delayArb,
      after: fc.integer({ min: 0, max: 3000 })
    })
  }
)

const poolArb: fc.Arbitrary<PoolInput> = fc.integer({ min: 1, max: 6 }).chain((max) =>
  fc.record({
    max: fc.constant(max),
    min: fc.integer({ min: 0, max }),
    acquireTimeout: fc.integer({ min: 100, max: 4000 }),
    createTimeout: fc.integer({ min: 50, max: 2000 }),
    validateTimeout: fc.integer({ min: 50, max: 1500 }),
    validateSkipWindow: fc.integer({ min: 0, max: 500 }),
    recycleTimeout: fc.integer({ min: 50, max: 1500 }),
    idleTimeout: fc.integer({ min: 500, max: 10_000 }),
    maxLifetime: fc.integer({ min: 1000, max: 60_000 }),
    lifetimeJitter: fc.integer({ min: 0, max: 50 }).map((n) => n / 100),
    selection: fc.constantFrom("lifo" as const, "fifo" as const),
    createBackoff: fc.integer({ min: 10, max: 200 }),
    createBackoffMax: fc.integer({ min: 200, max: 2000 })
  })
)

/** At most `MAX_OPS` operations over all callers, each caller with at least one. */
const callersArb = fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }).map(
  (callers) => {
    let budget = MAX_OPS
    return callers.flatMap((ops) => {
      const kept = ops.slice(0, budget)
      budget -= kept.length
      return kept.length > 0 ? [kept] : []
    })
  }
)

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  pool: poolArb,
  withValidate: fc.boolean(),
  withRecycle: fc.boolean(),
  create: fc.array(createOutcomeArb, { maxLength: 16 }),
  validate: fc.array(validateOutcomeArb, { maxLength: 16 }),
  recycle: fc.array(recycleOutcomeArb, { maxLength: 16 }),
  callers: callersArb,
  steps: fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 8 }),
  seed: fc.integer({ min: 1, max: 0x7fffffff })
})

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

/** A deterministic `Random` (mulberry32), so lifetime jitter replays with the fast-check seed. */
const seededRandom = (seed: number): Random.Random => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { nextDoubleUnsafe: next, nextIntUnsafe: () => Math.floor(next() * 0x7fffffff) }
}

const acquire = Manager.acquire("fake") as Effect.Effect<Fake.FakeInstance, unknown, Scope.Scope | Manager.Manager>

/**
 * Runs `body` on a lease taken through `acquire`, `use` or `useCallback`. Through `useCallback` the
 * body is the driver's call: it runs in a fiber of its own (with the caller's services), completes
 * through `resume`, and is interrupted when its caller is.
 */
const leaseVia = <E>(
  via: Via,
  body: (instance: Fake.FakeInstance) => Effect.Effect<void, E>
): Effect.Effect<void, unknown, Manager.Manager> => {
  if (via === "acquire") return Effect.scoped(Effect.flatMap(acquire, body))
  if (via === "use") return Manager.use("fake", (instance) => body(instance as Fake.FakeInstance))
  return Effect.withFiber((fiber) => {
    const run = Effect.runForkWith(fiber.context)
    return Manager.useCallback("fake", (instance, resume: (exit: Exit.Exit<void, E>) => void) => {
      const call = run(body(instance as Fake.FakeInstance))
      call.addObserver(resume)
      return Fiber.interrupt(call)
    })
  })
}

const tagOf = (u: unknown): string =>
  typeof u === "object" && u !== null && "_tag" in u ? String((u as { _tag: unknown })._tag) : String(u)

const EXPECTED_ACQUIRE_ERRORS = new Set(["AcquireTimeout", "CreateFailed", "CreateTimeout"])
const BODY_FAILED = "body failed"

const fakeLayer = (
  fake: Fake.Fake,
  pool: Record<string, unknown>,
  options: { readonly withValidate: boolean; readonly withRecycle: boolean }
) => Fake.make(fake, { ...options, pool }).layer({ label: "x" }).pipe(Layer.provideMerge(Manager.layer))

/**
 * Runs `body` with the layer in a detached fiber, then drives the clock while the layer closes:
 * shutdown waits on virtual time (drain, cleanup), and a hang must fail the run, not stall it.
 */
const withLayer = (
  layer: ReturnType<typeof fakeLayer>,
  body: Effect.Effect<void, unknown, Manager.Manager | Scope.Scope>,
  violate: (message: string) => void
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const bodyDone = Deferred.makeUnsafe<void>()
    const fiber = yield* Effect.forkDetach(
      Effect.scoped(Effect.andThen(body, Deferred.succeed(bodyDone, undefined))).pipe(
        Effect.provide(layer),
        Effect.orDie
      ),
      { startImmediately: true }
    )
    yield* Effect.race(Deferred.await(bodyDone), Effect.asVoid(Fiber.await(fiber)))
    for (let i = 0; fiber.pollUnsafe() === undefined; i++) {
      if (i >= 100) return violate("closing the layer did not finish within 100 s of virtual time")
      yield* settle
      yield* TestClock.adjust(1000)
    }
    const exit = fiber.pollUnsafe()!
    if (Exit.isFailure(exit)) violate(`the run failed: ${Cause.pretty(exit.cause)}`)
  })

/** Coverage counters over every run of the main property (including shrinking runs). */
const coverage = {
  runs: 0,
  leasesOk: 0,
  bodyFailed: 0,
  acquireErrors: {} as Record<string, number>,
  interrupted: {} as Record<string, number>,
  callbackLeasesOk: 0,
  callbackInterrupted: {} as Record<string, number>,
  createCalls: 0,
  validateCalls: 0,
  recycleCalls: 0,
  destroyed: 0,
  slotsHeldByHungCreates: 0
}
const bump = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1
}

// -----------------------------------------------------------------------------
// property 1: the randomized model
// -----------------------------------------------------------------------------

const runScenario = (sc: Scenario): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    coverage.runs++
    const max = sc.pool.max
    const fake = new Fake.Fake()
    const violations: Array<string> = []
    const violate = (message: string) => {
      if (violations.length < 20) violations.push(message)
    }
    let faultsOn = true
    fake.create = (n) => faultsOn ? sc.create[n - 1] ?? Fake.ok : Fake.ok
    fake.validate = (n) => faultsOn ? sc.validate[n - 1] ?? true : true
    fake.recycle = (n) => faultsOn ? sc.recycle[n - 1] ?? Fake.ok : Fake.ok

    let manager: Manager.ManagerShape | undefined
    const poolStats = () =>
      manager === undefined ? undefined : Effect.runSync(Effect.orElseSucceed(manager.stats("fake"), () => undefined))

    // invariant 1, checked at every observation point
    const check = (where: string, live = fake.live.size) => {
      if (live > max) violate(`${where}: ${live} live instances > max ${max}`)
      const stats = poolStats()
      if (stats !== undefined && stats.inUse + stats.idle > max) {
        violate(`${where}: inUse ${stats.inUse} + idle ${stats.idle} > max ${max}`)
      }
    }
    // inside every create and destroy of the fake, abandoned (late) creates included
    let lastCreated = fake.created
    fake.onChange = () => {
      const isCreate = fake.created !== lastCreated
      lastCreated = fake.created
      check(`fake ${isCreate ? "create" : "destroy"} (create call ${fake.createCalls})`)
    }

    // invariant 2: instances held by callers right now, by instance id (the backend's connection id),
    // so a backend handing out one connection twice is caught even behind a fresh wrapper object
    const held = new Map<number, string>()
    const holding = (label: string, hold: Effect.Effect<void, string>) => (instance: Fake.FakeInstance) =>
      Effect.suspend(() => {
        const other = held.get(instance.id)
        if (other !== undefined) violate(`${label}: got instance #${instance.id} already held by ${other}`)
        if (instance.destroyed) violate(`${label}: got destroyed instance #${instance.id}`)
        if (!fake.live.has(instance)) violate(`${label}: got instance #${instance.id} that is not live`)
        held.set(instance.id, label)
        check(`${label} acquired`)
        return Effect.ensuring(
          hold,
          Effect.sync(() => {
            if (held.get(instance.id) === label) held.delete(instance.id)
          })
        )
      })

    const lease = leaseVia

    const record = (label: string, exit: Exit.Exit<unknown, unknown>, interruptible: boolean) => {
      if (Exit.isSuccess(exit)) {
        coverage.leasesOk++
        if (label.endsWith("via callback)")) coverage.callbackLeasesOk++
        return
      }
      for (const reason of exit.cause.reasons) {
        if (Cause.isFailReason(reason)) {
          const tag = tagOf(reason.error)
          if (reason.error === BODY_FAILED) coverage.bodyFailed++
          else if (EXPECTED_ACQUIRE_ERRORS.has(tag)) bump(coverage.acquireErrors, tag)
          else violate(`${label}: unexpected failure ${tag}`)
        } else if (Cause.isDieReason(reason)) {
          violate(`${label}: defect ${String(reason.defect)}`)
        } else if (!interruptible) {
          violate(`${label}: unexpected interruption`)
        }
      }
    }

    const runOp = (op: Op, label: string): Effect.Effect<void, never, Manager.Manager> => {
      switch (op.kind) {
        case "hold":
          return Effect.exit(lease(op.via, holding(label, Effect.sleep(op.hold)))).pipe(
            Effect.map((exit) => record(label, exit, false))
          )
        case "failBody":
          return Effect.exit(
            lease(op.via, holding(label, Effect.andThen(Effect.sleep(op.hold), Effect.fail(BODY_FAILED))))
          ).pipe(Effect.map((exit) => record(label, exit, false)))
        case "interrupt":
          return Effect.gen(function*() {
            let phase = "start" as "start" | "acquiring" | "holding" | "done"
            const child = yield* Effect.forkChild(
              Effect.andThen(
                Effect.sync(() => {
                  phase = "acquiring"
                }),
                lease(
                  op.via,
                  holding(
                    label,
                    Effect.andThen(
                      Effect.sync(() => {
                        phase = "holding"
                      }),
                      Effect.never
                    )
                  )
                )
              ).pipe(Effect.ensuring(Effect.sync(() => {
                phase = "done"
              })))
            )
            yield* Effect.sleep(op.after)
            if (child.pollUnsafe() === undefined) {
              const stats = poolStats()
              const where = phase !== "acquiring"
                ? phase
                : fake.validating > 0
                ? "validating"
                : fake.creating > 0
                ? "creating"
                : stats !== undefined && stats.waiters > 0
                ? "waiting"
                : "acquiring"
              bump(coverage.interrupted, where)
              if (op.via === "callback") bump(coverage.callbackInterrupted, where)
            }
            yield* Fiber.interrupt(child)
            record(label, yield* Fiber.await(child), true)
          })
      }
    }

    const driveUntil = (done: () => boolean, label: string) =>
      Effect.gen(function*() {
        for (let i = 0; !done(); i++) {
          if (i >= 400) {
            violate(`${label}: not done after 400 clock steps`)
            return
          }
          // random steps first; then big steps so a slow tail cannot stall the bound
          yield* settle
          if (done()) return
          yield* TestClock.adjust(i < 200 ? sc.steps[i % sc.steps.length] : 5000)
          check(`clock step ${i} (${label})`)
        }
      })

    const layer = fakeLayer(fake, { ...sc.pool }, sc)
    yield* withLayer(
      layer,
      Effect.gen(function*() {
        manager = yield* Manager.Manager
        check("layer built")

        // the random script
        const callers = yield* Effect.forEach(sc.callers, (ops, c) =>
          Effect.forkChild(
            Effect.forEach(
              ops,
              (op, j) =>
                Effect.andThen(Effect.sleep(op.delay), runOp(op, `caller ${c} op ${j} (${op.kind} via ${op.via})`)),
              { discard: true }
            )
          ))
        yield* driveUntil(() => callers.every((fiber) => fiber.pollUnsafe() !== undefined), "callers")
        for (const fiber of callers) {
          const exit = fiber.pollUnsafe()
          if (exit !== undefined && Exit.isFailure(exit)) violate(`caller failed: ${Cause.pretty(exit.cause)}`)
        }
        const after = poolStats()!
        if (held.size !== 0) violate(`${held.size} instances still marked held after all callers finished`)
        if (after.inUse !== 0) violate(`inUse ${after.inUse} after all callers finished`)
        if (after.waiters !== 0) violate(`waiters ${after.waiters} after all callers finished`)

        // invariant 4: with faults off, once the faulty work still in flight is over (slow creates,
        // create timeouts, backoffs), the pool still reaches max distinct leases
        faultsOn = false
        for (let i = 0; i < 10; i++) {
          yield* settle
          yield* TestClock.adjust(1000)
          check("quiescing")
        }
        const outcomes: Array<Exit.Exit<Fake.FakeInstance, unknown>> = []
        const reach = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
          outcomes.push(
            ...yield* Effect.all(Array.from({ length: max }, () => Effect.exit(acquire)), { concurrency: "unbounded" })
          )
          check("max leases held")
          const leases = outcomes.flatMap((exit) => Exit.isSuccess(exit) ? [exit.value] : [])
          const distinct = new Set(leases)
          if (distinct.size !== leases.length || new Set(leases.map((i) => i.id)).size !== leases.length) {
            violate(`reach max: ${distinct.size} distinct of ${leases.length} leases (ids ${leases.map((i) => i.id)})`)
          }
          for (const instance of distinct) {
            if (instance.destroyed || !fake.live.has(instance)) violate(`reach max: got dead instance #${instance.id}`)
            if (held.has(instance.id)) {
              violate(`reach max: got instance #${instance.id} still held by ${held.get(instance.id)}`)
            }
          }
          const stats = poolStats()!
          if (stats.inUse !== leases.length) {
            violate(`reach max: inUse ${stats.inUse} with ${leases.length} leases held`)
          }
        })))
        yield* driveUntil(() => reach.pollUnsafe() !== undefined, "reach max")
        // A create that hangs forever inside an uninterruptible connect keeps its slot (abandoned creates
        // count against max until they settle), so the pool reaches max minus the creates still hanging.
        const hanging = fake.creating
        let shortfall = 0
        for (const exit of outcomes) {
          if (Exit.isSuccess(exit)) continue
          const error = Cause.squash(exit.cause) as { _tag?: string }
          const heldByHungCreate = error?._tag === "AcquireTimeout" || error?._tag === "CreateTimeout"
          if (heldByHungCreate && shortfall < hanging) {
            shortfall++
            coverage.slotsHeldByHungCreates++
          } else {
            violate(`reach max: acquire failed with ${Cause.pretty(exit.cause)} (${hanging} creates hanging)`)
          }
        }

        // shutdown while driving the clock, then let the layer close
        const shutdown = yield* Effect.forkChild(Manager.shutdown, { startImmediately: true })
        yield* driveUntil(() => shutdown.pollUnsafe() !== undefined, "shutdown")
        const report = shutdown.pollUnsafe()
        if (report !== undefined && Exit.isSuccess(report)) {
          const r = report.value.resources[0]
          if (r === undefined || !r.drained || r.outstanding !== 0 || r.forced !== 0 || !r.cleanedUp) {
            violate(`shutdown with no lease out reported ${JSON.stringify(r)}`)
          }
        }
      }),
      violate
    )

    // invariant 3: after the layer closed (and after late creates finished) everything is destroyed once
    const settled = () => {
      if (fake.doubleDestroys.length > 0) violate(`instances destroyed twice: ${fake.doubleDestroys}`)
      if (fake.live.size !== 0) {
        violate(`${fake.live.size} live instances after close: ${[...fake.live].map((i) => i.id)}`)
      }
      if (fake.created !== fake.destroyed) violate(`created ${fake.created} != destroyed ${fake.destroyed}`)
    }
    settled()
    yield* TestClock.adjust(MAX_SLOW * 4)
    yield* TestClock.adjust(MAX_SLOW * 4)
    settled()
    coverage.createCalls += fake.createCalls
    coverage.validateCalls += fake.validateCalls
    coverage.recycleCalls += fake.recycleCalls
    coverage.destroyed += fake.destroyed
    return violations
  }).pipe(
    Effect.provideService(Random.Random, seededRandom(sc.seed)),
    Effect.provideService(References.MinimumLogLevel, "None"),
    Effect.provide(TestClock.layer())
  )

// -----------------------------------------------------------------------------
// property 2: shutdown under load
// -----------------------------------------------------------------------------

interface ShutdownScenario {
  readonly max: number
  readonly min: number
  readonly drainTimeout: number
  readonly warm: number
  /** Leases out at shutdown: `late` ones are held past the drain deadline. */
  readonly holders: ReadonlyArray<{ readonly late: boolean; readonly ms: number; readonly via: Via }>
  readonly waiters: number
  readonly withValidate: boolean
  readonly withRecycle: boolean
  readonly steps: ReadonlyArray<number>
}

const shutdownArb: fc.Arbitrary<ShutdownScenario> = fc.integer({ min: 1, max: 6 }).chain((max) =>
  fc.record({
    max: fc.constant(max),
    min: fc.integer({ min: 0, max }),
    drainTimeout: fc.integer({ min: 2, max: 5000 }),
    warm: fc.integer({ min: 0, max }),
    holders: fc.array(
      fc.record({ late: fc.boolean(), ms: fc.integer({ min: 0, max: 10_000 }), via: viaArb }),
      { maxLength: max }
    ),
    waiters: fc.integer({ min: 0, max: 2 }),
    withValidate: fc.boolean(),
    withRecycle: fc.boolean(),
    steps: fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 6 })
  })
)

/** Release time after shutdown starts: early leases come back strictly before the drain deadline. */
const holdFor = (sc: ShutdownScenario, holder: ShutdownScenario["holders"][number]) =>
  holder.late ? sc.drainTimeout + 1 + holder.ms : 1 + (holder.ms % (sc.drainTimeout - 1))

const shutdownCoverage = { runs: 0, forced: 0, drainedWithLeases: 0, waitersFailed: 0 }

const runShutdown = (sc: ShutdownScenario): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const fake = new Fake.Fake()
    const violations: Array<string> = []
    const violate = (message: string) => {
      if (violations.length < 20) violations.push(message)
    }
    const late = sc.holders.filter((h) => h.late).length
    const layer = fakeLayer(fake, {
      min: sc.min,
      max: sc.max,
      drainTimeout: sc.drainTimeout,
      acquireTimeout: 600_000
    }, sc)

    const driveUntil = (done: () => boolean, label: string) =>
      Effect.gen(function*() {
        for (let i = 0; !done(); i++) {
          if (i >= 300) {
            violate(`${label}: not done after 300 clock steps`)
            return
          }
          yield* settle
          if (done()) return
          yield* TestClock.adjust(i < 150 ? sc.steps[i % sc.steps.length] : 5000)
        }
      })
    const settleUntil = (done: () => boolean) =>
      Effect.gen(function*() {
        for (let i = 0; i < 50 && !done(); i++) yield* settle
      })

    yield* withLayer(
      layer,
      Effect.gen(function*() {
        // idle instances: warm leases taken together, then returned
        if (sc.warm > 0) {
          yield* Effect.scoped(Effect.all(Array.from({ length: sc.warm }, () => acquire), { concurrency: "unbounded" }))
        }

        // leases out at shutdown
        const heldBy: Array<Fake.FakeInstance | undefined> = sc.holders.map(() => undefined)
        const holders = yield* Effect.forEach(sc.holders, (holder, i) => {
          const body = (instance: Fake.FakeInstance) =>
            Effect.andThen(
              Effect.sync(() => {
                if (heldBy.some((other) => other?.id === instance.id)) {
                  violate(`holder ${i}: instance #${instance.id} already held`)
                }
                heldBy[i] = instance
              }),
              Effect.sleep(holdFor(sc, holder))
            )
          return Effect.forkChild(leaseVia(holder.via, body))
        })
        yield* settleUntil(() => heldBy.every((i) => i !== undefined))
        if (!heldBy.every((i) => i !== undefined)) violate(`only ${heldBy.filter((i) => i).length} holders got a lease`)

        // callers queued on a full pool at shutdown
        const waiters = sc.holders.length === sc.max
          ? yield* Effect.forEach(
            Array.from({ length: sc.waiters }),
            () => Effect.forkChild(Effect.exit(Effect.scoped(acquire)))
          )
          : []
        yield* settle
        const queued = (yield* Manager.stats("fake")).waiters
        if (queued !== waiters.length) violate(`expected ${waiters.length} waiters, stats say ${queued}`)

        // shutdown, driving the clock
        const shutdown = yield* Effect.forkChild(Manager.shutdown, { startImmediately: true })
        yield* driveUntil(() => shutdown.pollUnsafe() !== undefined, "shutdown")
        const exit = shutdown.pollUnsafe()
        if (exit === undefined || Exit.isFailure(exit)) return
        const r = exit.value.resources[0]
        shutdownCoverage.runs++
        shutdownCoverage.forced += r?.forced ?? 0
        if (r?.drained === true && sc.holders.length > 0) shutdownCoverage.drainedWithLeases++
        shutdownCoverage.waitersFailed += waiters.length
        const expected = { key: "fake", drained: late === 0, outstanding: late, forced: late, cleanedUp: true }
        if (JSON.stringify(r) !== JSON.stringify(expected)) {
          violate(`report ${JSON.stringify(r)}, expected ${JSON.stringify(expected)}`)
        }
        // early leases came back (and were destroyed on return); late ones were destroyed under their holder
        yield* settle
        sc.holders.forEach((holder, i) => {
          if (!holder.late && holders[i].pollUnsafe() === undefined) violate(`early holder ${i} still running`)
          if (heldBy[i] !== undefined && !heldBy[i]!.destroyed) violate(`holder ${i}: instance not destroyed`)
        })
        for (const waiter of waiters) {
          const w = waiter.pollUnsafe()
          const error = w !== undefined && Exit.isSuccess(w) && Exit.isFailure(w.value)
            ? Cause.squash(w.value.cause)
            : undefined
          if (tagOf(error) !== "ResourceClosed") violate(`waiter ended with ${tagOf(error)}, expected ResourceClosed`)
        }

        // acquire afterwards fails at once (no clock) with ResourceClosed, on both paths
        const after = yield* Effect.forkChild(
          Effect.all([
            Effect.flip(Effect.scoped(acquire)),
            Effect.flip(Manager.use("fake", () => Effect.void))
          ]),
          { startImmediately: true }
        )
        yield* settle
        const afterExit = after.pollUnsafe()
        if (afterExit === undefined) violate("acquire after shutdown did not fail at once")
        else if (Exit.isFailure(afterExit)) {
          violate(`acquire after shutdown succeeded: ${Cause.pretty(afterExit.cause)}`)
        } else if (afterExit.value.some((e) => tagOf(e) !== "ResourceClosed")) {
          violate(`acquire after shutdown failed with ${afterExit.value.map(tagOf)}`)
        }
        yield* Fiber.interrupt(after)

        // late holders give their (forced) leases back: nothing is destroyed twice
        yield* driveUntil(() => holders.every((fiber) => fiber.pollUnsafe() !== undefined), "holders")
      }),
      violate
    )

    if (fake.doubleDestroys.length > 0) violate(`instances destroyed twice: ${fake.doubleDestroys}`)
    if (fake.live.size !== 0) violate(`${fake.live.size} live instances after close`)
    if (fake.created !== fake.destroyed) violate(`created ${fake.created} != destroyed ${fake.destroyed}`)
    return violations
  }).pipe(Effect.provideService(References.MinimumLogLevel, "None"), Effect.provide(TestClock.layer()))

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

const PROPERTY_RUN_TIMEOUT = 10_000

/** Replays a reported failure: `POOL_PROPERTY_REPLAY='{"seed":123,"path":"4:2:0"}'`. */
const replay: { readonly seed?: number; readonly path?: string } = JSON.parse(
  process.env.POOL_PROPERTY_REPLAY ?? "{}"
)

describe("Pool properties", () => {
  it("randomized model: bounded size, exclusive leases, destroy once, reach max after faults", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        const violations = await Effect.runPromise(runScenario(sc))
        assert.deepStrictEqual(violations, [])
      }),
      { numRuns: 1000, timeout: PROPERTY_RUN_TIMEOUT, ...replay }
    )
    console.log("Pool property coverage:", JSON.stringify(coverage))
    if (replay.seed !== undefined) return
    // the runs exercised what they claim to
    assert.isAbove(coverage.leasesOk, 1000)
    assert.isAbove(coverage.bodyFailed, 100)
    for (const phase of ["waiting", "creating", "validating", "holding"]) {
      assert.isAbove(coverage.interrupted[phase] ?? 0, 0, `no interrupt while ${phase}`)
    }
    assert.isAbove(coverage.callbackLeasesOk, 300)
    for (const phase of ["waiting", "holding"]) {
      assert.isAbove(coverage.callbackInterrupted[phase] ?? 0, 0, `no useCallback interrupt while ${phase}`)
    }
    for (const tag of EXPECTED_ACQUIRE_ERRORS) {
      assert.isAbove(coverage.acquireErrors[tag] ?? 0, 0, `never failed with ${tag}`)
    }
  }, 240_000)

  it(
    "shutdown under load: report matches the leases out at the deadline, destroy once, ResourceClosed after",
    async () => {
      await fc.assert(
        fc.asyncProperty(shutdownArb, async (sc) => {
          const violations = await Effect.runPromise(runShutdown(sc))
          assert.deepStrictEqual(violations, [])
        }),
        { numRuns: 300, timeout: PROPERTY_RUN_TIMEOUT, ...replay }
      )
      console.log("Shutdown property coverage:", JSON.stringify(shutdownCoverage))
      if (replay.seed !== undefined) return
      assert.isAbove(shutdownCoverage.forced, 0)
      assert.isAbove(shutdownCoverage.drainedWithLeases, 0)
      assert.isAbove(shutdownCoverage.waitersFailed, 0)
    },
    120_000
  )
})
