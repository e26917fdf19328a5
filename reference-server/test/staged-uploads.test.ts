// Staging past the quota: a tenant that may store 4 KiB must not park megabytes in the blob store
// through an upload it never commits, and staging is bounded per tenant and per hub (every node
// sharing the backend).

import { createHash } from "node:crypto";
import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { generateDevKeys } from "../src/auth/token-service.js";
import { ManualClock } from "../src/clock.js";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import {
  type Agent,
  expectAudited,
  expectCode,
  newCorrelationId,
  startTestHub,
  type TestHub,
} from "./security-harness.js";

let t: TestHub | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

const KiB = 1024;

function chunk(offset: number, size: number) {
  const data = new Uint8Array(size).fill(0x5a);
  return {
    offset: BigInt(offset),
    data,
    sha256: new Uint8Array(createHash("sha256").update(data).digest()),
  };
}

async function stage(agent: Agent, contextId: string, totalSize: number) {
  const begun = await agent.large.beginUpload({
    contextId,
    type: "blob",
    totalSize: BigInt(totalSize),
  });
  return begun.upload?.id ?? "";
}

describe("staged uploads count against the storage quota", () => {
  it("refuses a declared size past the quota at BeginUpload, audited", async () => {
    const hub = await startTestHub();
    t = hub;
    const tenantId = await hub.newTenant({ tier: Tier.CUSTOM, quotas: { storageBytes: 4096n } });
    const agent = await hub.agentIn(tenantId, "uploader");
    const cid = newCorrelationId();
    const err = await expectCode(
      hub.clients(agent.token, cid).large.beginUpload({
        contextId: "huge",
        type: "blob",
        totalSize: 10n * 1024n * 1024n * 1024n,
      }),
      Code.ResourceExhausted,
    );
    expect(err.findDetails(RetryInfoSchema)[0]?.limit).toBe("tenant.storage_bytes");
    await expectAudited(hub, cid, { action: "quota.exceeded", outcome: "denied", tenantId });
  });

  it("counts staged bytes: a second upload cannot stage past the quota, an abort frees them", async () => {
    const hub = await startTestHub();
    t = hub;
    const tenantId = await hub.newTenant({ tier: Tier.CUSTOM, quotas: { storageBytes: 4096n } });
    const agent = await hub.agentIn(tenantId, "uploader");
    const first = await stage(agent, "first", 3000);
    await agent.large.appendChunk({ uploadId: first, chunk: chunk(0, 3000) });
    // 3000 staged + 2000 declared > 4096.
    const err = await expectCode(
      agent.large.beginUpload({ contextId: "second", type: "blob", totalSize: 2000n }),
      Code.ResourceExhausted,
    );
    expect(err.findDetails(RetryInfoSchema)[0]?.limit).toBe("tenant.storage_bytes");
    // A session begun while there was room is checked again as its chunks arrive.
    const small = await stage(agent, "small", 1000);
    const third = await stage(agent, "third", 1000);
    await agent.large.appendChunk({ uploadId: small, chunk: chunk(0, 1000) });
    await expectCode(
      agent.large.appendChunk({ uploadId: third, chunk: chunk(0, 1000) }),
      Code.ResourceExhausted,
    );
    expect((await agent.large.getUploadStatus({ uploadId: third })).upload?.verifiedOffset).toBe(
      0n,
    );

    await agent.large.abortUpload({ uploadId: first });
    await agent.large.appendChunk({ uploadId: third, chunk: chunk(0, 1000) });
    expect((await agent.large.getUploadStatus({ uploadId: third })).upload?.verifiedOffset).toBe(
      1000n,
    );
  });

  it("bounds staging per tenant and per hub, and an expired upload frees its bytes", async () => {
    const hub = await startTestHub({
      limits: { maxStagedBytesPerTenant: 64 * KiB, maxStagedBytesPerHub: 96 * KiB },
    });
    t = hub;
    const tenantA = await hub.newTenant();
    const tenantB = await hub.newTenant();
    const a = await hub.agentIn(tenantA, "a");
    const b = await hub.agentIn(tenantB, "b");
    // Declared past the per-tenant bound.
    const err = await expectCode(
      a.large.beginUpload({ contextId: "big", type: "blob", totalSize: BigInt(65 * KiB) }),
      Code.ResourceExhausted,
    );
    expect(err.findDetails(RetryInfoSchema)[0]?.limit).toBe("upload.staged_bytes_per_tenant");

    const a1 = await stage(a, "a1", 48 * KiB);
    const a2 = await stage(a, "a2", 48 * KiB);
    await a.large.appendChunk({ uploadId: a1, chunk: chunk(0, 48 * KiB) });
    await a.large.appendChunk({ uploadId: a2, chunk: chunk(0, 16 * KiB) });
    const perTenant = await expectCode(
      a.large.appendChunk({ uploadId: a2, chunk: chunk(16 * KiB, 16 * KiB) }),
      Code.ResourceExhausted,
    );
    expect(perTenant.findDetails(RetryInfoSchema)[0]?.limit).toBe("upload.staged_bytes_per_tenant");

    // Tenant B has room of its own, but the node holds 64 KiB of A's: 96 KiB is the node's bound.
    const b1 = await stage(b, "b1", 48 * KiB);
    await b.large.appendChunk({ uploadId: b1, chunk: chunk(0, 32 * KiB) });
    const perHub = await expectCode(
      b.large.appendChunk({ uploadId: b1, chunk: chunk(32 * KiB, 16 * KiB) }),
      Code.ResourceExhausted,
    );
    expect(perHub.findDetails(RetryInfoSchema)[0]?.limit).toBe("upload.staged_bytes_per_hub");

    // A's uploads are abandoned: after the idle timeout they expire and their bytes are freed.
    hub.clock.advance(15 * 60_000);
    expect((await a.large.getUploadStatus({ uploadId: a1 })).upload?.state).toBeGreaterThan(1);
    expect((await a.large.getUploadStatus({ uploadId: a2 })).upload?.state).toBeGreaterThan(1);
    const b2 = await stage(b, "b2", 16 * KiB);
    await b.large.appendChunk({ uploadId: b2, chunk: chunk(0, 16 * KiB) });
  });

  it("counts what was staged through another node sharing the backend", async () => {
    const backend = createMemoryBackend();
    const keys = await generateDevKeys();
    const clock = new ManualClock();
    const node = () =>
      startTestHub({ backend, keys, clock, limits: { maxStagedBytesPerTenant: 64 * KiB } });
    const first = await node();
    const second = await node();
    t = {
      ...second,
      close: async () => {
        await Promise.all([first.close(), second.close()]);
      },
    };
    const tenantId = await first.newTenant();
    const a = await first.agentIn(tenantId, "a");
    const a1 = await stage(a, "a1", 64 * KiB);
    await a.large.appendChunk({ uploadId: a1, chunk: chunk(0, 48 * KiB) });

    // Through the second node: the 48 KiB staged through the first count (the sessions are stored).
    const onSecond = second.clients(a.token);
    const a2 = await stage({ ...a, ...onSecond }, "a2", 32 * KiB);
    const err = await expectCode(
      onSecond.large.appendChunk({ uploadId: a2, chunk: chunk(0, 32 * KiB) }),
      Code.ResourceExhausted,
    );
    expect(err.findDetails(RetryInfoSchema)[0]?.limit).toBe("upload.staged_bytes_per_tenant");
    // The first upload continues through the second node, within the bound.
    await onSecond.large.appendChunk({ uploadId: a1, chunk: chunk(48 * KiB, 16 * KiB) });
    expect((await onSecond.large.getUploadStatus({ uploadId: a1 })).upload?.verifiedOffset).toBe(
      BigInt(64 * KiB),
    );
  });
});
