// The client's cross-cutting features over a real hub: AcbError with the hub's details, call
// options (signal, timeoutMs), refreshable credentials, and Standard Schema validation of input.
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { AcbError, Code, createClient } from "../src/node.js";
import { createClient as createWebClient } from "../src/web.js";
import { startTestBed, type TestBed } from "./harness.js";

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  );

describe("client features", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed();
  });
  afterEach(async () => {
    await bed.close();
  });

  it("throws AcbError with the hub's reason and metadata (web and node entries alike)", async () => {
    for (const create of [createClient, createWebClient]) {
      const client = create({ baseUrl: bed.listener.url, token: await bed.tokenFor("alice") });
      const ctx = await client.shareContext("doc", { v: 1 });
      await client.updateContext(ctx.id, { v: 2 });
      const err = await failure(client.updateContext(ctx.id, { v: 3 }, { expectedRevision: 1 }));
      expect(err).toBeInstanceOf(AcbError);
      const e = err as AcbError;
      expect(e.code).toBe(Code.Aborted);
      expect(e.reason).toBe("REVISION_MISMATCH");
      expect(e.info.current_revision).toBe("2");
      expect(e.retryable).toBe(true);
      const missing = (await failure(client.getContext("nope"))) as AcbError;
      expect(missing).toBeInstanceOf(AcbError);
      expect([missing.code, missing.retryable]).toEqual([Code.NotFound, false]);
    }
  });

  it("honours signal and timeoutMs on convenience calls", async () => {
    const client = createWebClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("a") });
    const aborted = new AbortController();
    aborted.abort();
    const cancelled = (await failure(
      client.shareContext("doc", {}, { signal: aborted.signal }),
    )) as AcbError;
    expect(cancelled.code).toBe(Code.Canceled);
    // A deadline shorter than any round trip.
    const timedOut = (await failure(client.discover({ timeoutMs: 0.001 }))) as AcbError;
    expect(timedOut).toBeInstanceOf(AcbError);
    expect(timedOut.code).toBe(Code.DeadlineExceeded);
  });

  it("refreshes { accessToken, refreshToken } credentials before they expire", async () => {
    const admin = createConnectClient(
      AuthService,
      createConnectTransport({
        baseUrl: bed.listener.url,
        httpVersion: "1.1",
        interceptors: [
          (next) => async (req) => {
            req.header.set("Authorization", `Bearer ${await bed.hub.issueAdminToken()}`);
            return next(req);
          },
        ],
      }),
    );
    const issued = await admin.issueToken({
      tenantId: bed.tenantId,
      agentId: "carol",
      roles: [Role.AGENT_FULL],
    });
    const refreshed: string[] = [];
    const client = createClient({
      baseUrl: bed.listener.url,
      token: {
        accessToken: issued.tokens?.accessToken ?? "",
        refreshToken: issued.tokens?.refreshToken ?? "",
        // Already inside the refresh window: the first call must refresh first.
        expiresAt: new Date(Date.now() + 30_000),
        onRefresh: (t) => refreshed.push(t.refreshToken),
      },
    });
    const [a, b] = await Promise.all([
      client.services.auth.whoAmI({}),
      client.services.auth.whoAmI({}),
    ]);
    expect([a.agentId, b.agentId]).toEqual(["carol", "carol"]);
    // Two concurrent calls shared one refresh (a second use of the refresh token would revoke it).
    expect(refreshed).toHaveLength(1);
    expect(refreshed[0]).not.toBe(issued.tokens?.refreshToken);
  });

  it("validates input with a Standard Schema and dead-letters what fails", async () => {
    const alice = createClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("alice") });
    const bob = createClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("bob") });
    await alice.register({ id: "alice", type: "worker", heartbeat: false });
    const Order = z.object({ sku: z.string().min(1), qty: z.number().int().positive() });
    const seen: { sku: string; qty: number }[] = [];
    let gotValid: () => void = () => {};
    const valid = new Promise<void>((r) => {
      gotValid = r;
    });
    alice.handle(
      "order",
      (m) => {
        seen.push(m.value); // typed as { sku: string; qty: number } by the schema
        gotValid();
      },
      { schema: Order },
    );
    const receiver = alice.receive();
    await receiver.ready;
    const bad = await bob.sendTo("alice", "order", { sku: "", qty: -1 });
    await bob.sendTo("alice", "order", { sku: "A-1", qty: 2 });
    await valid;
    expect(seen).toEqual([{ sku: "A-1", qty: 2 }]);
    // The invalid one is in the dead-letter queue, with the validation error as its reason.
    // (Deliveries are handled in order, and the nack is awaited before the next one.)
    const letters = await alice.services.messaging.listDeadLetters({ agentId: "alice" });
    expect(letters.deadLetters.map((d) => d.message?.id)).toEqual([bad.messageId]);
    expect(letters.deadLetters[0]?.lastError).toMatch(/failed validation: sku: .*; qty: /);
    await receiver.close();
  });
});
