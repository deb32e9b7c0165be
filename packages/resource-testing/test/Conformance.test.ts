import { assert, describe, it } from "@effect/vitest"
import * as Resource from "@nebula/resource/Resource"
import * as Tenancy from "@nebula/resource/Tenancy"
import { Effect, Schema } from "effect"
import * as Conformance from "../src/Conformance.ts"
import * as FaultyResource from "../src/FaultyResource.ts"

const names = Conformance.checkNames

const failedNames = (error: Conformance.ConformanceFailed) => error.failed.map((check) => check.name)

/** A backend that counts open connections, for drivers written by hand below. */
const backend = () => {
  const open = new Set<{ readonly id: number }>()
  let next = 0
  return {
    open,
    connect: () => {
      const connection = { id: ++next }
      open.add(connection)
      return connection
    },
    count: Effect.sync(() => open.size)
  }
}

describe("Conformance", () => {
  it.live("a FaultyResource with validate, recycle, health and a tenancy passes every check", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({
        key: "conformance-full",
        pool: { min: 0, max: 2 },
        tenancy: Tenancy.tenant("acme"),
        validate: true,
        recycle: true,
        health: { interval: "100 millis" }
      })
      const report = yield* Conformance.run({
        resource: faulty.resource,
        layer: faulty.layer(),
        useInstance: FaultyResource.use,
        countConnections: Effect.sync(() => faulty.state.live)
      })
      assert.isTrue(report.passed)
      assert.deepStrictEqual(report.checks.filter((check) => check.skipped).map((check) => check.name), [])
      assert.deepStrictEqual(report.checks.map((check) => check.name), Object.values(names))
      assert.deepStrictEqual(faulty.state.violations(2), [])
      assert.strictEqual(faulty.state.live, 0)
      assert.strictEqual(faulty.state.created, faulty.state.destroyed)
      assert.isAtLeast(faulty.state.calls.validate, 1)
      assert.isAtLeast(faulty.state.calls.recycle, 4)
      assert.isAtLeast(faulty.state.calls.health, 1)
    }))

  it.live("a minimal Global resource passes, and the checks that do not apply are skipped with a note", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "conformance-minimal", pool: { min: 1, max: 1 } })
      const report = yield* Conformance.run({ resource: faulty.resource, layer: faulty.layer() })
      assert.isTrue(report.passed)
      const skipped = report.checks.filter((check) => check.skipped)
      assert.deepStrictEqual(skipped.map((check) => check.name), [
        names.use,
        names.concurrent,
        names.validate,
        names.health,
        names.accessDenied,
        names.connections
      ])
      assert.match(skipped.find((check) => check.name === names.accessDenied)!.detail, /Global/)
      assert.strictEqual(faulty.state.live, 0)
    }))

  it.live("a health interval longer than healthWait is skipped with a recorded note", () =>
    Effect.gen(function*() {
      const faulty = FaultyResource.make({ key: "conformance-slow-health", health: { interval: "30 seconds" } })
      const report = yield* Conformance.run({
        resource: faulty.resource,
        layer: faulty.layer(),
        healthWait: "1 second"
      })
      const health = report.checks.find((check) => check.name === names.health)!
      assert.isTrue(health.skipped)
      assert.match(health.detail, /interval 30s is longer than healthWait 1000 ms/)
    }))

  describe("broken drivers fail", () => {
    it.live("a create that returns the same object twice", () =>
      Effect.gen(function*() {
        const shared = { id: 1 }
        const Broken = Resource.make({
          key: "broken-same-object",
          config: Schema.Struct({}),
          create: () => Effect.succeed(shared),
          pool: { min: 0, max: 2 }
        })
        const error = yield* Effect.flip(Conformance.run({ resource: Broken, layer: Broken.layer({}) }))
        assert.strictEqual(error._tag, "ConformanceFailed")
        assert.include(failedNames(error), names.concurrent)
        const concurrent = error.failed.find((check) => check.name === names.concurrent)!
        assert.match(concurrent.detail, /already pooled/)
        assert.match(error.message, /failed \d+ conformance check/)
      }))

    it.live("a create whose cleanup never runs (no acquireRelease)", () =>
      Effect.gen(function*() {
        const db = backend()
        const Broken = Resource.make({
          key: "broken-no-cleanup",
          config: Schema.Struct({}),
          create: () => Effect.sync(db.connect),
          pool: { min: 0, max: 2 }
        })
        const error = yield* Effect.flip(
          Conformance.run({ resource: Broken, layer: Broken.layer({}), countConnections: db.count, settleTimeout: 200 })
        )
        assert.deepStrictEqual(failedNames(error), [names.connections])
        assert.match(error.failed[0].detail, /2 connection\(s\) still open/)
      }))

    it.live("a recycle that rejects every healthy instance, and a validate that does too", () =>
      Effect.gen(function*() {
        const faulty = FaultyResource.make({
          key: "broken-recycle-validate",
          pool: { min: 0, max: 2 },
          recycle: () => FaultyResource.fail(),
          validate: () => FaultyResource.invalid
        })
        const error = yield* Effect.flip(Conformance.run({ resource: faulty.resource, layer: faulty.layer() }))
        assert.includeMembers(failedNames(error), [names.release, names.reuse, names.validate])
        assert.match(error.failed.find((check) => check.name === names.release)!.detail, /destroyed/)
      }))

    it.live("an operation that hangs is cut by the step timeout", () =>
      Effect.gen(function*() {
        const faulty = FaultyResource.make({ key: "broken-hanging-use", pool: { min: 0, max: 2 } })
        const error = yield* Effect.flip(
          Conformance.run({
            resource: faulty.resource,
            layer: faulty.layer(),
            useInstance: () => Effect.never,
            stepTimeout: "200 millis"
          })
        )
        assert.includeMembers(failedNames(error), [names.use, names.reuse, names.concurrent])
        assert.match(error.failed[0].detail, /did not finish within 200ms/)
      }))

    // The core's shutdown retires idle instances inline in its "stop" phase, outside the cleanup timeout, so
    // a hanging cleanup blocks Manager.shutdown itself (see test/CoreHangingCleanup.test.ts.skip-me); the
    // suite bounds the step and reports it.
    it.live("a cleanup that hangs fails the shutdown check, and the suite still finishes", () =>
      Effect.gen(function*() {
        const faulty = FaultyResource.make({ key: "broken-hanging-cleanup", cleanup: () => FaultyResource.hang })
        const error = yield* Effect.flip(
          Conformance.run({
            resource: faulty.resource,
            layer: faulty.layer({ pool: { cleanupTimeout: "100 millis" } }),
            stepTimeout: "1 second"
          })
        )
        assert.includeMembers(failedNames(error), [names.shutdown])
        assert.notInclude(failedNames(error), names.close)
        assert.match(
          error.failed.find((check) => check.name === names.shutdown)!.detail,
          /cleanup did not finish|did not finish within 1s/
        )
        assert.isAtLeast(faulty.state.inProgress.cleanup, 1)
        assert.deepStrictEqual(faulty.state.doubleDestroys, [])
        faulty.state.releaseHangs()
      }))

    it.live("a resource whose layer does not build", () =>
      Effect.gen(function*() {
        const faulty = FaultyResource.make({ key: "broken-config", pool: { min: 3, max: 2 } })
        const error = yield* Effect.flip(Conformance.run({ resource: faulty.resource, layer: faulty.layer() }))
        assert.deepStrictEqual(failedNames(error), [names.build])
        assert.match(error.failed[0].detail, /InvalidConfig/)
      }))
  })
})
