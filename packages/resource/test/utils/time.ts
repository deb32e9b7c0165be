import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"

/**
 * Lets every runnable fiber run before virtual time moves: `yields` turns of `Effect.yieldNow`.
 * `TestClock.adjust` waits for the fibers its own sleeps wake, but not for work started elsewhere (a
 * caller forked by the test body), and moving the clock under such work fires its timeouts early.
 */
export const settleFor = (yields: number): Effect.Effect<void> =>
  Effect.forEach(Array.from({ length: yields }), () => Effect.yieldNow, { discard: true })

/**
 * `settleFor` with the number of turns each test file was written against (a file imports one of
 * them as `settle`). They are kept apart so that every test waits exactly as long as it always did.
 */
export const settle20 = settleFor(20)
export const settle30 = settleFor(30)
export const settle40 = settleFor(40)

/**
 * Advances the clock by `millis` in steps of `step`, running `settle` after each step, so that
 * fibers woken on the way run before the next timer fires.
 */
export const advanceSettling = (settle: Effect.Effect<void>) => (millis: number, step = 100): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let t = 0; t < millis; t += step) {
      yield* TestClock.adjust(Math.min(step, millis - t))
      yield* settle
    }
  })

/** `advanceSettling` with `settle30` or `settle40` after each step (a file imports one as `advance`). */
export const advance30 = advanceSettling(settle30)
export const advance40 = advanceSettling(settle40)

/**
 * Runs `body` under a wall clock that can be stepped (as NTP or an operator steps a host's clock)
 * while virtual time itself runs on: the TestClock keeps its sleeps and its monotonic time, and only
 * the wall-clock reading moves by the offset `step` sets.
 */
export const withSteppableWallClock = <A, E, R>(
  body: (step: (millis: number) => Effect.Effect<void>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  TestClock.testClockWith((testClock) => {
    let offset = 0
    const wallMillis = () => testClock.currentTimeMillisUnsafe() + offset
    const wallNanos = () => testClock.currentTimeNanosUnsafe() + BigInt(offset) * BigInt(1_000_000)
    const clock: TestClock.TestClock = {
      ...testClock,
      currentTimeMillisUnsafe: wallMillis,
      currentTimeMillis: Effect.sync(wallMillis),
      currentTimeNanosUnsafe: wallNanos,
      currentTimeNanos: Effect.sync(wallNanos)
    }
    const step = (millis: number) => Effect.sync(() => void (offset += millis))
    return Effect.provideService(body(step), Clock.Clock, clock)
  })
