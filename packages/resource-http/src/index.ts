/**
 * @since 0.1.0
 */

/**
 * An HTTP API as a shared (resident) resource on undici.
 *
 * @since 0.1.0
 */
export * as HttpResource from "./HttpResource.ts"
