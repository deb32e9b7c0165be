/**
 * @since 0.1.0
 */

/**
 * OpenTelemetry export of spans and metrics.
 *
 * @since 0.1.0
 */
export * as OpenTelemetry from "./OpenTelemetry.ts"
