import { Effect } from "effect"

/**
 * Lets every runnable fiber run before virtual time moves: `yields` turns of `Effect.yieldNow`.
 * `TestClock.adjust` only waits for the fibers its own sleeps wake, and moving the clock under other
 * work fires its timeouts early.
 */
export const settleFor = (yields: number): Effect.Effect<void> =>
  Effect.forEach(Array.from({ length: yields }), () => Effect.yieldNow, { discard: true })

/** `settleFor(40)`, the number of turns these tests were written against (imported as `settle`). */
export const settle40 = settleFor(40)
