/**
 * Gates a test file on a real backend server (PostgreSQL, Redis, ...): a TCP probe of the server's
 * address before the suites are declared. An unreachable server skips the file's suites with a loud
 * warning, unless `REQUIRE_SERVICES` is set (as CI does), in which case loading the file fails.
 *
 * ```ts
 * const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
 * const reachable = await Backend.gate({ name: "PostgreSQL", url: PG_URL, env: "PG_URL", defaultPort: 5432 })
 * describe.runIf(reachable)("my driver", () => { ... })
 * ```
 *
 * `eventually` polls a server-side count (connections in `pg_stat_activity`, `CLIENT LIST`) until it
 * settles, since a server drops a closed connection asynchronously.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as net from "node:net"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The server's name in messages, such as `"PostgreSQL"`. */
  readonly name: string
  /** The server's URL; a password in it never reaches a message. */
  readonly url: string
  /** The environment variable that overrides the URL, named in the warning. */
  readonly env: string
  /** The port when the URL has none. */
  readonly defaultPort: number
  /** How long the TCP connect may take. @default 2000 */
  readonly timeoutMs?: number | undefined
}

/**
 * The URL with any password replaced by `<redacted>`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const redactUrl = (url: string): string => url.replace(/(\/\/[^:/@]*:)[^@/]*@/, "$1<redacted>@")

/**
 * Probes the server; resolves to whether it accepts TCP connections. When it does not, warns (or,
 * with `REQUIRE_SERVICES` set, rejects with an error naming the server and the reason).
 *
 * @category gating
 * @since 0.1.0
 */
export const gate = (options: Options): Promise<boolean> => {
  const parsed = new URL(options.url)
  const host = parsed.hostname === "" || parsed.hostname === "localhost" ? "127.0.0.1" : parsed.hostname
  const port = Number(parsed.port || options.defaultPort)
  return new Promise<string | undefined>((resolve) => {
    const socket = net.connect(port, host)
    const done = (reason: string | undefined) => {
      socket.destroy()
      resolve(reason)
    }
    socket.setTimeout(options.timeoutMs ?? 2000, () => done("connect timed out"))
    socket.once("connect", () => done(undefined))
    socket.once("error", (error: Error & { code?: string }) => done(error.code ?? error.message))
  }).then((reason) => {
    if (reason === undefined) return true
    const message = `${options.name} at ${redactUrl(options.url)} is unreachable (${reason})`
    if (process.env.REQUIRE_SERVICES) throw new Error(`${message} and REQUIRE_SERVICES is set`)
    // oxlint-disable-next-line no-console
    console.warn(
      `\n⚠⚠⚠ SKIPPING tests that need ${options.name}: ${message}.\n` +
        `    Start it or set ${options.env}; set REQUIRE_SERVICES=1 to make this a failure.\n`
    )
    return false
  })
}

/**
 * Runs `effect` every 25 ms until `predicate` holds or `timeoutMs` passes (on the `Clock`), and
 * returns the last value, for the caller to assert on.
 *
 * @category polling
 * @since 0.1.0
 */
export const eventually = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  predicate: (a: A) => boolean,
  timeoutMs = 3000
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + timeoutMs
    let value = yield* effect
    while (!predicate(value) && (yield* Clock.currentTimeMillis) < deadline) {
      yield* Effect.sleep(25)
      value = yield* effect
    }
    return value
  })
