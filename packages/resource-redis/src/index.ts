/**
 * @since 0.1.0
 */

/**
 * The Redis driver: pooled node-redis connections and an Effect-native command API.
 *
 * @since 0.1.0
 */
export * as RedisResource from "./RedisResource.ts"
