/**
 * The known name closest to an unknown one, ignoring case, `_` and `-`: the nearest within an edit
 * distance of a third of the name (at least 1); failing that, for a name of four characters or more,
 * the known name whose start is that near (`pasword` → `passwordCredential`). Ties go to the first
 * candidate.
 *
 * @internal
 */
export const closest = (name: string, candidates: Iterable<string>): string | undefined => {
  const target = normalize(name)
  const limit = Math.max(1, Math.floor(target.length / 3))
  const known = Array.from(candidates, (candidate) => [candidate, normalize(candidate)] as const)
  return nearest(known, limit, (candidate) => distance(target, candidate)) ??
    (target.length < 4 ? undefined : nearest(known, limit, (candidate) => prefixDistance(target, candidate)))
}

const normalize = (name: string): string => name.toLowerCase().replace(/[-_]/g, "")

const nearest = (
  known: ReadonlyArray<readonly [string, string]>,
  limit: number,
  measure: (candidate: string) => number
): string | undefined => {
  let best: string | undefined
  let bestDistance = limit + 1
  for (const [candidate, normalized] of known) {
    const d = measure(normalized)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

const prefixDistance = (target: string, candidate: string): number => {
  let d = Number.POSITIVE_INFINITY
  for (let length = target.length - 1; length <= target.length + 1 && length < candidate.length; length++) {
    d = Math.min(d, distance(target, candidate.slice(0, length)))
  }
  return d
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
const distance = (a: string, b: string): number => {
  const rows: Array<Array<number>> = Array.from({ length: a.length + 1 }, (_, i) => [i])
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = d
    }
  }
  return rows[a.length]![b.length]!
}
