// What open but idle Receive streams cost a hub (`npm run bench -- idle-streams [--backend B]
// [--streams N] [--seconds S] [--json]`): N agents (default 300) each hold a Receive stream open
// and nothing is sent; the hub's SQL transactions per second and its CPU are measured over S
// seconds (default 10) after a 3 s settling time. An idle stream still re-reads its queue every
// notificationPollMs (2 s) in case a notification was lost, and keeps its agent present every
// heartbeat interval: this is what those cost.

import { createClient } from "@acb/sdk/node";
import { backendArgs, benchBackend, startHubNodes } from "./lib/backends.ts";
import { provision } from "./lib/hub-process.ts";
import { flags, log, numberFlag, printTable } from "./lib/report.ts";

export default async function main(args: string[]): Promise<void> {
  const { json } = flags(args);
  const backend = benchBackend(args);
  const streams = numberFlag(args, "--streams", 300);
  const seconds = numberFlag(args, "--seconds", 10);
  log(`backend: ${backend}; ${streams} idle Receive streams, measured for ${seconds} s`);
  const store = await backendArgs(backend);
  const hub = await startHubNodes(store.args, 1);
  try {
    const ids = Array.from({ length: streams }, (_, i) => `idle-${i}`);
    const tokens = await provision(hub, ids);
    const receivers: { close(): Promise<void> }[] = [];
    for (const id of ids) {
      const c = createClient({ baseUrl: hub.urlsFrom(0), token: tokens.get(id) ?? "" });
      await c.register({ id, type: "bench" });
      const r = c.receive({ maxInFlight: 10 });
      await r.ready;
      receivers.push(r);
    }
    await new Promise((r) => setTimeout(r, 3_000));
    const tx0 = await hub.sqlTransactions();
    const cpu0 = hub.cpuSeconds();
    await new Promise((r) => setTimeout(r, seconds * 1_000));
    const txPerSecond = ((await hub.sqlTransactions()) - tx0) / seconds;
    const hubCores = (hub.cpuSeconds() - cpu0) / seconds;
    for (const r of receivers) await r.close();
    printTable(`ACB (${backend} backend, hub in its own process)`, [
      ["idle Receive streams", streams],
      ["SQL transactions per second", txPerSecond],
      ["hub CPU (cores)", hubCores],
    ]);
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ streams, sql_tx_per_s: txPerSecond, hub_cores: hubCores })}\n`,
      );
    }
  } finally {
    await hub.stop();
    await store.dispose();
  }
  // The clients' connections (retrying against the stopped hub) would keep the process alive.
  process.exit(0);
}
