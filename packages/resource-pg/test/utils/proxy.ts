/**
 * A fault-injecting TCP proxy for tests: listens on 127.0.0.1 (a free port) and forwards to a
 * target. It can cut every open connection, refuse new ones, delay traffic in both directions, and
 * black-hole new connections (accept them, never forward). A close is forwarded after the same delay
 * as the data, as it would be on a slow network.
 */
import * as net from "node:net"

/** How new connections are handled. */
export type Mode = "forward" | "refuse" | "blackhole"

export interface Proxy {
  readonly port: number
  /** `url` with its host and port replaced by the proxy's. */
  readonly rewrite: (url: string) => string
  /** How new connections are handled; changes apply to connections accepted from then on. */
  mode: Mode
  /** Delay applied to every chunk and close, in both directions. */
  latencyMs: number
  /** Destroys every open connection (client and upstream sides). */
  readonly cut: () => void
  /** Open client-side connections (forwarded or black-holed). */
  readonly open: () => number
  /** Connections accepted so far. */
  readonly accepted: () => number
  readonly close: () => Promise<void>
}

export const start = (target: { readonly host: string; readonly port: number }): Promise<Proxy> =>
  new Promise((resolve, reject) => {
    const clients = new Set<net.Socket>()
    const upstreams = new Set<net.Socket>()
    let accepted = 0
    const later = (f: () => void) => (proxy.latencyMs > 0 ? void setTimeout(f, proxy.latencyMs) : f())
    const track = (sockets: Set<net.Socket>, socket: net.Socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => sockets.delete(socket))
    }
    const server = net.createServer((client) => {
      accepted++
      track(clients, client)
      if (proxy.mode === "refuse") return void client.resetAndDestroy()
      if (proxy.mode === "blackhole") return void client.on("data", () => {})
      const upstream = net.connect(target.port, target.host)
      track(upstreams, upstream)
      client.on("data", (chunk) => later(() => upstream.write(chunk)))
      upstream.on("data", (chunk) => later(() => client.write(chunk)))
      client.on("close", () => later(() => upstream.destroy()))
      upstream.on("close", () => later(() => client.destroy()))
    })
    const proxy: Proxy = {
      port: 0,
      rewrite: (url) => {
        const parsed = new URL(url)
        parsed.hostname = "127.0.0.1"
        parsed.port = String(proxy.port)
        return parsed.toString()
      },
      mode: "forward",
      latencyMs: 0,
      cut: () => {
        for (const socket of [...clients, ...upstreams]) socket.destroy()
      },
      open: () => clients.size,
      accepted: () => accepted,
      close: () =>
        new Promise((done) => {
          proxy.cut()
          server.close(() => done())
        })
    }
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      ;(proxy as { port: number }).port = (server.address() as net.AddressInfo).port
      resolve(proxy)
    })
  })
