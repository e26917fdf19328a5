// Quotas (TenantQuotas): a send or context write that would pass one is RESOURCE_EXHAUSTED with
// RetryInfo naming it, and changes nothing; what fits is accepted. Each case provisions a CUSTOM
// tenant with small quotas of its own.
//
// Rate quotas count per minute or per second. A hub may count in calendar windows, so a case
// whose sends straddle a window boundary (by the local clock) runs once more on a new tenant.

import {
  BacklogPolicy,
  type Tenant,
  type TenantQuotasSchema,
  Tier,
} from "@acb/gen/acb/v1/admin_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { CaseFailure, type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { durationMs } from "../harness.js";
import { Inbox } from "../inbox.js";
import { Code, expectCode, poll, untilPast } from "../wire.js";

const requires = ["messaging", "admin"];

const bytes = (n: number, fill: number) => ({
  contentType: "application/octet-stream",
  data: new Uint8Array(n).fill(fill),
});

let tenants = 0;

/** A CUSTOM tenant with `quotas` and registered agents named `names` (FULL role). */
async function quotaTenant<N extends string>(
  t: CaseContext,
  quotas: MessageInitShape<typeof TenantQuotasSchema>,
  names: N[],
): Promise<Record<N, TestAgent>> {
  const base = await t.tenant();
  const tenantId = `${base.id}-q${++tenants}`;
  await t.admin.admin.createTenant({ tenantId, tier: Tier.CUSTOM, quotas });
  t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
  const agents = {} as Record<N, TestAgent>;
  for (const name of names) agents[name] = await t.agentIn(tenantId, name);
  return agents;
}

/** Runs `body`; once more when it failed and its run straddled a `windowMs` boundary. */
async function withinOneWindow(windowMs: number, body: () => Promise<void>): Promise<void> {
  const start = Date.now();
  try {
    await body();
  } catch (err) {
    if (Math.floor(start / windowMs) === Math.floor(Date.now() / windowMs)) throw err;
    await body();
  }
}

/**
 * Runs `body` until one run falls within one `windowMs` window by the local clock (at most
 * `tries` runs): a failure within one window fails the case; a run that straddled a boundary,
 * failed or not, proves nothing and is made again.
 */
async function inOneWindow(windowMs: number, tries: number, body: () => Promise<void>) {
  for (let run = 1; ; run++) {
    const start = Date.now();
    let failure: unknown;
    try {
      await body();
    } catch (err) {
      failure = err;
    }
    const straddled = Math.floor(start / windowMs) !== Math.floor(Date.now() / windowMs);
    if (!straddled || run === tries) {
      if (failure !== undefined && !(straddled && failure instanceof CaseFailure)) throw failure;
      return;
    }
  }
}

/** Expects RESOURCE_EXHAUSTED with RetryInfo naming `limit`, retry_delay within `windowMs`. */
async function expectQuota(call: Promise<unknown>, limit: string, windowMs: number, what: string) {
  const err = await expectCode(call, Code.ResourceExhausted, what);
  const info = err.findDetails(RetryInfoSchema)[0];
  check(info, `${what}: the refusal carries no RetryInfo`);
  check(info.limit === limit, `${what}: RetryInfo names limit "${info.limit}", not "${limit}"`);
  const delay = durationMs(info.retryDelay);
  check(
    delay > 0 && delay <= windowMs,
    `${what}: RetryInfo retry_delay is ${delay} ms, not within the ${windowMs} ms window`,
  );
  return info;
}

const send = (from: TestAgent, to: TestAgent, kind: string, size = 1) =>
  from.messaging.send({
    target: { case: "recipientId", value: to.id },
    kind,
    payload: bytes(size, kind.length),
  });

/** The kinds `r` receives, `count` of them, acknowledged. */
async function received(t: CaseContext, r: TestAgent, count: number, what: string) {
  const inbox = await Inbox.open(t, r);
  const got = await inbox.collect(count, what);
  await inbox.ack(...got);
  inbox.close();
  return got.map((d) => d.message?.kind ?? "");
}

