/**
 * Tenancy containment (REQUIREMENTS §3.4, US4, FR-011/FR-012, SC-006) and the Caller reference.
 *
 * Expected results are written out by hand from the spec; nothing here computes an expectation with
 * `Tenancy.contains` itself.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "fast-check"
import * as Caller from "../src/Caller.ts"
import { InvalidTenancy } from "../src/ResourceError.ts"
import * as Tenancy from "../src/Tenancy.ts"

const { action, contains, custom, execution, format, global, level, tenant, validate, workflow } = Tenancy
type Tenancy = Tenancy.Tenancy

const allow = (parent: Tenancy, child: Tenancy) =>
  assert.isTrue(contains(parent, child), `expected ${show(parent)} to contain ${show(child)}`)
const deny = (parent: Tenancy, child: Tenancy) =>
  assert.isFalse(contains(parent, child), `expected ${show(parent)} NOT to contain ${show(child)}`)

const show = (t: Tenancy): string => JSON.stringify(t)

/** Field-by-field copy, so that no assertion can pass on reference equality. */
const copy = (t: Tenancy): Tenancy => ({ ...t }) as Tenancy

/** Reads the optional parent ids of any tenancy (undefined where the kind has no such field). */
const ids = (t: Tenancy) => t as Partial<Record<"tenantId" | "workflowId" | "executionId", string>>

/** Structural equality that treats an absent field and an `undefined` one alike. */
const sameTenancy = (a: Tenancy, b: Tenancy): boolean => {
  const ra = a as unknown as Record<string, unknown>
  const rb = b as unknown as Record<string, unknown>
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)])
  for (const k of keys) if (ra[k] !== rb[k]) return false
  return true
}

// -----------------------------------------------------------------------------
// §3.4 rules, one named test each
// -----------------------------------------------------------------------------

