// Rules that the state a hub keeps per agent and per tenant shows over the wire: what a deleted
// tenant leaves behind (the stream slots of its open uploads, its pending and ended Request
// calls), what one tenant's deletion leaves to the others, a Request that returns when its reply
// is accepted rather than at its timeout, TTLs that expire each at its own time (and only those
// contexts), and compare-and-set writes of one context made at the same time.

import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { SubscribeContextsResponse_Kind as ContextKind } from "@acb/gen/acb/v1/contexts_pb";
import { UploadMode } from "@acb/gen/acb/v1/large_contexts_pb";
import { MessageType } from "@acb/gen/acb/v1/messaging_pb";
import { ConnectError } from "@connectrpc/connect";
import { CaseFailure, type ConformanceCase, check } from "../case.js";
import { type CaseContext, duration, type TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, patternBytes, sha256 } from "../wire.js";

/** Opens an upload (CREATE) of `data` as context `id` and returns its upload id. */
async function begin(agent: TestAgent, id: string, data: Uint8Array): Promise<string> {
  const { upload } = await agent.large.beginUpload({
    mode: UploadMode.CREATE,
    contextId: id,
    type: "blob",
    totalSize: BigInt(data.length),
    sha256: sha256(data),
  });
  if (!upload) throw new Error("BeginUpload returned no upload");
  return upload.id;
}

/** Creates a CUSTOM tenant `tenantId` with these quotas, deleted when the case ends. */
async function customTenant(
  t: CaseContext,
  tenantId: string,
  quotas: { agentConcurrentStreams?: number },
): Promise<void> {
  await t.admin.admin.createTenant({ tenantId, tier: Tier.CUSTOM, quotas });
  t.defer(() => t.admin.admin.deleteTenant({ tenantId }).catch(() => undefined));
}

/** Expects `call` to be RESOURCE_EXHAUSTED with RetryInfo naming agent.concurrent_streams. */
async function refusedForStreams(call: Promise<unknown>, what: string): Promise<void> {
  const err = await expectCode(call, Code.ResourceExhausted, what);
  const limit = err.findDetails(RetryInfoSchema)[0]?.limit;
  check(
    limit === "agent.concurrent_streams",
    `${what}: RetryInfo names limit "${limit}", not "agent.concurrent_streams"`,
  );
}

