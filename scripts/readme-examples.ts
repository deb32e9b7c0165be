/**
 * Extracts every complete example of each package README (a ```ts block with its imports) into
 * `packages/<name>/readme-examples/`, one module per block, so that `npm run typecheck` type-checks
 * the documentation. Top-level declarations are exported, so that an example need not use them all.
 */
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const packages = fs.readdirSync(path.join(root, "packages"))
let count = 0
for (const name of packages) {
  const readme = path.join(root, "packages", name, "README.md")
  if (!fs.existsSync(readme)) continue
  const out = path.join(root, "packages", name, "readme-examples")
  fs.rmSync(out, { recursive: true, force: true })
  const blocks = [...fs.readFileSync(readme, "utf8").matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)
    .filter((code) => /^import\b/m.test(code) && code.replace(/^import\b[\s\S]*?from\s+"[^"]+"$/gm, "").trim() !== "")
  if (blocks.length === 0) continue
  fs.mkdirSync(out)
  blocks.forEach((code, i) => {
    const header = `// Generated from README.md block ${i + 1} by scripts/readme-examples.ts; do not edit.\n`
    const body = code.replace(/^(const|class|interface|type|function) /gm, "export $1 ")
    fs.writeFileSync(path.join(out, `block${i + 1}.ts`), header + body)
    count++
  })
}
console.log(`readme-examples: ${count} README blocks extracted`)