describe("Tenancy.contains — §3.4 rules", () => {
  it("Global contains everything, including Custom and Global itself", () => {
    allow(global, global)
    allow(global, tenant("t1"))
    allow(global, workflow("w1"))
    allow(global, workflow("w1", "t1"))
    allow(global, execution("e1"))
    allow(global, execution("e1", { workflowId: "w1", tenantId: "t1" }))
    allow(global, action("a1"))
    allow(global, action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" }))
    allow(global, custom("region", "eu"))
  })

  it("Tenant(t) contains Tenant(t) and denies Tenant(other)", () => {
    allow(tenant("t1"), tenant("t1"))
    deny(tenant("t1"), tenant("t2"))
  })

  it("Tenant(t) contains a Workflow, Execution or Action whose tenantId is present and equal", () => {
    allow(tenant("t1"), workflow("w1", "t1"))
    allow(tenant("t1"), execution("e1", { tenantId: "t1" }))
    allow(tenant("t1"), execution("e1", { workflowId: "w1", tenantId: "t1" }))
    allow(tenant("t1"), action("a1", { tenantId: "t1" }))
    allow(tenant("t1"), action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" }))
  })

  it("Tenant(t) denies a child that lacks the tenantId (deny by default)", () => {
    deny(tenant("t1"), workflow("w1"))
    deny(tenant("t1"), execution("e1"))
    deny(tenant("t1"), execution("e1", { workflowId: "w1" }))
    deny(tenant("t1"), action("a1"))
    deny(tenant("t1"), action("a1", { executionId: "e1", workflowId: "w1" }))
  })

  it("Tenant(t) denies a child carrying another tenantId", () => {
    deny(tenant("t1"), workflow("w1", "t2"))
    deny(tenant("t1"), execution("e1", { workflowId: "w1", tenantId: "t2" }))
    deny(tenant("t1"), action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t2" }))
  })

  it("Tenant never contains Custom or Global", () => {
    deny(tenant("t1"), custom("tenant", "t1"))
    deny(tenant("t1"), custom("t1", "t1"))
    deny(tenant("t1"), global)
  })

  it("Workflow contains another Workflow only if all fields are equal, tenant included", () => {
    allow(workflow("w1"), workflow("w1"))
    allow(workflow("w1", "t1"), workflow("w1", "t1"))
    deny(workflow("w1"), workflow("w2"))
    deny(workflow("w1", "t1"), workflow("w2", "t1"))
    deny(workflow("w1", "t1"), workflow("w1", "t2"))
    // "all fields equal" is stricter than "consistent": neither side may add or drop the tenant
    deny(workflow("w1", "t1"), workflow("w1"))
    deny(workflow("w1"), workflow("w1", "t1"))
  })

  it("Workflow contains an Execution/Action with equal workflowId and a consistent tenant", () => {
    // both present and equal
    allow(workflow("w1", "t1"), execution("e1", { workflowId: "w1", tenantId: "t1" }))
    allow(workflow("w1", "t1"), action("a1", { workflowId: "w1", tenantId: "t1" }))
    allow(workflow("w1", "t1"), action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" }))
    // parent lacks the tenant: no constraint
    allow(workflow("w1"), execution("e1", { workflowId: "w1" }))
    allow(workflow("w1"), execution("e1", { workflowId: "w1", tenantId: "t9" }))
    allow(workflow("w1"), action("a1", { workflowId: "w1" }))
    allow(workflow("w1"), action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t9" }))
  })

  it("Workflow denies an Execution/Action whose workflowId is absent or different", () => {
    deny(workflow("w1"), execution("e1"))
    deny(workflow("w1"), execution("e1", { tenantId: "t1" }))
    deny(workflow("w1", "t1"), execution("e1", { tenantId: "t1" }))
    deny(workflow("w1"), execution("e1", { workflowId: "w2" }))
    deny(workflow("w1"), action("a1"))
    deny(workflow("w1"), action("a1", { executionId: "e1" }))
    deny(workflow("w1"), action("a1", { workflowId: "w2" }))
  })

  it("Workflow denies an Execution/Action with an inconsistent tenant (other, or parent has it and child lacks it)", () => {
    deny(workflow("w1", "t1"), execution("e1", { workflowId: "w1", tenantId: "t2" }))
    deny(workflow("w1", "t1"), execution("e1", { workflowId: "w1" }))
    deny(workflow("w1", "t1"), action("a1", { workflowId: "w1", tenantId: "t2" }))
    deny(workflow("w1", "t1"), action("a1", { executionId: "e1", workflowId: "w1" }))
  })

  it("Workflow never contains Global, Tenant or Custom", () => {
    deny(workflow("w1", "t1"), global)
    deny(workflow("w1", "t1"), tenant("t1"))
    deny(workflow("w1"), custom("workflow", "w1"))
  })

  it("Execution contains another Execution only if all fields are equal", () => {
    allow(execution("e1"), execution("e1"))
    allow(execution("e1", { workflowId: "w1" }), execution("e1", { workflowId: "w1" }))
    allow(
      execution("e1", { workflowId: "w1", tenantId: "t1" }),
      execution("e1", { workflowId: "w1", tenantId: "t1" })
    )
    deny(execution("e1"), execution("e2"))
    deny(execution("e1", { workflowId: "w1" }), execution("e1", { workflowId: "w2" }))
    deny(execution("e1", { tenantId: "t1" }), execution("e1", { tenantId: "t2" }))
    // dropping or adding a parent id breaks equality in either direction
    deny(execution("e1", { workflowId: "w1" }), execution("e1"))
    deny(execution("e1"), execution("e1", { workflowId: "w1" }))
    deny(execution("e1", { tenantId: "t1" }), execution("e1"))
    deny(execution("e1"), execution("e1", { tenantId: "t1" }))
  })

  it("Execution contains an Action with equal executionId and consistent workflow and tenant", () => {
    allow(execution("e1"), action("a1", { executionId: "e1" }))
    allow(execution("e1"), action("a1", { executionId: "e1", workflowId: "w9", tenantId: "t9" }))
    allow(execution("e1", { workflowId: "w1" }), action("a1", { executionId: "e1", workflowId: "w1" }))
    allow(
      execution("e1", { workflowId: "w1" }),
      action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t9" })
    )
    allow(execution("e1", { tenantId: "t1" }), action("a1", { executionId: "e1", tenantId: "t1" }))
    allow(
      execution("e1", { workflowId: "w1", tenantId: "t1" }),
      action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })
    )
  })

  it("Execution denies an Action whose executionId is absent or different", () => {
    deny(execution("e1"), action("a1"))
    deny(execution("e1"), action("a1", { workflowId: "w1", tenantId: "t1" }))
    deny(execution("e1"), action("a1", { executionId: "e2" }))
  })

  it("Execution denies an Action with an inconsistent workflow or tenant", () => {
    const parent = execution("e1", { workflowId: "w1", tenantId: "t1" })
    deny(parent, action("a1", { executionId: "e1", workflowId: "w2", tenantId: "t1" }))
    deny(parent, action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t2" }))
    // parent has it and child lacks it → deny
    deny(parent, action("a1", { executionId: "e1", tenantId: "t1" }))
    deny(parent, action("a1", { executionId: "e1", workflowId: "w1" }))
    deny(execution("e1", { workflowId: "w1" }), action("a1", { executionId: "e1" }))
    deny(execution("e1", { tenantId: "t1" }), action("a1", { executionId: "e1" }))
  })

  it("Execution never contains Global, Tenant, Workflow or Custom", () => {
    const parent = execution("e1", { workflowId: "w1", tenantId: "t1" })
    deny(parent, global)
    deny(parent, tenant("t1"))
    deny(parent, workflow("w1", "t1"))
    deny(parent, custom("execution", "e1"))
  })

  it("Action contains only an identical Action", () => {
    allow(action("a1"), action("a1"))
    const full = action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })
    allow(full, action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" }))
    deny(full, action("a2", { executionId: "e1", workflowId: "w1", tenantId: "t1" }))
    deny(full, action("a1", { executionId: "e2", workflowId: "w1", tenantId: "t1" }))
    deny(full, action("a1", { executionId: "e1", workflowId: "w2", tenantId: "t1" }))
    deny(full, action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t2" }))
    deny(full, action("a1", { executionId: "e1", workflowId: "w1" }))
    deny(full, action("a1"))
    deny(action("a1"), full)
    deny(full, global)
    deny(full, tenant("t1"))
    deny(full, workflow("w1", "t1"))
    deny(full, execution("e1", { workflowId: "w1", tenantId: "t1" }))
    deny(full, custom("action", "a1"))
  })

  it("Custom contains only a Custom with the same key and value", () => {
    allow(custom("region", "eu"), custom("region", "eu"))
    deny(custom("region", "eu"), custom("region", "us"))
    deny(custom("region", "eu"), custom("zone", "eu"))
    deny(custom("region", "eu"), custom("eu", "region"))
    deny(custom("region", "eu"), global)
    deny(custom("tenant", "t1"), tenant("t1"))
    deny(custom("workflow", "w1"), workflow("w1"))
    deny(custom("execution", "e1"), execution("e1"))
    deny(custom("action", "a1"), action("a1"))
  })

  it("a narrower tenancy never contains a broader one", () => {
    const t = tenant("t1")
    const w = workflow("w1", "t1")
    const e = execution("e1", { workflowId: "w1", tenantId: "t1" })
    const a = action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })
    const chain = [global, t, w, e, a]
    // sanity: the chain really is nested, broad → narrow
    for (let i = 0; i < chain.length; i++) {
      for (let j = i; j < chain.length; j++) allow(chain[i]!, chain[j]!)
    }
    for (let i = 0; i < chain.length; i++) {
      for (let j = 0; j < i; j++) deny(chain[i]!, chain[j]!)
    }
  })

  it("absent optional fields and explicitly undefined ones are the same tenancy", () => {
    const literal: Tenancy = { _tag: "Workflow", workflowId: "w1" }
    allow(literal, workflow("w1"))
    allow(workflow("w1"), literal)
    const exec: Tenancy = { _tag: "Execution", executionId: "e1" }
    allow(exec, execution("e1"))
    allow(execution("e1"), exec)
    allow(exec, { _tag: "Action", actionId: "a1", executionId: "e1" })
  })
})

describe("US4 — multi-tenant isolation", () => {
  it("US4.1: a Tenant A resource is not reachable by any Tenant B caller", () => {
    const resource = tenant("tenant-a")
    deny(resource, tenant("tenant-b"))
    deny(resource, workflow("w", "tenant-b"))
    deny(resource, execution("e", { workflowId: "w", tenantId: "tenant-b" }))
    deny(resource, action("a", { executionId: "e", workflowId: "w", tenantId: "tenant-b" }))
    // the same callers in tenant A are allowed, so the denial above is about the tenant alone
    allow(resource, action("a", { executionId: "e", workflowId: "w", tenantId: "tenant-a" }))
  })

  it("US4.2: an action reaches resources at every level of its own branch and nothing else", () => {
    const caller = action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })
    const reachable = [
      global,
      tenant("t1"),
      workflow("w1", "t1"),
      workflow("w1"),
      execution("e1", { workflowId: "w1", tenantId: "t1" }),
      execution("e1", { workflowId: "w1" }),
      execution("e1", { tenantId: "t1" }),
      execution("e1"),
      action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })
    ]
    const unreachable = [
      tenant("t2"),
      workflow("w2", "t1"),
      workflow("w1", "t2"),
      workflow("w2"),
      execution("e2", { workflowId: "w1", tenantId: "t1" }),
      execution("e1", { workflowId: "w2", tenantId: "t1" }),
      execution("e1", { workflowId: "w1", tenantId: "t2" }),
      action("a2", { executionId: "e1", workflowId: "w1", tenantId: "t1" }),
      action("a1"),
      custom("tenant", "t1")
    ]
    for (const resource of reachable) allow(resource, caller)
    for (const resource of unreachable) deny(resource, caller)
  })

  it("an engine caller without a tenant cannot reach Tenant-scoped resources (§7.5)", () => {
    deny(tenant("t1"), execution("e1", { workflowId: "w1" }))
    deny(tenant("t1"), action("a1", { executionId: "e1", workflowId: "w1" }))
  })
})

