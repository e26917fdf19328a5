// An open Receive stream keeps its agent ONLINE: the stream renews the agent's presence every
// heartbeat interval for as long as it is open, with a repeating timer where the hub's clock has
// one (ManualClock, the system clock) and by re-arming a one-shot timer where it has not (a Clock
// of the application's own). Time moves only through the clock.

import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { MessagingService, ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import { AgentStatus, RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it, onTestFinished } from "vitest";
import { type Clock, ManualClock } from "../src/clock.js";
import { createHub } from "../src/hub.js";

const silent = { log() {} };

const clocks: [string, (manual: ManualClock) => Clock][] = [
  ["a clock with repeating timers", (manual) => manual],
  [
    "a clock with one-shot timers only",
    (manual) => ({ now: () => manual.now(), setTimer: (ms, fn) => manual.setTimer(ms, fn) }),
  ],
];

describe.each(clocks)("an open Receive stream, on %s", (_name, clockOf) => {
  it("keeps its agent ONLINE past the presence timeout while open", async () => {
    const manual = new ManualClock();
    const hub = await createHub({ clock: clockOf(manual), logger: silent });
    onTestFinished(() => hub.close());
    const { url } = await hub.listen({ host: "127.0.0.1", port: 0 });
    const adminToken = await hub.issueAdminToken();
    const admin = { headers: { authorization: `Bearer ${adminToken}` } };
    const transport = createConnectTransport({
      baseUrl: url,
      httpVersion: "2",
      useBinaryFormat: true,
    });
    await createClient(AdminService, transport).createTenant(
      {
        tenantId: "t-presence",
        tier: Tier.ENTERPRISE,
        settings: { presenceTimeout: { seconds: 5n }, heartbeatInterval: { seconds: 1n } },
      },
      admin,
    );
    const issued = await createClient(AuthService, transport).issueToken(
      { tenantId: "t-presence", agentId: "listener", roles: [Role.AGENT_FULL] },
      admin,
    );
    const auth = { headers: { authorization: `Bearer ${issued.tokens?.accessToken ?? ""}` } };
    const registry = createClient(RegistryService, transport);
    await registry.register({ agentId: "listener", type: "test" }, auth);
    const status = async () =>
      (await registry.getAgent({ agentId: "listener" }, auth)).agent?.status;

    const stop = new AbortController();
    onTestFinished(() => stop.abort());
    const stream = createClient(MessagingService, transport)
      .receive({}, { ...auth, signal: stop.signal })
      [Symbol.asyncIterator]();
    expect((await stream.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);

    // Twice the presence timeout, a second at a time; each check is a round trip, after which
    // the presence update the timer started is stored.
    for (let s = 1; s <= 10; s++) {
      manual.advance(1_000);
      expect(await status(), `after ${s} s`).toBe(AgentStatus.ONLINE);
    }
    stream.return?.().catch(() => {});
  });
});
