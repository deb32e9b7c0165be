/**
 * Exports the framework's spans and metrics to an OpenTelemetry SDK through
 * `@effect/opentelemetry`. Spans (`resource.register`, `resource.acquire` with its `wait` and
 * `validate` children, `resource.release`, `resource.create`, `resource.shutdown`) go to the given span
 * processors; the Effect metrics of `@nebula/resource/Metrics` go to the given metric readers.
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type { MetricReader } from "@opentelemetry/sdk-metrics"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import type * as Layer from "effect/Layer"

/**
 * Where telemetry goes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The `service.name` resource attribute. @default "nebula-resource" */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  readonly spanProcessors?: ReadonlyArray<SpanProcessor> | undefined
  readonly metricReaders?: ReadonlyArray<MetricReader> | undefined
}

/**
 * A layer that installs an OpenTelemetry tracer and metric exporter for everything run under it.
 *
 * **Example** (Exporting to an in-memory span exporter)
 *
 * ```ts
 * const exporter = new InMemorySpanExporter()
 * const Telemetry = OpenTelemetry.layer({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<never> =>
  NodeSdk.layer(() => ({
    resource: {
      serviceName: options.serviceName ?? "nebula-resource",
      ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
    },
    spanProcessor: options.spanProcessors ?? [],
    metricReader: options.metricReaders ?? [],
    metricTemporality: "cumulative"
  })) as unknown as Layer.Layer<never>
