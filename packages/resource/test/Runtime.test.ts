import { assert, describe, it } from "@effect/vitest"

describe("runtime", () => {
  it("runs on Node 22 (from the node devDependency)", () => {
    const major = Number(process.versions.node.split(".")[0])
    assert.strictEqual(major, 22, `expected Node 22, got ${process.version} at ${process.execPath}`)
  })
})
