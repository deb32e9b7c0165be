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
