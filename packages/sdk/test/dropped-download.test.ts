// A download whose client goes away while the hub waits to write (the client stopped reading, so
// the hub's write never drains) must still end on the hub: its blob file is closed and its stream
// slot freed at once, not when the garbage collector finds them ("Closing file descriptor N on
// garbage collection").

import { once } from "node:events";
import { connect } from "node:http2";
import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { type BlobStore, createHub, createMemoryBackend, type Hub, silentLogger } from "@acb/hub";
import { createClient as createConnectClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, expect, it } from "vitest";
import { createClient } from "../src/node.js";

const MiB = 1024 * 1024;

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The events of the first blob read: its first piece read, its file closed. */
function readEvents() {
  return { firstPiece: deferred(), closed: deferred() };
}

let hub: Hub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

it("ends a download on the hub when its client disconnects while the hub waits to write", async () => {
  const events = readEvents();
  const backend = createMemoryBackend();
  const blobs: BlobStore = {
    ...backend.blobs,
    async *read(ref, offset, length, pieceSize) {
      try {
        for await (const piece of backend.blobs.read(ref, offset, length, pieceSize)) {
          events.firstPiece.resolve();
          yield piece;
        }
      } finally {
        events.closed.resolve();
      }
    },
  };
  hub = await createHub({ logger: silentLogger, backend: { ...backend, blobs } });
  const listener = await hub.listen();
  const admin = createConnectTransport({
    baseUrl: listener.url,
    httpVersion: "1.1",
    interceptors: [bearer(await hub.issueAdminToken())],
  });
  const tenantId = "dropped";
  await createConnectClient(AdminService, admin).createTenant({ tenantId });
  const token =
    (
      await createConnectClient(AuthService, admin).issueToken({
        tenantId,
        agentId: "alice",
        roles: [Role.AGENT_FULL],
      })
    ).tokens?.accessToken ?? "";
  const alice = createClient({ baseUrl: listener.url, token });
  const ctx = await alice
    .streamContext("archive")
    .fromReader(new Uint8Array(4 * MiB))
    .send();

  // A raw HTTP/2 client that grants the hub no flow-control window: the hub's first chunk cannot
  // be sent, so its write waits for a "drain" that never comes.
  const session = connect(listener.url, { settings: { initialWindowSize: 0 } });
  const body = Buffer.from(JSON.stringify({ contextId: ctx.id }));
  const envelope = Buffer.alloc(5 + body.length);
  envelope.writeUInt32BE(body.length, 1);
  body.copy(envelope, 5);
  const req = session.request({
    ":method": "POST",
    ":path": "/acb.v1.LargeContextService/DownloadContext",
    "content-type": "application/connect+json",
    authorization: `Bearer ${token}`,
  });
  req.on("error", () => {});
  req.end(envelope);
  await once(req, "response");
  await events.firstPiece.promise;
  session.destroy();

  // Without the hub ending it, `closed` never resolves and the test times out.
  await events.closed.promise;
  let received = 0;
  for await (const piece of alice.receiveContextStream(ctx.id)) received += piece.length;
  expect(received).toBe(4 * MiB);
  await alice.close();
});
