// The load benchmark's agents scenario in a process of its own (`agentsScenario` in bench/load.ts
// starts it with the load process's Node flags): `node agents-scenario.ts N SECONDS` runs it and
// writes its figures as one JSON line on standard output.
import { agentsScenarioHere } from "../load.ts";

const [n, seconds] = process.argv.slice(2).map(Number);
if (!Number.isInteger(n) || !Number.isFinite(seconds))
  throw new Error("usage: agents-scenario.ts AGENTS SECONDS");
const figures = await agentsScenarioHere(n as number, seconds as number);
process.stdout.write(`${JSON.stringify(figures)}\n`);
process.exit(0);