/** `call`'s value, or a failure when it has not settled `ms` after now. */
async function within<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CaseFailure(`${what}: not observed within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([call, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A RESPONSE to agent `to`, correlated to `correlationId`, of kind (and payload) `kind`. */
const response = (to: string, correlationId: string, kind: string) => ({
  target: { case: "recipientId" as const, value: to },
  type: MessageType.RESPONSE,
  correlationId,
  kind,
  payload: text(kind),
});

/** Clients of agent `name` of `tenantId` (a tenant the case deleted and created again), registered. */
async function again(t: CaseContext, tenantId: string, name: string) {
  const issued = await t.admin.auth.issueToken({
    tenantId,
    agentId: name,
    roles: [Role.AGENT_FULL],
  });
  const token = issued.tokens?.accessToken ?? "";
  const clients = t.clientsWith(`Bearer ${token}`);
  await clients.registry.register({ agentId: name, type: "conformance" });
  return { ...clients, id: name, tenantId, token } satisfies TestAgent;
}

const enc = new TextEncoder();
const note = (v: string) => ({ contentType: "text/plain", data: enc.encode(v) });

/** The codes (or OK) of calls made at the same time, counted by name. */
async function outcomes(calls: Promise<unknown>[]): Promise<Map<string, number>> {
  const codes = await Promise.all(
    calls.map((c) =>
      c.then(
        () => "OK",
        (err: unknown) => Code[ConnectError.from(err).code] ?? "UNKNOWN",
      ),
    ),
  );
  const counted = new Map<string, number>();
  for (const c of codes) counted.set(c, (counted.get(c) ?? 0) + 1);
  return counted;
}

const describeOutcomes = (m: Map<string, number>) =>
  [...m].map(([code, n]) => `${n} ${code}`).join(", ");

export const memoryStoreRuleCases: ConformanceCase[] = [
  {
    id: "admin.delete-tenant-stream-slots",
    level: "MUST",
    profile: "streaming",
    description:
      "The open uploads of a deleted tenant hold no stream slot of the tenant created again with the same id; another tenant's open uploads still count against its own agent_concurrent_streams",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-purges", "large.stream-limits"],
    requires: ["large-contexts", "admin"],
    async run(t) {
      const base = await t.tenant();
      const gone = `${base.id}-gone`;
      const kept = `${base.id}-kept`;
      await customTenant(t, gone, { agentConcurrentStreams: 1 });
      await customTenant(t, kept, { agentConcurrentStreams: 1 });
      const small = patternBytes(64, 11);
      const a = await t.agentIn(gone, "slot-a");
      const b = await t.agentIn(kept, "slot-b");
      await begin(a, "held-1", small);
      const held = await begin(b, "held-2", small);
      await refusedForStreams(
        begin(a, "held-3", small),
        "a second BeginUpload of an agent with agent_concurrent_streams 1",
      );
      await t.admin.admin.deleteTenant({ tenantId: gone });
      await t.admin.admin.createTenant({
        tenantId: gone,
        tier: Tier.CUSTOM,
        quotas: { agentConcurrentStreams: 1 },
      });
      const a2 = await t.agentIn(gone, "slot-a");
      const fresh = await begin(a2, "fresh-1", small);
      await refusedForStreams(
        begin(a2, "fresh-2", small),
        "a second BeginUpload in the tenant created again (agent_concurrent_streams 1)",
      );
      await refusedForStreams(
        begin(b, "held-4", small),
        "a second BeginUpload of an agent of another tenant after DeleteTenant (agent_concurrent_streams 1)",
      );
      await a2.large.abortUpload({ uploadId: fresh });
      await b.large.abortUpload({ uploadId: held });
      const again = await begin(b, "held-5", small);
      await b.large.abortUpload({ uploadId: again });
    },
  },
  {
    id: "request-reply.reply-wakes",
    level: "MUST",
    profile: "request-reply",
    description:
      "A Request with a 15 s timeout returns its reply once the reply's Send is accepted, not at its timeout",
    spec: "acb.v1.MessagingService.Request",
    rules: ["request-reply.reply-wakes", "request-reply.reply"],
    requires: ["request-reply"],
    timeoutMs: 25_000,
    async run(t) {
      const tenant = await t.tenant();
      const asker = await tenant.agent("rw-asker");
      const answerer = await tenant.agent("rw-answerer");
      const inbox = await Inbox.open(t, answerer);
      const call = asker.messaging.request(
        { recipientId: answerer.id, kind: "ask", payload: text("?"), timeout: duration(15_000) },
        { signal: t.signal },
      );
      // Settled early only by a failure, which the await below reports.
      call.catch(() => undefined);
      const q = await inbox.next("the request at the answerer");
      await inbox.ack(q);
      await answerer.messaging.send(response(asker.id, q.message?.id ?? "", "answer"));
      const res = await within(
        call,
        t.settings.waitMs,
        "the Request's return after its reply was accepted (timeout 15 s)",
      );
      check(
        res.reply?.correlationId === q.message?.id && res.reply?.kind === "answer",
        `the Request returned ${res.reply?.kind ?? "no reply"}, not the reply "answer"`,
      );
    },
  },
  {
    id: "admin.delete-tenant-requests",
    level: "MUST",
    profile: "request-reply",
    description:
      "After DeleteTenant, a RESPONSE in the tenant created again correlated to a Request of the deleted tenant is delivered as usual: the old call is forgotten",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-purges", "request-reply.late"],
    requires: ["request-reply", "admin"],
    async run(t) {
      const tenant = await t.tenant();
      const asker = await tenant.agent("rd-asker");
      const answerer = await tenant.agent("rd-answerer");
      const asks = await Inbox.open(t, answerer);
      const call = asker.messaging.request(
        { recipientId: answerer.id, kind: "old", payload: text("?"), timeout: duration(10_000) },
        { signal: t.signal },
      );
      const q = await asks.next("the request at the answerer");
      await asks.ack(q);
      const requestId = q.message?.id ?? "";
      await answerer.messaging.send(response(asker.id, requestId, "answered"));
      await call;
      asks.close();
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await t.admin.admin.createTenant({ tenantId: tenant.id, tier: Tier.ENTERPRISE });
      const asker2 = await again(t, tenant.id, asker.id);
      const answerer2 = await again(t, tenant.id, answerer.id);
      const own = await Inbox.open(t, asker2);
      await answerer2.messaging.send(response(asker2.id, requestId, "new-tenant"));
      const d = await own.next(
        "a RESPONSE correlated to a Request of the deleted tenant, sent in the tenant created again",
      );
      check(
        d.message?.kind === "new-tenant",
        `the requester's stream delivered ${d.message?.kind}, not the RESPONSE "new-tenant"`,
      );
      await own.ack(d);
    },
  },
  {
    id: "contexts.ttl-expiry-each",
    level: "MUST",
    profile: "contexts",
    description:
      "Contexts with TTLs of 400 ms and 1.5 s, created after one of 30 s and before one without, expire each at its own time (KIND_EXPIRED, then NOT_FOUND); the other two stay",
    spec: "acb.v1.SubscribeContextsResponse.Kind.KIND_EXPIRED",
    rules: ["contexts.ttl-expiry"],
    requires: ["contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("te-a");
      const sub = t.stream((signal) => a.contexts.subscribeContexts({}, { signal }));
      await sub.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      const create = async (contextId: string, ttlMs?: number) => {
        const at = performance.now();
        await a.contexts.createContext({
          contextId,
          type: "note",
          payload: note(contextId),
          ...(ttlMs !== undefined && { ttl: duration(ttlMs) }),
        });
        return at + (ttlMs ?? 0);
      };
      await create("long", 30_000);
      const shortAt = await create("short", 400);
      const middleAt = await create("middle", 1_500);
      await create("none");
      // The sweep of "short" must leave the others, and the next expiry ("middle") must follow.
      const expired: string[] = [];
      const expiredOf = (id: string, dueAt: number) =>
        sub.waitFor(
          (e) => {
            if (e.kind === ContextKind.EXPIRED) expired.push(e.context?.id ?? "");
            return e.kind === ContextKind.EXPIRED && e.context?.id === id;
          },
          `KIND_EXPIRED of "${id}" (expired ${expired.join(", ") || "nothing"} so far)`,
          Math.max(0, dueAt - performance.now()) + t.settings.waitMs,
        );
      await expiredOf("short", shortAt);
      await expectCode(
        a.contexts.getContext({ contextId: "short" }),
        Code.NotFound,
        "GetContext of the context whose 400 ms TTL passed",
      );
      for (const id of ["long", "middle", "none"]) {
        const got = await a.contexts.getContext({ contextId: id });
        check(got.context?.id === id, `GetContext of "${id}" after "short" expired`);
      }
      await expiredOf("middle", middleAt);
      check(
        expired.join(",") === "short,middle",
        `the expired contexts were ${expired.join(", ")}, not short then middle`,
      );
      await expectCode(
        a.contexts.getContext({ contextId: "middle" }),
        Code.NotFound,
        "GetContext of the context whose 1.5 s TTL passed",
      );
      for (const id of ["long", "none"]) {
        const got = await a.contexts.getContext({ contextId: id });
        check(got.context?.id === id, `GetContext of "${id}" after "middle" expired`);
      }
    },
  },
  {
    id: "contexts.cas-concurrent",
    level: "MUST",
    profile: "contexts",
    description:
      "Of 16 UpdateContext calls made at once with the same expected_revision exactly one succeeds and the rest are ABORTED (revision + 1); of 16 DeleteContext calls at once, exactly one succeeds",
    spec: "acb.v1.ContextService.UpdateContext",
    rules: ["contexts.revision-cas", "contexts.delete-cas"],
    requires: ["contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cc-a");
      const created = await a.contexts.createContext({
        contextId: "race",
        type: "note",
        payload: note("0"),
      });
      const revision = created.context?.revision ?? 1n;
      const n = 16;
      const updates = await outcomes(
        Array.from({ length: n }, (_, i) =>
          a.contexts.updateContext({
            contextId: "race",
            expectedRevision: revision,
            payload: note(`u${i}`),
          }),
        ),
      );
      check(
        updates.get("OK") === 1 && updates.get("Aborted") === n - 1,
        `${n} UpdateContext calls with expected_revision ${revision} at once: ${describeOutcomes(updates)}, not 1 OK and ${n - 1} Aborted`,
      );
      const after = await a.contexts.getContext({ contextId: "race" });
      check(
        after.context?.revision === revision + 1n,
        `the revision after them is ${after.context?.revision}, not ${revision + 1n}`,
      );
      const deletes = await outcomes(
        Array.from({ length: n }, () =>
          a.contexts.deleteContext({ contextId: "race", expectedRevision: revision + 1n }),
        ),
      );
      check(
        deletes.get("OK") === 1,
        `${n} DeleteContext calls at once: ${describeOutcomes(deletes)}, not exactly 1 OK`,
      );
      await expectCode(
        a.contexts.getContext({ contextId: "race" }),
        Code.NotFound,
        "GetContext after the deletes",
      );
    },
  },
];