// -----------------------------------------------------------------------------
// exhaustive matrices
// -----------------------------------------------------------------------------

/**
 * Checks the full table: every row label is a parent, every column a child. `1` allow, `.` deny.
 */
const checkMatrix = (
  variants: ReadonlyArray<readonly [string, Tenancy]>,
  table: ReadonlyArray<string>
) => {
  assert.strictEqual(table.length, variants.length, "one row per variant")
  const failures: Array<string> = []
  let cells = 0
  variants.forEach(([parentName, parent], i) => {
    const [rowName, cellsText] = table[i]!.trim().split(/\s*\|\s*/) as [string, string]
    assert.strictEqual(rowName, parentName, `row ${i} label`)
    const row = cellsText.split(/\s+/)
    assert.strictEqual(row.length, variants.length, `row ${parentName} width`)
    variants.forEach(([childName, child], j) => {
      cells++
      const expected = row[j] === "1"
      assert.include(["1", "."], row[j], `cell ${parentName}×${childName}`)
      if (contains(parent, child) !== expected) {
        failures.push(`${parentName} ⊇ ${childName}: expected ${expected ? "allow" : "deny"}`)
      }
    })
  })
  assert.strictEqual(cells, variants.length * variants.length)
  assert.deepStrictEqual(failures, [])
}

