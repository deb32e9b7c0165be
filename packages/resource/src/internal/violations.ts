import * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"
import type { Violation } from "../ResourceError.ts"
import { closest } from "./suggestion.ts"

const secretName = /pass(word|phrase)?|secret|token|api[-_]?key|credential|private[-_]?key|auth/i
const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

interface Entry {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
  readonly unknown: boolean
}

/**
 * The violations of a schema error, one per leaf issue, with `prefix` before each path. An unknown
 * field names the known field it is closest to, if any; a union of structs reports only the member
 * the input matches best (the fewest unknown fields, then the fewest issues).
 *
 * @internal
 */
export const fromSchemaError = (error: Schema.SchemaError, input: unknown, prefix = ""): Array<Violation> =>
  entries(error.issue, []).map(({ message, path, unknown }) => {
    const value = valueAt(input, path)
    return {
      path: formatPath(prefix, path),
      constraint: message,
      actual: unknown && typeof value === "string" ? "<redacted>" : renderActual(path, value)
    }
  })

/**
 * The violation of a field the schema does not declare; the field's value is shown only when it is
 * not a string, since an unknown field may be a misspelt secret.
 *
 * @internal
 */
export const unknownField = (
  path: ReadonlyArray<PropertyKey>,
  known: Iterable<string>,
  value: unknown,
  prefix = ""
): Violation => ({
  path: formatPath(prefix, path),
  constraint: unknownFieldMessage(path, known),
  actual: typeof value === "string" ? "<redacted>" : renderActual(path, value)
})

/** @internal */
export const formatPath = (prefix: string, path: ReadonlyArray<PropertyKey>): string =>
  prefix + (path.length === 0 ? "(root)" : path.map(String).join("."))

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

/** @internal */
export const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = input
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

// -----------------------------------------------------------------------------
// issue tree
// -----------------------------------------------------------------------------

const entries = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>): Array<Entry> => {
  switch (issue._tag) {
    case "Pointer":
      return entries(issue.issue, [...path, ...issue.path])
    case "Composite":
      return issue.issues.flatMap((inner) => entries(inner, path))
    case "Encoding":
      return entries(issue.issue, path)
    case "AnyOf":
      if (issue.issues.length === 0) return formatted(issue, path)
      if (issue.issues.length > 1 && issue.issues.every(isStructIssue)) {
        return bestMember(issue.issues.map((member) => entries(member, path)))
      }
      return issue.issues.flatMap((inner) => entries(inner, path))
    case "UnexpectedKey":
      return [{ path, message: unknownFieldMessage(path, knownFields(issue.ast)), unknown: true }]
    default:
      return formatted(issue, path)
  }
}

const formatted = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>): Array<Entry> =>
  formatter(issue).issues.map((inner) => ({
    path: [...path, ...(inner.path ?? []).map((p) => typeof p === "object" && p !== null ? p.key : p)],
    message: inner.message,
    unknown: false
  }))

const isStructIssue = (issue: SchemaIssue.Issue): boolean =>
  issue._tag === "Composite" && SchemaAST.isObjects(issue.ast)

const bestMember = (members: ReadonlyArray<Array<Entry>>): Array<Entry> => {
  const score = (member: ReadonlyArray<Entry>) => member.filter((e) => e.unknown).length * 1_000 + member.length
  return members.reduce((best, member) => score(member) < score(best) ? member : best)
}

const knownFields = (ast: SchemaAST.AST): Array<string> =>
  SchemaAST.isObjects(ast)
    ? ast.propertySignatures.flatMap((ps) => typeof ps.name === "string" ? [ps.name] : [])
    : []

const unknownFieldMessage = (path: ReadonlyArray<PropertyKey>, known: Iterable<string>): string => {
  const name = path[path.length - 1]
  const suggestion = typeof name === "string" ? closest(name, known) : undefined
  return suggestion === undefined ? "Unknown field" : `Unknown field; did you mean \`${suggestion}\`?`
}
