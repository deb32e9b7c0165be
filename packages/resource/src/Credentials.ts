/**
 * The credential provider: resolves a credential id to a `Redacted` secret each time an instance is
 * created (never at registration), so rotated secrets reach new instances. A missing credential is a
 * typed `MissingCredential` that names the credential and the resource, never a value.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import { MissingCredential } from "./ResourceError.ts"

/**
 * Looks up a credential for a resource; `undefined` when there is none.
 *
 * @category models
 * @since 0.1.0
 */
export interface CredentialProvider {
  readonly get: (credentialId: string, resourceKey: string) => Effect.Effect<Redacted.Redacted<string> | undefined>
}

/**
 * The current provider; defaults to one that holds no credentials.
 *
 * @category services
 * @since 0.1.0
 */
export const Credentials: Context.Reference<CredentialProvider> = Context.Reference<CredentialProvider>(
  "@nebula/resource/Credentials",
  { defaultValue: () => empty }
)

/**
 * A provider with no credentials.
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty: CredentialProvider = { get: () => Effect.undefined }

/**
 * A provider over a fixed record of id → secret.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromRecord = (
  record: Readonly<Record<string, string | Redacted.Redacted<string>>>
): CredentialProvider => ({
  get: (id) =>
    Effect.sync(() => {
      const value = Object.prototype.hasOwnProperty.call(record, id) ? record[id] : undefined
      return value === undefined ? undefined : Redacted.isRedacted(value) ? value : Redacted.make(value, { label: id })
    })
})

/**
 * A provider whose secrets can be changed at run time (rotation): instances created after `set` see
 * the new value.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeRotating = (initial: Readonly<Record<string, string>>) =>
  Effect.map(Ref.make<Readonly<Record<string, string>>>(initial), (ref) => ({
    provider: {
      get: (id: string) =>
        Effect.map(
          Ref.get(ref),
          (record) =>
            Object.prototype.hasOwnProperty.call(record, id) ? Redacted.make(record[id]!, { label: id }) : undefined
        )
    } satisfies CredentialProvider,
    set: (id: string, value: string) => Ref.update(ref, (record) => ({ ...record, [id]: value }))
  }))

/**
 * A layer that installs a provider.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (provider: CredentialProvider): Layer.Layer<never> => Layer.succeed(Credentials, provider)

/**
 * Resolves a credential for a resource, failing with `MissingCredential` when absent.
 *
 * @category accessors
 * @since 0.1.0
 */
export const resolve = (
  credentialId: string,
  resourceKey: string
): Effect.Effect<Redacted.Redacted<string>, MissingCredential> =>
  Effect.flatMap(
    Credentials,
    (provider) =>
      Effect.flatMap(provider.get(credentialId, resourceKey), (value) =>
        value === undefined
          ? Effect.fail(new MissingCredential({ credentialId, key: resourceKey }))
          : Effect.succeed(value))
  )
