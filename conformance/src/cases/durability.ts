// Durability profile (optional): restart the hub mid-traffic with --restart-cmd and check that no
// acknowledged message was lost.

import { spawn } from "node:child_process";
import { ConnectError } from "@connectrpc/connect";
import { CaseSkipped, type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { poll } from "../wire.js";

function runShell(command: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: "ignore", signal });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`--restart-cmd exited with code ${code}`)),
    );
  });
}

async function hubAnswers(t: CaseContext): Promise<void> {
  await poll(
    async () =>
      t.admin.info.getServerInfo({}).then(
        () => true,
        () => undefined,
      ),
    "the hub answering after the restart",
    60_000,
    t.signal,
    100,
  );
}

/** Sends until `stop` resolves, recording the ids the hub acknowledged; failures are retried. */
async function sendUntil(
  s: TestAgent,
  recipient: string,
  stop: Promise<void>,
  acked: Set<string>,
): Promise<void> {
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  for (let i = 0; !done; i++) {
    try {
      const res = await s.messaging.send({
        target: { case: "recipientId", value: recipient },
        kind: "durable",
        idempotencyKey: `d-${i}`,
        payload: text(String(i)),
      });
      acked.add(res.messageId);
    } catch (err) {
      ConnectError.from(err); // the hub is restarting: not acknowledged, so not owed
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export const durabilityCases: ConformanceCase[] = [
  {
    id: "durability.restart-no-loss",
    level: "MUST",
    profile: "durability",
    description:
      "Every message the hub acknowledged before or during a restart is delivered after it",
    spec: "acb.v1.MessagingService.Send",
    rules: ["durability.restart-no-loss"],
    requires: ["messaging"],
    timeoutMs: 180_000,
    async run(t) {
      const cmd = t.settings.restartCmd;
      if (!cmd) throw new CaseSkipped("no --restart-cmd given");
      if (!t.info.durable)
        throw new CaseSkipped("the hub reports durable=false: a restart loses its state by design");
      const tenant = await t.tenant();
      const s = await tenant.agent("dur-s");
      const r = await tenant.agent("dur-r");
      const acked = new Set<string>();
      const restart = runShell(cmd, t.signal).then(() => hubAnswers(t));
      await Promise.all([sendUntil(s, r.id, restart, acked), restart]);
      check(acked.size > 0, "no message was acknowledged around the restart");
      const inbox = await poll(
        async () => Inbox.open(t, r).catch(() => undefined),
        "a Receive stream after the restart",
        t.settings.waitMs * 4,
        t.signal,
        100,
      );
      const seen = new Set<string>();
      const missing = () => [...acked].filter((id) => !seen.has(id));
      while (missing().length > 0) {
        const d = await inbox.next(
          `acknowledged messages after the restart (${missing().length} missing)`,
        );
        seen.add(d.message?.id ?? "");
        await inbox.ack(d);
      }
    },
  },
];
