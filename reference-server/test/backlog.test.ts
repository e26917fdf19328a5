// Backlog limits on the wire: a send past a recipient's limit is RESOURCE_EXHAUSTED with
// RetryInfo under the default policy; under DEAD_LETTER_OLDEST it is accepted and the oldest
// undelivered message becomes a dead letter (reason BACKLOG_FULL). Tier presets apply them too.

import { BacklogPolicy, Tier } from "@acb/gen/acb/v1/admin_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { DeadLetterReason } from "@acb/gen/acb/v1/messaging_pb";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Agent, expectCode, startTestHub, type TestHub } from "./security-harness.js";

let t: TestHub;

beforeAll(async () => {
  t = await startTestHub();
});

afterAll(async () => {
  await t?.close();
});

/** A CUSTOM tenant whose agents may hold `perAgent` messages each, with agents a and b. */
async function tenantWith(perAgent: number, policy?: BacklogPolicy) {
  const tenantId = await t.newTenant({
    tier: Tier.CUSTOM,
    quotas: { agentBacklogMessages: BigInt(perAgent), tenantBacklogMessages: 1_000n },
  });
  if (policy !== undefined) {
    await t.admin.admin.updateTenant({ tenantId, settings: { backlogPolicy: policy } });
  }
  const a = await t.agentIn(tenantId, "a");
  const b = await t.agentIn(tenantId, "b");
  await a.registry.register({ agentId: "a", type: "svc" });
  await b.registry.register({ agentId: "b", type: "svc" });
  return { tenantId, a, b };
}

const send = async (from: Agent, to: string, body: string) =>
  (
    await from.messaging.send({
      target: { case: "recipientId", value: to },
      kind: "k",
      payload: { contentType: "text/plain", data: new TextEncoder().encode(body) },
    })
  ).messageId;

describe("backlog limits", () => {
  it("refuses a send past the recipient's limit with RESOURCE_EXHAUSTED and RetryInfo", async () => {
    const { tenantId, a, b } = await tenantWith(2);
    const tenant = await t.admin.admin.getTenant({ tenantId });
    expect(tenant.tenant?.settings?.backlogPolicy).toBe(BacklogPolicy.REFUSE);
    await send(a, "b", "1");
    await send(a, "b", "2");
    const err = await expectCode(send(a, "b", "3"), Code.ResourceExhausted);
    const [info] = err.findDetails(RetryInfoSchema);
    expect(info?.limit).toBe("agent.backlog_messages");
    expect(Number(info?.retryDelay?.seconds ?? 0n)).toBeGreaterThan(0);
    // Nothing of the refused send was stored; another recipient is not affected.
    await send(b, "a", "to a");
    const batch = await a.messaging.sendBatch({
      requests: [
        {
          target: { case: "recipientId", value: "b" },
          kind: "k",
          payload: { contentType: "text/plain", data: new Uint8Array([1]) },
        },
      ],
    });
    expect(batch.results[0]?.error?.code).toBe(Code.ResourceExhausted);
    expect(batch.results[0]?.error?.retryInfo?.limit).toBe("agent.backlog_messages");
    // Under REFUSE nothing is dropped to make room.
    expect((await b.messaging.listDeadLetters({})).deadLetters).toEqual([]);
    // Usage counts what was stored: the three sends that went through, not the two refused.
    expect((await t.admin.admin.getUsage({ tenantId })).total?.messages).toBe(3n);
  });

  it("under DEAD_LETTER_OLDEST accepts the send and dead-letters the oldest undelivered message", async () => {
    const { a, b } = await tenantWith(2, BacklogPolicy.DEAD_LETTER_OLDEST);
    const first = await send(a, "b", "1");
    await send(a, "b", "2");
    const third = await send(a, "b", "3");
    expect(third).not.toBe("");
    const dead = await b.messaging.listDeadLetters({});
    expect(dead.deadLetters.map((d) => [d.message?.id, d.reason, d.attempts])).toEqual([
      [first, DeadLetterReason.BACKLOG_FULL, 0],
    ]);
  });

  it("a tier's preset limits the backlog, and GetTenant reports it", async () => {
    const tenantId = await t.newTenant({ tier: Tier.STARTER });
    const tenant = await t.admin.admin.getTenant({ tenantId });
    expect(tenant.tenant?.quotas?.agentBacklogMessages).toBe(10_000n);
    expect(tenant.tenant?.quotas?.tenantBacklogMessages).toBe(100_000n);
  });
});
