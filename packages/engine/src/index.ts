/**
 * @since 0.1.0
 */

/**
 * Runs an execution's actions with their caller context and classifies their outcomes.
 *
 * @since 0.1.0
 */
export * as ActionRunner from "./ActionRunner.ts"