export const quotaCases: ConformanceCase[] = [
  {
    id: "admin.quota-messages",
    level: "MUST",
    profile: "delivery",
    description:
      "A send past an agent's or the tenant's messages per minute is RESOURCE_EXHAUSTED naming the quota, and is not delivered",
    spec: "acb.v1.TenantQuotas",
    rules: ["admin.quotas"],
    requires,
    async run(t) {
      await withinOneWindow(60_000, async () => {
        const { a, b, r } = await quotaTenant(
          t,
          { agentMessagesPerMinute: 2n, tenantMessagesPerMinute: 3n },
          ["a", "b", "r"],
        );
        await send(a, r, "a1");
        await send(a, r, "a2");
        await expectQuota(
          send(a, r, "a3"),
          "agent.messages_per_minute",
          60_000,
          "a third send with agent_messages_per_minute 2",
        );
        await send(b, r, "b1");
        await expectQuota(
          send(b, r, "b2"),
          "tenant.messages_per_minute",
          60_000,
          "a fourth send of the tenant with tenant_messages_per_minute 3",
        );
        const kinds = await received(t, r, 3, "the three accepted messages");
        check(kinds.join(",") === "a1,a2,b1", `delivered [${kinds.join(", ")}], not [a1, a2, b1]`);
      });
    },
  },
  {
    id: "admin.quota-bytes",
    level: "MUST",
    profile: "delivery",
    description:
      "Sends past an agent's or the tenant's bytes per minute are RESOURCE_EXHAUSTED naming the quota; a SendBatch accepts the items that fit",
    spec: "acb.v1.TenantQuotas",
    rules: ["admin.quotas", "delivery.batch"],
    requires,
    async run(t) {
      await withinOneWindow(60_000, async () => {
        const { a, b, r } = await quotaTenant(
          t,
          { agentBytesPerMinute: 1_000n, tenantBytesPerMinute: 1_700n },
          ["a", "b", "r"],
        );
        await send(a, r, "a1", 600);
        await expectQuota(
          send(a, r, "a2", 600),
          "agent.bytes_per_minute",
          60_000,
          "600 more bytes of an agent that sent 600 of its 1,000 a minute",
        );
        const item = (kind: string) => ({
          target: { case: "recipientId" as const, value: r.id },
          kind,
          payload: bytes(400, 7),
        });
        const res = await b.messaging.sendBatch({
          requests: [item("b1"), item("b2"), item("b3")],
        });
        const codes = res.results.map((x) => (x.error ? Code[x.error.code] : "OK")).join(",");
        check(
          codes === "OK,OK,ResourceExhausted",
          `three items of 400 bytes after 600 of the tenant's 1,700 a minute answered [${codes}]`,
        );
        const kinds = await received(t, r, 3, "the accepted messages");
        check(kinds.join(",") === "a1,b1,b2", `delivered [${kinds.join(", ")}], not [a1, b1, b2]`);
      });
    },
  },
  {
    id: "admin.quota-large-limits",
    level: "MUST",
    profile: "delivery",
    description:
      "With message quotas of 100 or more a minute, an agent's Sends and the tenant's SendBatch items are accepted up to each quota (a few early refusals allowed, 1 % of a limit per node) and never past it; the rest are RESOURCE_EXHAUSTED naming the quota, and only the accepted ones are delivered",
    spec: "acb.v1.TenantQuotas",
    rules: ["admin.quotas", "delivery.batch"],
    requires,
    async run(t) {
      // Limits of 100 or more: a hub of several nodes may hand them out from shares each node
      // takes ahead (admin.proto), which small limits never reach.
      const agentLimit = 100;
      const tenantLimit = 150;
      const early = (limit: number) => Math.ceil(limit * 0.05); // up to five nodes' 1 %
      await inOneWindow(60_000, 3, async () => {
        const { a, b, r } = await quotaTenant(
          t,
          {
            agentMessagesPerMinute: BigInt(agentLimit),
            tenantMessagesPerMinute: BigInt(tenantLimit),
          },
          ["a", "b", "r"],
        );
        const accepted: string[] = [];
        /** A refusal `what` got: RESOURCE_EXHAUSTED with RetryInfo naming `limit`. */
        const refusal = (code: Code, limit: string | undefined, want: string, what: string) => {
          check(
            code === Code.ResourceExhausted,
            `${what} answered ${Code[code]}, not RESOURCE_EXHAUSTED`,
          );
          check(limit === want, `${what}: RetryInfo names limit "${limit ?? ""}", not "${want}"`);
        };
        // The agent's 105 Sends, five at a time: each one charged on its own.
        let refusedA = 0;
        for (let i = 0; i < 105; i += 5) {
          const kinds = Array.from({ length: 5 }, (_, k) => `a-${i + k}`);
          const results = await Promise.allSettled(kinds.map((kind) => send(a, r, kind, 8)));
          for (const [k, x] of results.entries()) {
            const kind = kinds[k] as string;
            if (x.status === "fulfilled") {
              accepted.push(kind);
              continue;
            }
            refusedA++;
            const err = ConnectError.from(x.reason);
            const info = err.findDetails(RetryInfoSchema)[0];
            refusal(err.code, info?.limit, "agent.messages_per_minute", `the send of ${kind}`);
          }
        }
        const okA = 105 - refusedA;
        check(
          okA <= agentLimit,
          `${okA} of an agent's 105 sends were accepted with agent_messages_per_minute ${agentLimit}`,
        );
        check(
          okA >= agentLimit - early(agentLimit),
          `only ${okA} of an agent's 105 sends were accepted with agent_messages_per_minute ${agentLimit}`,
        );
        // The tenant's rest in one SendBatch: the items that fit, then refusals.
        const res = await b.messaging.sendBatch({
          requests: Array.from({ length: 55 }, (_, i) => ({
            target: { case: "recipientId" as const, value: r.id },
            kind: `b-${i}`,
            payload: bytes(8, i),
          })),
        });
        check(res.results.length === 55, `a SendBatch of 55 items answered ${res.results.length}`);
        const firstRefused = res.results.findIndex((x) => x.error !== undefined);
        const okB = firstRefused < 0 ? 55 : firstRefused;
        for (const [i, x] of res.results.slice(okB).entries()) {
          const what = `item ${okB + i} of 55, after ${okB} accepted`;
          check(x.error, `${what} was accepted after an item was refused`);
          refusal(x.error.code, x.error.retryInfo?.limit, "tenant.messages_per_minute", what);
        }
        accepted.push(...Array.from({ length: okB }, (_, i) => `b-${i}`));
        check(
          okA + okB <= tenantLimit,
          `${okA + okB} messages of the tenant were accepted with tenant_messages_per_minute ${tenantLimit}`,
        );
        check(
          okA + okB >= tenantLimit - early(tenantLimit),
          `only ${okA + okB} messages of the tenant were accepted with tenant_messages_per_minute ${tenantLimit}`,
        );
        const inbox = await Inbox.open(t, r);
        try {
          const got = await inbox.collect(accepted.length, "the accepted messages");
          await inbox.ack(...got);
          const kinds = new Set(got.map((d) => d.message?.kind ?? ""));
          const missing = accepted.filter((k) => !kinds.has(k));
          check(
            missing.length === 0,
            `accepted messages not delivered: ${missing.slice(0, 5).join(", ")}`,
          );
          check(
            kinds.size === accepted.length,
            `${kinds.size} distinct messages delivered, not the ${accepted.length} accepted`,
          );
        } finally {
          inbox.close();
        }
      });
    },
  },
  {
    id: "admin.quota-per-second",
    level: "MUST",
    profile: "delivery",
    description:
      "A send past the tenant's messages per second is RESOURCE_EXHAUSTED naming the quota",
    spec: "acb.v1.TenantQuotas.tenant_messages_per_second",
    rules: ["admin.quotas"],
    requires,
    async run(t) {
      const { a, r } = await quotaTenant(t, { tenantMessagesPerSecond: 2n }, ["a", "r"]);
      for (let round = 0; ; round++) {
        // Three sends at once: one is refused. Sends that straddle a second boundary may all be
        // accepted; then the round is repeated (bounded).
        const results = await Promise.allSettled([
          send(a, r, `s${round}-1`),
          send(a, r, `s${round}-2`),
          send(a, r, `s${round}-3`),
        ]);
        const refused = results.filter((x) => x.status === "rejected");
        if (refused.length === 0) {
          check(round < 4, "five rounds of three sends in quick succession were all accepted");
          continue;
        }
        // One is refused when the three fall in one second; more may be when a round that
        // straddled two seconds used up the second one before this round.
        const err = await expectQuota(
          Promise.reject((refused[0] as PromiseRejectedResult).reason),
          "tenant.messages_per_second",
          1_000,
          "a third send in one second with tenant_messages_per_second 2",
        );
        // After the retry_delay the hub named, the next second's sends are accepted.
        await untilPast(Date.now() + durationMs(err.retryDelay), t.signal);
        await send(a, r, `s${round}-after`);
        return;
      }
    },
  },
  {
    id: "admin.delete-tenant-quotas",
    level: "MUST",
    profile: "delivery",
    description:
      "A tenant deleted and created again with the same id counts its per-second, per-minute and per-month quotas from zero; another tenant keeps its counts",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-quotas", "admin.quotas"],
    requires,
    async run(t) {
      const base = await t.tenant();
      const month = 31 * 24 * 3_600_000;
      const limits: [MessageInitShape<typeof TenantQuotasSchema>, string, number, number][] = [
        [{ agentMessagesPerMinute: 1n }, "agent.messages_per_minute", 60_000, 1],
        [{ tenantMessagesPerMinute: 1n }, "tenant.messages_per_minute", 60_000, 1],
        [{ agentBytesPerMinute: 10n }, "agent.bytes_per_minute", 60_000, 10],
        [{ tenantBytesPerMinute: 10n }, "tenant.bytes_per_minute", 60_000, 10],
        [{ messagesPerMonth: 1n }, "tenant.messages_per_month", month, 1],
        [{ tenantMessagesPerSecond: 1n }, "tenant.messages_per_second", 1_000, 1],
      ];
      for (const [quotas, limit, windowMs, size] of limits) {
        // Both tenants and their agents are ready before the window the checks must share.
        const create = async () => {
          const tenantId = `${base.id}-d${++tenants}`;
          await t.admin.admin.createTenant({ tenantId, tier: Tier.CUSTOM, quotas });
          t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
          return tenantId;
        };
        const pair = async (tenantId: string) => ({
          s: await t.agentIn(tenantId, "s"),
          r: await t.agentIn(tenantId, "r"),
        });
        await inOneWindow(Math.min(windowMs, 60_000), 5, async () => {
          const gone = await create();
          const other = await pair(await create());
          const old = await pair(gone);
          await send(old.s, old.r, "k1", size);
          await send(other.s, other.r, "k1", size);
          await expectQuota(
            send(old.s, old.r, "k2", size),
            limit,
            windowMs,
            `a second send with ${limit} used up`,
          );
          await t.admin.admin.deleteTenant({ tenantId: gone });
          await t.admin.admin.createTenant({ tenantId: gone, tier: Tier.CUSTOM, quotas });
          const again = await pair(gone);
          try {
            await send(again.s, again.r, "k1", size);
          } catch (err) {
            throw new CaseFailure(
              `the first send of a tenant deleted and created again was refused (${(err as Error).message}): the deleted tenant's ${limit} still counts`,
            );
          }
          await expectQuota(
            send(other.s, other.r, "k2", size),
            limit,
            windowMs,
            `another tenant's second send with ${limit} used up, after a DeleteTenant`,
          );
        });
      }
    },
  },
  {
    id: "admin.tier-presets",
    level: "MUST",
    profile: "security",
    description:
      "A tenant created or moved to a tier has exactly that tier's quotas, and its settings read back with the defaults filled in",
    spec: "acb.v1.Tier",
    rules: ["admin.tier-presets"],
    requires: ["admin"],
    async run(t) {
      const base = await t.tenant();
      const MiB = 1024n * 1024n;
      const GiB = 1024n * MiB;
      const paid = (maxAgents: bigint, month: bigint, storage: bigint, perSecond: bigint) => ({
        maxAgents,
        messagesPerMonth: month,
        storageBytes: storage,
        tenantMessagesPerSecond: perSecond,
        agentMessagesPerMinute: 1_000n,
        agentBytesPerMinute: 100n * MiB,
        agentConcurrentStreams: 10n,
        agentBacklogMessages: 10_000n,
        tenantBacklogMessages: 100_000n,
      });
      const presets = new Map<Tier, Record<string, bigint>>([
        [Tier.FREE, paid(3n, 10_000n, GiB, 100n)],
        [Tier.STARTER, paid(10n, 500_000n, 10n * GiB, 500n)],
        [Tier.PROFESSIONAL, paid(50n, 5_000_000n, 100n * GiB, 2_000n)],
        [
          Tier.ENTERPRISE,
          {
            agentBacklogMessages: 100_000n,
            tenantBacklogMessages: 1_000_000n,
            tenantMessagesPerSecond: 10_000n,
          },
        ],
      ]);
      const fields = [
        "maxAgents",
        "tenantMessagesPerMinute",
        "agentMessagesPerMinute",
        "tenantBytesPerMinute",
        "agentBytesPerMinute",
        "agentConcurrentStreams",
        "storageBytes",
        "messagesPerMonth",
        "agentBacklogMessages",
        "tenantBacklogMessages",
        "tenantMessagesPerSecond",
      ] as const;
      const checkTier = (tenant: Tenant | undefined, tier: Tier, what: string) => {
        check(tenant, `${what}: no tenant`);
        check(tenant.tier === tier, `${what}: tier ${Tier[tenant.tier]}, not ${Tier[tier]}`);
        const want = presets.get(tier) ?? {};
        const wrong = fields
          .map((f) => [f, BigInt(tenant.quotas?.[f] ?? -1), want[f] ?? 0n] as const)
          .filter(([, got, exp]) => got !== exp)
          .map(([f, got, exp]) => `${f} ${got} (not ${exp})`);
        check(wrong.length === 0, `${what}: quotas ${wrong.join(", ")}`);
      };
      const defaults = {
        ackDeadline: 30_000,
        dedupeWindow: 24 * 3_600_000,
        heartbeatInterval: 10_000,
        presenceTimeout: 30_000,
        defaultMessageTtl: 7 * 24 * 3_600_000,
      } as const;
      for (const [i, tier] of [Tier.UNSPECIFIED, ...presets.keys()].entries()) {
        const tenantId = `${base.id}-t${i}`;
        const what = `a tenant created with tier ${Tier[tier]}`;
        const created = (await t.admin.admin.createTenant({ tenantId, tier })).tenant;
        t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
        const want = tier === Tier.UNSPECIFIED ? Tier.FREE : tier;
        checkTier(created, want, `CreateTenant of ${what}`);
        const read = (await t.admin.admin.getTenant({ tenantId })).tenant;
        checkTier(read, want, `GetTenant of ${what}`);
        const st = read?.settings;
        const wrong = Object.entries(defaults)
          .map(([f, ms]) => [f, durationMs(st?.[f as keyof typeof defaults]), ms] as const)
          .filter(([, got, ms]) => got !== ms)
          .map(([f, got, ms]) => `${f} ${got} ms (not ${ms})`);
        if (st?.maxDeliveryAttempts !== 5)
          wrong.push(`maxDeliveryAttempts ${st?.maxDeliveryAttempts}`);
        if (st?.backlogPolicy !== BacklogPolicy.REFUSE)
          wrong.push(`backlogPolicy ${BacklogPolicy[st?.backlogPolicy ?? 0]}`);
        check(wrong.length === 0, `the settings of ${what}: ${wrong.join(", ")}`);
      }
      // Moving a tenant to another tier gives it that tier's presets.
      const moved = `${base.id}-t0`;
      for (const tier of [Tier.STARTER, Tier.ENTERPRISE, Tier.FREE]) {
        const updated = (await t.admin.admin.updateTenant({ tenantId: moved, tier })).tenant;
        checkTier(updated, tier, `UpdateTenant to tier ${Tier[tier]}`);
        const read = (await t.admin.admin.getTenant({ tenantId: moved })).tenant;
        checkTier(read, tier, `GetTenant after UpdateTenant to tier ${Tier[tier]}`);
      }
    },
  },
  {
    id: "admin.quota-storage",
    level: "MUST",
    profile: "contexts",
    description:
      "A context write past the tenant's storage_bytes is RESOURCE_EXHAUSTED naming the quota and changes nothing; deleting gives the storage back",
    spec: "acb.v1.TenantQuotas.storage_bytes",
    rules: ["admin.quotas"],
    requires: ["contexts", "admin"],
    async run(t) {
      const { a } = await quotaTenant(t, { storageBytes: 2_000n }, ["a"]);
      await a.contexts.createContext({ contextId: "big", type: "blob", payload: bytes(1_500, 1) });
      await expectQuota(
        a.contexts.createContext({ contextId: "more", type: "blob", payload: bytes(1_000, 2) }),
        "tenant.storage_bytes",
        3_600_000,
        "CreateContext of 1,000 bytes with 1,500 of 2,000 storage bytes held",
      );
      await expectCode(
        a.contexts.getContext({ contextId: "more" }),
        Code.NotFound,
        "GetContext of a context refused by the storage quota",
      );
      await a.contexts.updateContext({ contextId: "big", payload: bytes(2_000, 3) });
      await expectQuota(
        a.contexts.updateContext({ contextId: "big", payload: bytes(2_200, 4) }),
        "tenant.storage_bytes",
        3_600_000,
        "UpdateContext to 2,200 bytes with 2,000 storage bytes",
      );
      const kept = await a.contexts.getContext({ contextId: "big" });
      check(
        kept.context?.revision === 2n && kept.context.payload?.data.length === 2_000,
        `a refused update left revision ${kept.context?.revision} of ${kept.context?.payload?.data.length} bytes`,
      );
      await a.contexts.deleteContext({ contextId: "big" });
      await a.contexts.createContext({ contextId: "more", type: "blob", payload: bytes(1_000, 2) });
      await a.contexts.createContext({ contextId: "most", type: "blob", payload: bytes(1_000, 5) });
    },
  },
  {
    id: "admin.usage",
    level: "MUST",
    profile: "delivery",
    description:
      "GetUsage counts the messages and payload bytes accepted, context writes' bytes and the storage held, not what was refused",
    spec: "acb.v1.AdminService.GetUsage",
    rules: ["admin.usage"],
    requires,
    async run(t) {
      const { a, r } = await quotaTenant(t, { agentMessagesPerMinute: 2n }, ["a", "r"]);
      await send(a, r, "m1", 100);
      await send(a, r, "m2", 50);
      // Refused by the quota (or, in the next minute, accepted: then it counts).
      let sent = 2;
      let sentBytes = 150;
      try {
        await send(a, r, "m3", 1_000);
        sent = 3;
        sentBytes += 1_000;
      } catch (err) {
        await expectQuota(Promise.reject(err), "agent.messages_per_minute", 60_000, "a third send");
      }
      await a.contexts.createContext({ contextId: "c", type: "blob", payload: bytes(300, 1) });
      await a.contexts.updateContext({ contextId: "c", payload: bytes(200, 2) });
      await a.contexts.createContext({ contextId: "d", type: "blob", payload: bytes(100, 3) });
      await a.contexts.deleteContext({ contextId: "d" });
      const want = { messages: sent, bytes: sentBytes + 600, storage: 200 };
      const usage = await poll(
        async () => {
          const res = await t.admin.admin.getUsage({ tenantId: a.tenantId });
          const total = res.total;
          const got = {
            messages: Number(total?.messages ?? -1),
            bytes: Number(total?.bytes ?? -1),
            storage: Number(total?.storageBytes ?? -1),
          };
          return JSON.stringify(got) === JSON.stringify(want) ? res : undefined;
        },
        `GetUsage totals of ${JSON.stringify(want)}`,
        t.settings.waitMs,
        t.signal,
        100,
      ).catch(async (err: unknown) => {
        const res = await t.admin.admin.getUsage({ tenantId: a.tenantId });
        throw new CaseFailure(
          `${(err as Error).message}; GetUsage says messages ${res.total?.messages}, bytes ${res.total?.bytes}, storage ${res.total?.storageBytes}`,
        );
      });
      // Periods: the bucket of this hour is in [its start, +1 h) and not in [-1 h, its start).
      const hour = Number(usage.hourly[usage.hourly.length - 1]?.start?.seconds ?? 0n) * 1000;
      const period = async (startMs: number, endMs: number) =>
        Number(
          (
            await t.admin.admin.getUsage({
              tenantId: a.tenantId,
              start: timestampFromMs(startMs),
              end: timestampFromMs(endMs),
            })
          ).total?.messages ?? -1n,
        );
      const inside = await period(hour, hour + 3_600_000);
      const before = await period(hour - 3_600_000, hour);
      check(
        inside === want.messages && before === 0,
        `GetUsage counts ${inside} messages in the hour of the sends and ${before} in the hour before it`,
      );
      const fresh = await t.tenant();
      const none = await t.admin.admin.getUsage({ tenantId: fresh.id });
      check(
        Number(none.total?.messages ?? -1n) === 0 && Number(none.total?.bytes ?? -1n) === 0,
        "GetUsage of a tenant that sent nothing counts something",
      );
      const hourly = usage.hourly;
      check(hourly.length >= 1, "GetUsage returned no hourly bucket");
      const sum = (f: (b: (typeof hourly)[number]) => bigint) =>
        Number(hourly.reduce((n, b) => n + f(b), 0n));
      check(
        sum((b) => b.messages) === want.messages && sum((b) => b.bytes) === want.bytes,
        `the hourly buckets add up to ${sum((b) => b.messages)} messages and ${sum((b) => b.bytes)} bytes`,
      );
      for (const b of hourly) {
        const start = b.start ? Number(b.start.seconds) * 1000 : -1;
        check(start % 3_600_000 === 0, `an hourly bucket starts at ${start}, not on the hour`);
      }
    },
  },
];
