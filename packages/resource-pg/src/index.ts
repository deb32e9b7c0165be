/**
 * @since 0.1.0
 */

/**
 * The error of the PostgreSQL driver, with its connection-level classification.
 *
 * @since 0.1.0
 */
export * as PgError from "./PgError.ts"

/**
 * A PostgreSQL resource on node-postgres, and its Effect-native query API.
 *
 * @since 0.1.0
 */
export * as PgResource from "./PgResource.ts"

/**
 * Effect's own SQL client (`effect/sql`) backed by a managed PostgreSQL resource.
 *
 * @since 0.1.0
 */
export * as PgSqlClient from "./PgSqlClient.ts"