describe("Tenancy.contains — exhaustive matrices", () => {
  it("every pair of variants × same/different ids → allow/deny", () => {
    // "1" = the same-ids family (t1/w1/e1/a1/k=v1), "2" = a family where every id differs
    const variants: ReadonlyArray<readonly [string, Tenancy]> = [
      ["G", global],
      ["T1", tenant("t1")],
      ["T2", tenant("t2")],
      ["W1", workflow("w1", "t1")],
      ["W2", workflow("w2", "t2")],
      ["E1", execution("e1", { workflowId: "w1", tenantId: "t1" })],
      ["E2", execution("e2", { workflowId: "w2", tenantId: "t2" })],
      ["A1", action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })],
      ["A2", action("a2", { executionId: "e2", workflowId: "w2", tenantId: "t2" })],
      ["C1", custom("k", "v1")],
      ["C2", custom("k", "v2")]
    ]
    // dprint-ignore
    checkMatrix(variants, [
      //     G  T1 T2 W1 W2 E1 E2 A1 A2 C1 C2
      "G  | 1  1  1  1  1  1  1  1  1  1  1",
      "T1 | .  1  .  1  .  1  .  1  .  .  .",
      "T2 | .  .  1  .  1  .  1  .  1  .  .",
      "W1 | .  .  .  1  .  1  .  1  .  .  .",
      "W2 | .  .  .  .  1  .  1  .  1  .  .",
      "E1 | .  .  .  .  .  1  .  1  .  .  .",
      "E2 | .  .  .  .  .  .  1  .  1  .  .",
      "A1 | .  .  .  .  .  .  .  1  .  .  .",
      "A2 | .  .  .  .  .  .  .  .  1  .  .",
      "C1 | .  .  .  .  .  .  .  .  .  1  .",
      "C2 | .  .  .  .  .  .  .  .  .  .  1"
    ])
  })

  it("every pair of variants × present/absent parent ids → allow/deny (deny by default)", () => {
    // suffix: f = every parent id present, b = bare (no parent ids), w = workflow only,
    //         e = execution only, x = own id equal but tenant t2 instead of t1
    const variants: ReadonlyArray<readonly [string, Tenancy]> = [
      ["T", tenant("t1")],
      ["Wf", workflow("w1", "t1")],
      ["Wb", workflow("w1")],
      ["Wx", workflow("w1", "t2")],
      ["Ef", execution("e1", { workflowId: "w1", tenantId: "t1" })],
      ["Eb", execution("e1")],
      ["Ew", execution("e1", { workflowId: "w1" })],
      ["Ex", execution("e1", { workflowId: "w1", tenantId: "t2" })],
      ["Af", action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })],
      ["Ab", action("a1")],
      ["Ae", action("a1", { executionId: "e1" })],
      ["Aw", action("a1", { executionId: "e1", workflowId: "w1" })],
      ["Ax", action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t2" })]
    ]
    // dprint-ignore
    checkMatrix(variants, [
      //     T  Wf Wb Wx Ef Eb Ew Ex Af Ab Ae Aw Ax
      "T  | 1  1  .  .  1  .  .  .  1  .  .  .  .",
      "Wf | .  1  .  .  1  .  .  .  1  .  .  .  .",
      "Wb | .  .  1  .  1  .  1  1  1  .  .  1  1",
      "Wx | .  .  .  1  .  .  .  1  .  .  .  .  1",
      "Ef | .  .  .  .  1  .  .  .  1  .  .  .  .",
      "Eb | .  .  .  .  .  1  .  .  1  .  1  1  1",
      "Ew | .  .  .  .  .  .  1  .  1  .  .  1  1",
      "Ex | .  .  .  .  .  .  .  1  .  .  .  .  1",
      "Af | .  .  .  .  .  .  .  .  1  .  .  .  .",
      "Ab | .  .  .  .  .  .  .  .  .  1  .  .  .",
      "Ae | .  .  .  .  .  .  .  .  .  .  1  .  .",
      "Aw | .  .  .  .  .  .  .  .  .  .  .  1  .",
      "Ax | .  .  .  .  .  .  .  .  .  .  .  .  1"
    ])
  })
})

// -----------------------------------------------------------------------------
// property tests
// -----------------------------------------------------------------------------

const NUM_RUNS = 1000

const opt = <A>(arb: fc.Arbitrary<A>) => fc.option(arb, { nil: undefined })
const tId = fc.constantFrom("t1", "t2")
const wId = fc.constantFrom("w1", "w2")
const eId = fc.constantFrom("e1", "e2")
const aId = fc.constantFrom("a1", "a2")

/** Tenancies over a two-letter alphabet per field, so that ids collide and containment actually happens. */
const arbTenancy: fc.Arbitrary<Tenancy> = fc.oneof(
  fc.constant(global),
  tId.map(tenant),
  fc.tuple(wId, opt(tId)).map(([w, t]) => workflow(w, t)),
  fc.tuple(eId, opt(wId), opt(tId)).map(([e, w, t]) => execution(e, { workflowId: w, tenantId: t })),
  fc.tuple(aId, opt(eId), opt(wId), opt(tId)).map(([a, e, w, t]) =>
    action(a, { executionId: e, workflowId: w, tenantId: t })
  ),
  fc.tuple(fc.constantFrom("k1", "k2"), fc.constantFrom("v1", "v2")).map(([k, v]) => custom(k, v))
)

/** Every tenancy of the same small domain, for exhaustive checks. */
const allSmall: ReadonlyArray<Tenancy> = (() => {
  const ts = ["t1", "t2"]
  const ws = ["w1", "w2"]
  const es = ["e1", "e2"]
  const as = ["a1", "a2"]
  const o = (xs: Array<string>) => [undefined, ...xs]
  const out: Array<Tenancy> = [global]
  for (const t of ts) out.push(tenant(t))
  for (const w of ws) for (const t of o(ts)) out.push(workflow(w, t))
  for (const e of es) {
    for (const w of o(ws)) for (const t of o(ts)) out.push(execution(e, { workflowId: w, tenantId: t }))
  }
  for (const a of as) {
    for (const e of o(es)) {
      for (const w of o(ws)) {
        for (const t of o(ts)) out.push(action(a, { executionId: e, workflowId: w, tenantId: t }))
      }
    }
  }
  for (const k of ["k1", "k2"]) for (const v of ["v1", "v2"]) out.push(custom(k, v))
  return out
})()

/**
 * Plausible ancestors of a tenancy: itself, Global, and every broader tenancy built from its own ids
 * with optional parent ids kept or dropped. Some of them contain it and some do not (a dropped tenant
 * on a Workflow breaks "all fields equal"), which is what makes chains interesting.
 */
const candidatesAbove = (x: Tenancy): Array<Tenancy> => {
  const { executionId: e, tenantId: t, workflowId: w } = ids(x)
  const out: Array<Tenancy> = [global, copy(x)]
  if (t !== undefined) out.push(tenant(t))
  if (w !== undefined) { for (const tt of [t, undefined]) out.push(workflow(w, tt)) }
  if (e !== undefined) {
    for (const ww of [w, undefined]) {
      for (const tt of [t, undefined]) out.push(execution(e, { workflowId: ww, tenantId: tt }))
    }
  }
  return out
}

