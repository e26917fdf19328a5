// Helpers shared by the delivery profile's case files.

import { check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { type Inbox, text } from "../inbox.js";
import { poll } from "../wire.js";

/** A Send to `r` of a message of `kind`, its kind as its text payload. */
export const to = (r: TestAgent, kind: string, extra: Record<string, unknown> = {}) => ({
  target: { case: "recipientId" as const, value: r.id },
  kind,
  payload: text(kind),
  ...extra,
});

/** A fresh tenant (with `settings`) and two agents in it: a sender and a recipient. */
export async function duo(
  t: CaseContext,
  prefix: string,
  settings?: Parameters<CaseContext["tenant"]>[0],
) {
  const tenant = await t.tenant(settings);
  return {
    tenant,
    s: await tenant.agent(`${prefix}-s`),
    r: await tenant.agent(`${prefix}-r`),
  };
}

/** The agent's dead letters once there are `count` (bounded poll: the protocol has no event). */
export async function deadLetters(t: CaseContext, r: TestAgent, count: number, what: string) {
  return poll(
    async () => {
      const res = await r.messaging.listDeadLetters({});
      return res.deadLetters.length >= count ? res.deadLetters : undefined;
    },
    what,
    t.settings.waitMs,
    t.signal,
  );
}

/** Collects deliveries until the sentinel and checks which kinds arrived, in order. */
export async function expectKinds(inbox: Inbox, expected: string[], what: string): Promise<void> {
  const got = await inbox.collectUntil((d) => d.message?.kind === "sentinel", what);
  const kinds = got.map((d) => d.message?.kind).filter((k) => k !== "sentinel");
  check(
    kinds.join(",") === expected.join(","),
    `${what}: got [${kinds.join(", ")}], not [${expected.join(", ")}]`,
  );
}
