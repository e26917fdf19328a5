// Oversized requests and gzip bombs, sent by hand over HTTP/2: the protocol library refuses them
// before any interceptor runs, and the hub must still record each refusal in the audit log —
// under the tenant of the credential when it verifies, with the peer and the declared size.

import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type Agent,
  auditedWith,
  newCorrelationId,
  startTestHub,
  type TestHub,
} from "./security-harness.js";

const LIMIT = 64 * 1024;
let t: TestHub;
let tenantId: string;
let alice: Agent;

beforeAll(async () => {
  t = await startTestHub({ limits: { maxRequestBytes: LIMIT } });
  tenantId = await t.newTenant();
  alice = await t.agentIn(tenantId, "alice");
});

afterAll(async () => {
  await t?.close();
});

// Repeats within a minute share one record: each case starts in a minute of its own.
beforeEach(() => {
  t.clock.advance(60_000);
});

interface RawAnswer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** POSTs `body` to `path` with `headers` over one HTTP/2 connection; resolves with the answer. */
async function post(
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<RawAnswer> {
  const session = http2.connect(t.url);
  try {
    return await new Promise<RawAnswer>((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": path, ...headers });
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => {
        head = h;
      });
      req.on("trailers", (h) => {
        trailers = h;
      });
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () =>
        resolve({
          status: Number(head[":status"]),
          headers: head,
          trailers,
          body: Buffer.concat(chunks),
        }),
      );
      req.on("error", reject);
      // The hub may answer before reading the whole body; a reset of our upload is fine.
      req.end(body);
    });
  } finally {
    session.close();
  }
}

const envelope = (message: Buffer, flags = 0) => {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
};

/** A CreateContext request whose payload data is `size` bytes (field 3 → payload, field 2 → data). */
function bigCreateContext(size: number): Buffer {
  const data = Buffer.alloc(size, 0x61);
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return Buffer.from(out);
  };
  const payload = Buffer.concat([Buffer.from([0x12]), varint(data.length), data]);
  return Buffer.concat([Buffer.from([0x1a]), varint(payload.length), payload]);
}

async function auditRecord(cid: string) {
  return vi.waitFor(
    async () => {
      const found = (await auditedWith(t, cid)).find((r) => r.action === "quota.exceeded");
      if (!found) throw new Error(`no quota.exceeded record for ${cid} yet`);
      return found;
    },
    { timeout: 5_000, interval: 20 },
  );
}

describe("refusals before the interceptors are audited", () => {
  it("a Connect unary body over the limit: RESOURCE_EXHAUSTED, audited under the caller's tenant", async () => {
    const cid = newCorrelationId();
    const res = await post(
      "/acb.v1.ContextService/CreateContext",
      {
        "content-type": "application/proto",
        authorization: `Bearer ${alice.token}`,
        "x-correlation-id": cid,
      },
      bigCreateContext(LIMIT * 4),
    );
    expect(JSON.parse(res.body.toString()).code).toBe("resource_exhausted");
    const r = await auditRecord(cid);
    expect(r.tenantId).toBe(tenantId);
    expect(r.actor).toBe("alice");
    expect(r.outcome).toBe("denied");
    expect(r.target).toBe("acb.v1.ContextService/CreateContext");
    expect(r.details["peer"]).toMatch(/127\.0\.0\.1/);
    expect(r.details["limit"]).toBe("request.max_bytes");
  });

  it("a gRPC message over the limit: resource exhausted in the trailers, audited", async () => {
    const cid = newCorrelationId();
    const res = await post(
      "/acb.v1.ContextService/CreateContext",
      {
        "content-type": "application/grpc",
        te: "trailers",
        authorization: `Bearer ${alice.token}`,
        "x-correlation-id": cid,
      },
      envelope(bigCreateContext(LIMIT * 2)),
    );
    const status = res.trailers["grpc-status"] ?? res.headers["grpc-status"];
    expect(Number(status)).toBe(Code.ResourceExhausted);
    const r = await auditRecord(cid);
    expect(r.tenantId).toBe(tenantId);
  });

  it("a gzip bomb (small on the wire, huge inflated): refused and audited, also without a credential", async () => {
    const bomb = gzipSync(bigCreateContext(16 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(LIMIT);
    const cid = newCorrelationId();
    const res = await post(
      "/acb.v1.ContextService/CreateContext",
      {
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-encoding": "gzip",
        "x-correlation-id": cid,
      },
      envelope(bomb, 1),
    );
    const status = res.trailers["grpc-status"] ?? res.headers["grpc-status"];
    expect(Number(status)).toBe(Code.ResourceExhausted);
    const r = await auditRecord(cid);
    expect(r.tenantId).toBe("");
    expect(r.actor).toBe("anonymous");
    expect(r.details["grpc_encoding"]).toBe("gzip");
    expect(r.details["peer"]).toMatch(/127\.0\.0\.1/);

    // More bombs in the same minute are counted in that record, not filed one by one.
    const headers = {
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-encoding": "gzip",
    };
    for (let i = 0; i < 5; i++) {
      await post("/acb.v1.ContextService/CreateContext", headers, envelope(bomb, 1));
    }
    await vi.waitFor(
      async () => {
        const again = (await auditedWith(t, cid)).find((x) => x.action === "quota.exceeded");
        expect(again?.details["count"]).toBe("6");
      },
      { timeout: 5_000, interval: 20 },
    );
  });

  it("a forged credential on an oversized body: audited without a tenant, marked as not verified", async () => {
    const cid = newCorrelationId();
    await post(
      "/acb.v1.ContextService/CreateContext",
      {
        "content-type": "application/proto",
        authorization: "Bearer not-a-token",
        "x-correlation-id": cid,
      },
      bigCreateContext(LIMIT * 2),
    );
    const r = await auditRecord(cid);
    expect(r.tenantId).toBe("");
    expect(r.details["credential"]).toBe("did not verify");
  });
});
