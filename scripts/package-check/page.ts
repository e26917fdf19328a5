// The package check's agent in a browser page, bundled from @acb/sdk/web by esbuild. It reads its
// settings from the page's query string and reports on `window.acbCheck`, which the check polls.
import { createClient } from "@acb/sdk/web";
import { runAgent } from "./agent.ts";

const report = { lines: [] as string[], done: false, error: undefined as string | undefined };
(globalThis as { acbCheck?: typeof report }).acbCheck = report;
const query = new URLSearchParams(location.search);
const baseUrl = query.get("hub") ?? "";
const log = (line: string) => {
  report.lines.push(line);
  console.log(line);
};
runAgent({
  client: createClient({ baseUrl, token: query.get("token") ?? "" }),
  agentId: query.get("agent") ?? "",
  runtime: `chromium ${navigator.userAgent.match(/Chrome\/([\d.]+)/)?.[1] ?? "?"}`,
  log,
}).then(
  () => {
    report.done = true;
  },
  (error: unknown) => {
    report.error = String(error);
    report.done = true;
  },
);
