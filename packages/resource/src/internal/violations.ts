import * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type { Violation } from "../ResourceError.ts"

const secretName = /pass(word|phrase)?|secret|token|api[-_]?key|credential|private[-_]?key|auth/i
const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** @internal */
export const fromSchemaError = (error: Schema.SchemaError, input: unknown, prefix = ""): Array<Violation> =>
  formatter(error.issue).issues.map((issue) => {
    const path = (issue.path ?? []).map((p) => typeof p === "object" && p !== null ? p.key : p) as Array<PropertyKey>
    return {
      path: prefix + (path.length === 0 ? "(root)" : path.map(String).join(".")),
      constraint: issue.message,
      actual: renderActual(path, valueAt(input, path))
    }
  })

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = input
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

/** @internal */
export const renderActual = (path: ReadonlyArray<PropertyKey>, value: unknown): string => {
  if (Redacted.isRedacted(value) || path.some((p) => typeof p === "string" && secretName.test(p))) {
    return "<redacted>"
  }
  if (value === undefined) return "undefined"
  if (typeof value === "string") {
    const safe = value.replace(/\/\/[^/@\s]*@/g, "//<redacted>@")
    return JSON.stringify(safe.length > 80 ? safe.slice(0, 77) + "..." : safe)
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  if (value === null) return "null"
  if (Array.isArray(value)) return `array(${value.length})`
  return typeof value === "object" ? "object" : typeof value
}