const other: Record<string, string> = { t1: "t2", t2: "t1", w1: "w2", w2: "w1", e1: "e2", e2: "e1" }

/** The candidates above `x`, plus near misses: each with one parent id swapped for the other letter. */
const nearAbove = (x: Tenancy): Array<Tenancy> =>
  candidatesAbove(x).flatMap((p) => {
    const out = [p]
    for (const field of ["tenantId", "workflowId", "executionId"] as const) {
      const v = ids(p)[field]
      if (v !== undefined) out.push({ ...p, [field]: other[v] } as Tenancy)
    }
    return out
  })

/** A chain c ← b ← a, each step picked among `above` of the previous one. */
const arbChain = (above: (x: Tenancy) => Array<Tenancy>): fc.Arbitrary<readonly [Tenancy, Tenancy, Tenancy]> =>
  arbTenancy.chain((c) =>
    fc.constantFrom(...above(c)).chain((b) => fc.constantFrom(...above(b)).map((a) => [a, b, c] as const))
  )

/**
 * Chains whose two links hold by construction: `b` anywhere in the small domain, `a` among the
 * tenancies that contain it and `c` among those it contains. Only the conclusion is then under test.
 */
const arbLinkedChain: fc.Arbitrary<readonly [Tenancy, Tenancy, Tenancy]> = (() => {
  // `b` itself is listed too, so that a broken `contains` yields failing runs rather than empty lists
  const above = allSmall.map((b) => [b, ...allSmall.filter((a) => contains(a, b))])
  const below = allSmall.map((b) => [b, ...allSmall.filter((c) => contains(b, c))])
  return fc.nat({ max: allSmall.length - 1 }).chain((i) =>
    fc.tuple(fc.constantFrom(...above[i]!), fc.constantFrom(...below[i]!)).map(([a, c]) =>
      [a, allSmall[i]!, c] as const
    )
  )
})()

/** Independent triples (mostly unrelated), chains of ancestors, chains with near misses, linked chains. */
const arbTriple: fc.Arbitrary<readonly [Tenancy, Tenancy, Tenancy]> = fc.oneof(
  { arbitrary: fc.tuple(arbTenancy, arbTenancy, arbTenancy), weight: 1 },
  { arbitrary: arbChain(candidatesAbove), weight: 1 },
  { arbitrary: arbChain(nearAbove), weight: 1 },
  { arbitrary: arbLinkedChain, weight: 2 }
)

