import { assert, describe, it } from "@effect/vitest"
import { Manager, Resource } from "@nebula/resource"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Schema } from "effect"
import * as OpenTelemetry from "../src/OpenTelemetry.ts"

const Kv = Resource.make({
  key: "otel-kv",
  config: Schema.Struct({ name: Schema.String }),
  pool: { min: 0, max: 2 },
  create: (config) => Effect.sync(() => ({ name: config.name, map: new Map<string, string>() }))
})

describe("OpenTelemetry", () => {
  it.live("exports register, acquire, release and shutdown spans with parents and attributes", () => {
    const exporter = new InMemorySpanExporter()
    const telemetry = OpenTelemetry.layer({
      serviceName: "otel-test",
      spanProcessors: [new SimpleSpanProcessor(exporter)]
    })
    return Effect.gen(function*() {
      const spans = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Kv.layer({ name: "a" }).pipe(Layer.provideMerge(Manager.layer)))
        yield* Effect.scoped(Manager.acquire("otel-kv")).pipe(
          Effect.withSpan("action", { attributes: { "workflow.id": "w1" } }),
          Effect.provideContext(context)
        )
        yield* Manager.shutdown.pipe(Effect.provideContext(context))
        return exporter.getFinishedSpans()
      }))
      const byName = (name: string) => spans.find((s) => s.name === name)
      const action = byName("action")!
      const acquire = byName("resource.acquire")!
      const register = byName("resource.register")!
      assert.isDefined(action)
      assert.isDefined(acquire)
      assert.strictEqual(acquire.parentSpanContext?.spanId, action.spanContext().spanId)
      assert.strictEqual(acquire.attributes["resource.id"], "otel-kv")
      assert.strictEqual(acquire.attributes["resource.scope"], "global")
      assert.strictEqual(acquire.attributes["pool.size"], 0)
      assert.strictEqual(acquire.attributes["pool.available"], 0)
      const wait = spans.find((s) => s.name === "resource.acquire.wait")!
      assert.strictEqual(wait.parentSpanContext?.spanId, acquire.spanContext().spanId)
      assert.isDefined(byName("resource.release"))
      assert.strictEqual(register.attributes["resource.id"], "otel-kv")
      assert.isDefined(byName("resource.create"))
      assert.isTrue(spans.some((s) => s.name === "resource.shutdown" && s.attributes["resource.id"] === "otel-kv"))
      assert.strictEqual(action.resource.attributes["service.name"], "otel-test")
    }).pipe(Effect.provide(telemetry))
  })

  it.live("exports the resource metrics to an OpenTelemetry metric reader", () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
    const telemetry = OpenTelemetry.layer({ metricReaders: [reader] })
    return Effect.gen(function*() {
      const collected = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Kv.layer({ name: "m" }).pipe(Layer.provideMerge(Manager.layer)))
        for (let i = 0; i < 3; i++) {
          yield* Effect.scoped(Manager.acquire("otel-kv")).pipe(Effect.provideContext(context))
        }
        return yield* Effect.promise(() => reader.collect())
      }))
      const metrics = collected.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
      const find = (name: string) => metrics.find((m) => m.descriptor.name === name)
      const acquires = find("resource.acquire.total")
      assert.isDefined(acquires, metrics.map((m) => m.descriptor.name).join(","))
      const point = acquires!.dataPoints.find((p) => p.attributes["resource_id"] === "otel-kv")
      assert.strictEqual(point?.value, 3)
      const size = find("resource.pool.size")!.dataPoints.find((p) => p.attributes["resource_id"] === "otel-kv")
      assert.strictEqual(size?.value, 1)
      assert.isDefined(find("resource.acquire.duration_seconds"))
    }).pipe(Effect.provide(telemetry))
  })
})
