import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { WaiterQueue } from "../src/internal/waiterQueue.ts"

interface Entry {
  readonly id: number
  queued: boolean
}

type Op =
  | { readonly kind: "add" }
  | { readonly kind: "unshift" }
  | { readonly kind: "shift" }
  | { readonly kind: "remove"; readonly pick: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: "add" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "unshift" as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: "shift" as const }) },
  { weight: 3, arbitrary: fc.nat(1000).map((pick) => ({ kind: "remove" as const, pick })) }
)

describe("WaiterQueue", () => {
  it("behaves as a FIFO list with removal and put-back, through holes and compaction", () => {
    let longRuns = 0
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 3000, size: "max" }), (ops) => {
        const queue = new WaiterQueue<Entry>()
        const model: Array<Entry> = []
        const all: Array<Entry> = []
        let next = 0
        for (const op of ops) {
          if (op.kind === "add") {
            const entry: Entry = { id: next++, queued: false }
            all.push(entry)
            queue.add(entry)
            model.push(entry)
          } else if (op.kind === "unshift") {
            const entry: Entry = { id: next++, queued: false }
            all.push(entry)
            queue.unshift(entry)
            model.unshift(entry)
          } else if (op.kind === "shift") {
            const taken = queue.shift()
            const expected = model.shift()
            assert.strictEqual(taken, expected)
            if (taken !== undefined) assert.isFalse(taken.queued)
          } else if (all.length > 0) {
            const entry = all[op.pick % all.length]!
            const index = model.indexOf(entry)
            assert.strictEqual(queue.remove(entry), index >= 0)
            if (index >= 0) model.splice(index, 1)
            assert.isFalse(entry.queued)
          }
          assert.strictEqual(queue.size, model.length)
        }
        assert.deepStrictEqual(queue.toArray().map((e) => e.id), model.map((e) => e.id))
        if (ops.length > 1100) longRuns++
      }),
      { numRuns: 300 }
    )
    assert.isAbove(longRuns, 30, "long enough scripts to reach compaction")
  })

  it("keeps its storage bounded under steady churn", () => {
    const storage = (queue: WaiterQueue<Entry>) => (queue as unknown as { items: Array<unknown> }).items.length
    const queue = new WaiterQueue<Entry>()
    const head: Entry = { id: -1, queued: false }
    queue.add(head)
    for (let i = 0; i < 100_000; i++) {
      const entry: Entry = { id: i, queued: false }
      queue.add(entry)
      queue.remove(entry)
    }
    assert.strictEqual(queue.size, 1)
    assert.isAtMost(storage(queue), 200)
    for (let i = 0; i < 21; i++) queue.add({ id: i, queued: false })
    let expected = -1
    for (let i = 21; i < 100_000; i++) {
      queue.add({ id: i, queued: false })
      assert.strictEqual(queue.shift()!.id, expected++)
    }
    assert.strictEqual(queue.size, 22)
    assert.isAtMost(storage(queue), 2100)
  })
})
