/**
 * A small in-process TCP proxy for failure tests: listens on 127.0.0.1 (a free port) and forwards
 * to a target, with modes to cut every connection, refuse new ones, add latency or black-hole
 * traffic (connections are accepted but nothing is forwarded or answered).
 */
import * as Effect from "effect/Effect"
import * as net from "node:net"

export type Mode = "forward" | "refuse" | "blackhole"

export interface Proxy {
  readonly port: number
  /** How many client-side connections are open. */
  readonly connections: () => number
  /** How many client-side connections were accepted in all. */
  readonly accepted: () => number
  readonly setMode: (mode: Mode) => void
  /** Delay added to every chunk, in each direction. */
  readonly setLatency: (millis: number) => void
  /** Destroys every open connection (both sides). */
  readonly cutAll: () => void
}

interface Pair {
  readonly client: net.Socket
  upstream: net.Socket | undefined
}

const start = (target: { readonly host: string; readonly port: number }) =>
  new Promise<{ readonly proxy: Proxy; readonly close: () => Promise<void> }>((resolve, reject) => {
    let mode: Mode = "forward"
    let latency = 0
    let accepted = 0
    const pairs = new Set<Pair>()

    const forward = (from: net.Socket, to: () => net.Socket | undefined) => {
      let due = 0
      from.on("data", (chunk) => {
        if (mode === "blackhole") return
        const write = () => {
          const socket = to()
          if (socket !== undefined && !socket.destroyed) socket.write(chunk)
        }
        if (latency === 0 && due <= Date.now()) return write()
        due = Math.max(Date.now() + latency, due)
        setTimeout(write, due - Date.now())
      })
    }

    const server = net.createServer((client) => {
      accepted++
      if (mode === "refuse") {
        client.resetAndDestroy()
        return
      }
      const pair: Pair = { client, upstream: undefined }
      pairs.add(pair)
      const teardown = () => {
        pairs.delete(pair)
        client.destroy()
        pair.upstream?.destroy()
      }
      client.on("error", teardown).on("close", teardown)
      if (mode === "blackhole") {
        client.resume()
        return
      }
      const upstream = net.connect(target)
      pair.upstream = upstream
      upstream.setNoDelay(true)
      client.setNoDelay(true)
      upstream.on("error", teardown).on("close", teardown)
      forward(client, () => pair.upstream)
      forward(upstream, () => pair.client)
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      const cutAll = () => {
        for (const pair of Array.from(pairs)) {
          pairs.delete(pair)
          pair.client.resetAndDestroy()
          pair.upstream?.destroy()
        }
      }
      resolve({
        proxy: {
          port,
          connections: () => pairs.size,
          accepted: () => accepted,
          setMode: (next) => {
            mode = next
          },
          setLatency: (millis) => {
            latency = millis
          },
          cutAll
        },
        close: () =>
          new Promise<void>((done) => {
            cutAll()
            server.close(() => done())
          })
      })
    })
  })

/** Starts a proxy for the current scope; closing the scope cuts every connection and stops it. */
export const make = (target: { readonly host: string; readonly port: number }) =>
  Effect.map(
    Effect.acquireRelease(Effect.promise(() => start(target)), (started) => Effect.promise(started.close)),
    (started) => started.proxy
  )
