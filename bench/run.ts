// Runs one benchmark: `npm run bench -- <name> [--quick] [--json]` loads bench/<name>.ts and calls
// its default export with the remaining arguments. Benchmarks are never part of `npm test`.
import { readdirSync } from "node:fs";

const [name, ...args] = process.argv.slice(2);
const available = readdirSync(new URL(".", import.meta.url))
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join("|")}> [--quick] [--json]\n`);
  process.exit(2);
}
const mod = (await import(new URL(`./${name}.ts`, import.meta.url).href)) as {
  default: (args: string[]) => Promise<void>;
};
await mod.default(args);
