/**
 * @since 0.1.0
 */

/**
 * A driver conformance suite: runs the lifecycle of a resource layer and reports what held.
 *
 * @since 0.1.0
 */
export * as Conformance from "./Conformance.ts"

/**
 * A fault-injecting in-memory resource with exact lifecycle counters.
 *
 * @since 0.1.0
 */
export * as FaultyResource from "./FaultyResource.ts"

/**
 * Gates a test file on a real backend server: skipped loudly when unreachable, failing under
 * `REQUIRE_SERVICES`.
 *
 * @since 0.1.0
 */
export * as Backend from "./Backend.ts"
