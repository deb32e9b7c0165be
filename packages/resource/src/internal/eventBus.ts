import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type Filter, matches, type ResourceEvent } from "../ResourceEvent.ts"

/**
 * A bounded, sliding PubSub of lifecycle events. Publishing never blocks (a slow subscriber loses the
 * oldest events) and costs nothing when nobody listens.
 *
 * @internal
 */
export interface EventBus {
  readonly listening: () => boolean
  /** Whether acquires and releases are observed: someone listens, or debug logs are on. */
  readonly observed: () => boolean
  readonly publish: (event: ResourceEvent) => Effect.Effect<void>
  readonly subscribe: (filter: Filter) => Effect.Effect<Stream.Stream<ResourceEvent>, never, Scope.Scope>
}

/** @internal */
export const make = (capacity: number, debugLogs: boolean): Effect.Effect<EventBus> =>
  Effect.map(PubSub.sliding<ResourceEvent>(capacity), (pubsub) => {
    let subscribers = 0
    return {
      listening: () => subscribers > 0,
      observed: () => debugLogs || subscribers > 0,
      publish: (event) => subscribers === 0 ? Effect.void : Effect.asVoid(PubSub.publish(pubsub, event)),
      subscribe: (filter) =>
        Effect.gen(function*() {
          const subscription = yield* PubSub.subscribe(pubsub)
          subscribers++
          yield* Effect.addFinalizer(() => Effect.sync(() => subscribers--))
          const stream = Stream.fromSubscription(subscription)
          return filter.key === undefined && filter.keyPrefix === undefined && filter.tags === undefined
            ? stream
            : Stream.filter(stream, (event) => matches(filter, event))
        })
    }
  })
