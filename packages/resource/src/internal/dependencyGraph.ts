/** @internal */
export type Edges = ReadonlyMap<string, ReadonlyArray<string>>

/**
 * The cycle that adding `key -> dependencies` would close, as a path that starts and ends at `key`.
 *
 * @internal
 */
export const findCycle = (
  edges: Edges,
  key: string,
  dependencies: ReadonlyArray<string>
): ReadonlyArray<string> | undefined => {
  const visited = new Set<string>()
  const walk = (node: string, path: ReadonlyArray<string>): ReadonlyArray<string> | undefined => {
    if (node === key) return [...path, node]
    if (visited.has(node)) return undefined
    visited.add(node)
    for (const next of edges.get(node) ?? []) {
      const found = walk(next, [...path, node])
      if (found !== undefined) return found
    }
    return undefined
  }
  for (const dependency of dependencies) {
    const found = walk(dependency, [key])
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * Groups `keys` into batches for shutdown: every key comes after all keys that depend on it, and keys
 * in one batch are independent of each other.
 *
 * @internal
 */
export const shutdownBatches = (keys: ReadonlyArray<string>, edges: Edges): Array<Array<string>> => {
  const remaining = new Set(keys)
  const reach = new Map(keys.map((key) => [key, transitiveDependencies(edges, key)]))
  const batches: Array<Array<string>> = []
  while (remaining.size > 0) {
    const batch = Array.from(remaining).filter((candidate) =>
      !Array.from(remaining).some((other) => other !== candidate && reach.get(other)!.has(candidate))
    )
    const next = batch.length > 0 ? batch : Array.from(remaining)
    for (const key of next) remaining.delete(key)
    batches.push(next)
  }
  return batches
}

/**
 * Every key `key` depends on, directly or through others.
 *
 * @internal
 */
export const transitiveDependencies = (edges: Edges, key: string): ReadonlySet<string> => {
  const seen = new Set<string>()
  const stack = [...(edges.get(key) ?? [])]
  while (stack.length > 0) {
    const next = stack.pop()!
    if (seen.has(next)) continue
    seen.add(next)
    stack.push(...(edges.get(next) ?? []))
  }
  return seen
}