describe("Tenancy.contains — properties", () => {
  it("transitivity: contains(a, b) && contains(b, c) ⇒ contains(a, c)", () => {
    let premiseHeld = 0
    let nonTrivial = 0
    fc.assert(
      fc.property(arbTriple, ([a, b, c]) => {
        if (contains(a, b) && contains(b, c)) {
          premiseHeld++
          if (a._tag !== "Global" && !sameTenancy(a, c)) nonTrivial++
          assert.isTrue(contains(a, c), `${show(a)} ⊇ ${show(b)} ⊇ ${show(c)} but not ${show(a)} ⊇ ${show(c)}`)
        }
      }),
      { numRuns: NUM_RUNS }
    )
    // the property must not hold vacuously
    assert.isAbove(premiseHeld, NUM_RUNS / 5, `premise held ${premiseHeld} times`)
    assert.isAbove(nonTrivial, NUM_RUNS / 10, `non-trivial chains ${nonTrivial}`)
  })

  it("transitivity, exhaustively over the small domain (every triple)", () => {
    assert.strictEqual(allSmall.length, 85)
    const table = allSmall.map((a) => allSmall.map((b) => contains(a, b)))
    let chains = 0
    const failures: Array<string> = []
    for (let i = 0; i < allSmall.length; i++) {
      for (let j = 0; j < allSmall.length; j++) {
        if (!table[i]![j]) continue
        for (let k = 0; k < allSmall.length; k++) {
          if (!table[j]![k]) continue
          chains++
          if (!table[i]![k] && failures.length < 10) {
            failures.push(`${show(allSmall[i]!)} ⊇ ${show(allSmall[j]!)} ⊇ ${show(allSmall[k]!)}`)
          }
        }
      }
    }
    assert.deepStrictEqual(failures, [])
    assert.isAbove(chains, 1000)
  })

  it("reflexivity: every valid tenancy contains itself and a field-by-field copy of itself", () => {
    fc.assert(
      fc.property(arbTenancy, (a) => {
        assert.isTrue(contains(a, a), show(a))
        assert.isTrue(contains(a, copy(a)), show(a))
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("reflexivity with arbitrary non-empty ids", () => {
    const id = fc.string({ minLength: 1, maxLength: 8 })
    const arb: fc.Arbitrary<Tenancy> = fc.oneof(
      fc.constant(global),
      id.map(tenant),
      fc.tuple(id, opt(id)).map(([w, t]) => workflow(w, t)),
      fc.tuple(id, opt(id), opt(id)).map(([e, w, t]) => execution(e, { workflowId: w, tenantId: t })),
      fc.tuple(id, opt(id), opt(id), opt(id)).map(([a, e, w, t]) =>
        action(a, { executionId: e, workflowId: w, tenantId: t })
      ),
      fc.tuple(id, id).map(([k, v]) => custom(k, v))
    )
    fc.assert(fc.property(arb, (a) => contains(a, copy(a))), { numRuns: NUM_RUNS })
  })

  it("antisymmetry: mutual containment only between identical tenancies", () => {
    fc.assert(
      fc.property(arbTenancy, arbTenancy, (a, b) => {
        if (contains(a, b) && contains(b, a)) assert.isTrue(sameTenancy(a, b), `${show(a)} <-> ${show(b)}`)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("containment never goes from a narrower level to a broader one: contains(a, b) ⇒ level(a) ≤ level(b)", () => {
    fc.assert(
      fc.property(arbTenancy, arbTenancy, (a, b) => {
        if (contains(a, b)) assert.isAtMost(level(a), level(b), `${show(a)} ⊇ ${show(b)}`)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  describe("cross-tenant access is always denied (SC-006)", () => {
    const tenants = ["t1", "t2", "t3"]
    const arbXY = fc.constantFrom(...tenants.flatMap((x) => tenants.filter((y) => y !== x).map((y) => [x, y] as const)))

    /** Any Tenant/Workflow/Execution/Action carrying `tenantId`, other ids from the small alphabet. */
    const carrying = (tenantId: string): fc.Arbitrary<Tenancy> =>
      fc.oneof(
        fc.constant(tenant(tenantId)),
        wId.map((w) => workflow(w, tenantId)),
        fc.tuple(eId, opt(wId)).map(([e, w]) => execution(e, { workflowId: w, tenantId })),
        fc.tuple(aId, opt(eId), opt(wId)).map(([a, e, w]) => action(a, { executionId: e, workflowId: w, tenantId }))
      )

    /** Re-homes a tenancy into another tenant, keeping every other id. */
    const retenant = (t: Tenancy, tenantId: string): Tenancy => ({ ...t, tenantId }) as Tenancy

    it("a parent in tenant Y never contains a child in tenant X ≠ Y (independent draws)", () => {
      fc.assert(
        fc.property(
          arbXY.chain(([x, y]) => fc.tuple(carrying(y), carrying(x))),
          ([parent, child]) => {
            assert.isFalse(contains(parent, child), `${show(parent)} ⊇ ${show(child)}`)
          }
        ),
        { numRuns: NUM_RUNS }
      )
    })

    it("re-homing a containing parent into another tenant always denies", () => {
      let wouldContain = 0
      fc.assert(
        fc.property(
          arbXY.chain(([x, y]) =>
            carrying(x).chain((child) =>
              fc.constantFrom(...candidatesAbove(child).filter((p) => p._tag !== "Global")).map((parent) =>
                [parent, retenant(parent, y), child] as const
              )
            )
          ),
          ([sameTenantParent, otherTenantParent, child]) => {
            if (contains(sameTenantParent, child)) wouldContain++
            assert.isFalse(contains(otherTenantParent, child), `${show(otherTenantParent)} ⊇ ${show(child)}`)
          }
        ),
        { numRuns: NUM_RUNS }
      )
      // the denials are due to the tenant: in many runs the same parent in the child's tenant contains it
      assert.isAbove(wouldContain, NUM_RUNS / 4, `same-tenant parent contained the child ${wouldContain} times`)
    })

    it("a tenant-less child is never contained by a tenant-carrying Tenant/Workflow/Execution/Action parent", () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...tenants).chain((y) => carrying(y)),
          fc.oneof(
            wId.map((w) => workflow(w)),
            fc.tuple(eId, opt(wId)).map(([e, w]) => execution(e, { workflowId: w })),
            fc.tuple(aId, opt(eId), opt(wId)).map(([a, e, w]) => action(a, { executionId: e, workflowId: w }))
          ),
          (parent, child) => {
            assert.isFalse(contains(parent, child), `${show(parent)} ⊇ ${show(child)}`)
          }
        ),
        { numRuns: NUM_RUNS }
      )
    })
  })
})

// -----------------------------------------------------------------------------
// level and format
// -----------------------------------------------------------------------------

describe("Tenancy.level and Tenancy.format", () => {
  it("level: Global 0, Tenant 1, Workflow 2, Execution 3, Action 4, Custom 5", () => {
    assert.strictEqual(level(global), 0)
    assert.strictEqual(level(tenant("t")), 1)
    assert.strictEqual(level(workflow("w", "t")), 2)
    assert.strictEqual(level(execution("e", { workflowId: "w", tenantId: "t" })), 3)
    assert.strictEqual(level(action("a", { executionId: "e", workflowId: "w", tenantId: "t" })), 4)
    assert.strictEqual(level(custom("k", "v")), 5)
  })

  it("format uses the key strings of §3.4 and only the own id", () => {
    assert.strictEqual(format(global), "global")
    assert.strictEqual(format(tenant("t1")), "tenant:t1")
    assert.strictEqual(format(workflow("w1")), "workflow:w1")
    assert.strictEqual(format(workflow("w1", "t1")), "workflow:w1")
    assert.strictEqual(format(execution("e1")), "execution:e1")
    assert.strictEqual(format(execution("e1", { workflowId: "w1", tenantId: "t1" })), "execution:e1")
    assert.strictEqual(format(action("a1")), "action:a1")
    assert.strictEqual(format(action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })), "action:a1")
    assert.strictEqual(format(custom("region", "eu")), "custom:region=eu")
  })

  it("format is not an identity: equal strings do not imply containment", () => {
    assert.strictEqual(format(workflow("w1", "t1")), format(workflow("w1", "t2")))
    deny(workflow("w1", "t1"), workflow("w1", "t2"))
    // `custom:{key}={value}` is ambiguous when the key contains "="; containment must not be
    assert.strictEqual(format(custom("a=b", "c")), format(custom("a", "b=c")))
    deny(custom("a=b", "c"), custom("a", "b=c"))
  })

  // ids over a tiny alphabet with the separators, so that near-collisions are frequent
  const ownId = fc.string({ unit: fc.constantFrom("a", "b", ":", "="), minLength: 1, maxLength: 4 })
  const keyNoEq = fc.string({ unit: fc.constantFrom("a", "b", ":"), minLength: 1, maxLength: 4 })
  const parentIds = fc.record({ executionId: opt(ownId), workflowId: opt(ownId), tenantId: opt(ownId) })

  type Kind = "Tenant" | "Workflow" | "Execution" | "Action" | "Custom"
  /** Builds a tenancy of `kind` from its own id (a [key, value] pair for Custom) and arbitrary parent ids. */
  const build = (
    kind: Kind,
    own: readonly [string, string],
    parents: { executionId: string | undefined; workflowId: string | undefined; tenantId: string | undefined }
  ): Tenancy => {
    switch (kind) {
      case "Tenant":
        return tenant(own[0])
      case "Workflow":
        return workflow(own[0], parents.tenantId)
      case "Execution":
        return execution(own[0], parents)
      case "Action":
        return action(own[0], parents)
      case "Custom":
        return custom(own[0], own[1])
    }
  }
  const arbKind = fc.constantFrom<Kind>("Tenant", "Workflow", "Execution", "Action", "Custom")
  const arbOwn = fc.tuple(keyNoEq, ownId)

  it("format is injective among same-kind tenancies with different own ids", () => {
    let distinctPairs = 0
    fc.assert(
      fc.property(arbKind, arbOwn, arbOwn, parentIds, parentIds, (kind, own1, own2, p1, p2) => {
        const ownDiffers = kind === "Custom" ?
          own1[0] !== own2[0] || own1[1] !== own2[1] :
          own1[0] !== own2[0]
        const f1 = format(build(kind, own1, p1))
        const f2 = format(build(kind, own2, p2))
        if (ownDiffers) {
          distinctPairs++
          assert.notStrictEqual(f1, f2, `${kind} ${own1} vs ${own2}`)
        } else {
          // the converse: parent ids never change the string
          assert.strictEqual(f1, f2)
        }
      }),
      { numRuns: NUM_RUNS }
    )
    assert.isAbove(distinctPairs, NUM_RUNS / 2)
  })

  it("format never collides across kinds", () => {
    fc.assert(
      fc.property(arbKind, arbKind, arbOwn, parentIds, (k1, k2, own, p) => {
        if (k1 !== k2) assert.notStrictEqual(format(build(k1, own, p)), format(build(k2, own, p)))
        assert.notStrictEqual(format(build(k1, own, p)), format(global))
      }),
      { numRuns: NUM_RUNS }
    )
  })
})

// -----------------------------------------------------------------------------
// validation
// -----------------------------------------------------------------------------

describe("Tenancy.validate", () => {
  const invalid: ReadonlyArray<readonly [string, Tenancy]> = [
    ["Tenant.tenantId", tenant("")],
    ["Workflow.workflowId", workflow("")],
    ["Workflow.workflowId", workflow("", "t1")],
    ["Workflow.tenantId", workflow("w1", "")],
    ["Execution.executionId", execution("")],
    ["Execution.executionId", execution("", { workflowId: "w1", tenantId: "t1" })],
    ["Execution.workflowId", execution("e1", { workflowId: "" })],
    ["Execution.tenantId", execution("e1", { tenantId: "" })],
    ["Execution.workflowId", execution("e1", { workflowId: "", tenantId: "t1" })],
    ["Action.actionId", action("")],
    ["Action.actionId", action("", { executionId: "e1", workflowId: "w1", tenantId: "t1" })],
    ["Action.executionId", action("a1", { executionId: "" })],
    ["Action.workflowId", action("a1", { workflowId: "" })],
    ["Action.tenantId", action("a1", { tenantId: "" })],
    ["Action.executionId", action("a1", { executionId: "", workflowId: "w1", tenantId: "t1" })],
    ["Custom.key", custom("", "v")],
    ["Custom.value", custom("k", "")]
  ]

  it.effect.each(invalid)("rejects %s when empty", ([field, t]) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(validate(t))
      assert.instanceOf(error, InvalidTenancy)
      assert.strictEqual(error._tag, "InvalidTenancy")
      assert.strictEqual(error.field, field)
      assert.include(error.message, field)
      assert.isFalse(error.retryable)
    }))

  // untyped input (for example decoded JSON): a required id that is missing or not a string
  const malformed: ReadonlyArray<readonly [string, unknown]> = [
    ["Tenant.tenantId", { _tag: "Tenant" }],
    ["Workflow.workflowId", { _tag: "Workflow", tenantId: "t1" }],
    ["Execution.executionId", { _tag: "Execution", executionId: 1 }],
    ["Action.actionId", { _tag: "Action", executionId: "e1" }],
    ["Custom.value", { _tag: "Custom", key: "k" }],
    ["Workflow.tenantId", { _tag: "Workflow", workflowId: "w1", tenantId: 7 }]
  ]

  it.effect.each(malformed)("rejects a missing or non-string %s", ([field, t]) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(validate(t as Tenancy))
      assert.strictEqual(error.field, field)
      assert.isFalse(contains(global, t as Tenancy))
    }))

  const valid: ReadonlyArray<Tenancy> = [
    global,
    tenant("t1"),
    workflow("w1"),
    workflow("w1", "t1"),
    execution("e1"),
    execution("e1", { workflowId: "w1", tenantId: "t1" }),
    action("a1"),
    action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" }),
    custom("k", "v")
  ]

  it.effect("accepts every kind with non-empty ids and returns the same tenancy", () =>
    Effect.gen(function*() {
      for (const t of valid) {
        const out = yield* validate(t)
        assert.isTrue(sameTenancy(out, t), show(t))
      }
    }))

  it("contains is false when either side has an empty id — even for Global and for identical values", () => {
    for (const [field, bad] of invalid) {
      assert.isFalse(contains(global, bad), `Global ⊇ invalid ${field}`)
      assert.isFalse(contains(bad, bad), `invalid ${field} ⊇ itself`)
      assert.isFalse(contains(bad, copy(bad)), `invalid ${field} ⊇ its copy`)
      for (const good of valid) {
        assert.isFalse(contains(bad, good), `invalid ${field} ⊇ ${show(good)}`)
        assert.isFalse(contains(good, bad), `${show(good)} ⊇ invalid ${field}`)
      }
    }
    // the same pairs with the empty id filled in are allowed, so the denial is due to emptiness
    allow(tenant("t1"), workflow("w1", "t1"))
    deny(tenant("t1"), { _tag: "Workflow", workflowId: "", tenantId: "t1" })
    allow(workflow("w1"), execution("e1", { workflowId: "w1" }))
    deny(workflow("w1"), { _tag: "Execution", executionId: "e1", workflowId: "w1", tenantId: "" })
    allow(execution("e1"), action("a1", { executionId: "e1" }))
    deny({ _tag: "Execution", executionId: "e1", tenantId: "" }, action("a1", { executionId: "e1" }))
  })
})

// -----------------------------------------------------------------------------
// Caller
// -----------------------------------------------------------------------------

describe("Caller", () => {
  it.effect("without a provider the caller is Global with no ids", () =>
    Effect.gen(function*() {
      const caller = yield* Caller.Caller
      assert.strictEqual(caller.tenancy._tag, "Global")
      assert.isUndefined(caller.tenantId)
      assert.isUndefined(caller.workflowId)
      assert.isUndefined(caller.executionId)
      assert.isUndefined(caller.actionId)
      assert.deepStrictEqual(caller.metadata, {})
    }))

  it.effect("provide(tenant(\"a\")) runs the effect as a caller with tenantId \"a\"", () =>
    Effect.gen(function*() {
      const caller = yield* Caller.provide(tenant("a"))(Caller.Caller)
      assert.deepStrictEqual(caller.tenancy, tenant("a"))
      assert.strictEqual(caller.tenantId, "a")
      assert.isUndefined(caller.workflowId)
      assert.isUndefined(caller.executionId)
      assert.isUndefined(caller.actionId)
    }))

  it.effect("provide derives every id an Action carries, and passes metadata", () =>
    Effect.gen(function*() {
      const t = action("a1", { executionId: "e1", workflowId: "w1", tenantId: "t1" })
      const caller = yield* Caller.provide(t, { region: "eu" })(
        Effect.gen(function*() {
          return yield* Caller.Caller
        })
      )
      assert.strictEqual(caller.tenancy, t)
      assert.strictEqual(caller.tenantId, "t1")
      assert.strictEqual(caller.workflowId, "w1")
      assert.strictEqual(caller.executionId, "e1")
      assert.strictEqual(caller.actionId, "a1")
      assert.deepStrictEqual(caller.metadata, { region: "eu" })
    }))

  it.effect("provide is scoped to the effect: nested providers override, the outer caller is restored", () =>
    Effect.gen(function*() {
      const seen = yield* Caller.provide(tenant("outer"))(
        Effect.gen(function*() {
          const before = (yield* Caller.Caller).tenantId
          const inner = yield* Caller.provide(tenant("inner"))(Effect.map(Caller.Caller, (c) => c.tenantId))
          const after = (yield* Caller.Caller).tenantId
          return [before, inner, after]
        })
      )
      assert.deepStrictEqual(seen, ["outer", "inner", "outer"])
      assert.strictEqual((yield* Caller.Caller).tenancy._tag, "Global")
    }))

  it.effect("provide(tenant(\"\")) fails with InvalidTenancy and does not run the effect", () =>
    Effect.gen(function*() {
      let ran = false
      const exit = yield* Effect.exit(
        Caller.provide(tenant(""))(Effect.sync(() => {
          ran = true
          return "ran"
        }))
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(
        Caller.provide(tenant(""))(Effect.sync(() => {
          ran = true
        }))
      )
      assert.instanceOf(error, InvalidTenancy)
      assert.strictEqual(error.field, "Tenant.tenantId")
      assert.isFalse(ran)
    }))

  it.effect("provide rejects an empty optional parent id before running the effect", () =>
    Effect.gen(function*() {
      let ran = false
      const error = yield* Effect.flip(
        Caller.provide(action("a1", { executionId: "e1", tenantId: "" }))(Effect.sync(() => {
          ran = true
        }))
      )
      assert.strictEqual(error._tag, "InvalidTenancy")
      assert.strictEqual(error.field, "Action.tenantId")
      assert.isFalse(ran)
    }))

  it.effect("the effect's own errors pass through provide unchanged", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Caller.provide(tenant("a"))(Effect.fail("boom" as const)))
      assert.strictEqual(error, "boom")
    }))

  it.effect("Caller.layer sets the caller; an invalid tenancy fails the layer", () =>
    Effect.gen(function*() {
      const caller = yield* Effect.provide(Caller.Caller, Caller.layer(workflow("w1", "t1")))
      assert.strictEqual(caller.workflowId, "w1")
      assert.strictEqual(caller.tenantId, "t1")
      let ran = false
      const error = yield* Effect.flip(
        Effect.provide(
          Effect.sync(() => {
            ran = true
          }),
          Caller.layer(workflow("w1", ""))
        )
      )
      assert.strictEqual(error.field, "Workflow.tenantId")
      assert.isFalse(ran)
    }))
})
