// A connected client outlives its hub: when the hub comes back with its state (same epoch) every
// live stream resumes from its cursor and nothing is missed; when a new in-memory hub comes back on
// the same port (another epoch), the client notices by itself, tells the application and registers
// its agent again; when that new hub has new signing keys (`acb-hub dev` restarted: createHub in
// dev mode, as the CLI runs it), the client reports "unauthenticated" and resumes once given new
// credentials.
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { createHub, type Hub, ManualClock, silentLogger } from "@acb/hub";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient as createConnectClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type AcbClient,
  AcbError,
  type AgentInfo,
  type ConnectionState,
  createClient,
  type EpochChange,
  type MeetingEvent,
} from "../src/node.js";

const fast = { initialDelayMs: 20, maxDelayMs: 200 };
const tenantId = "t-restart";

/** A new in-memory dev-mode hub (new signing keys) with the test tenant, and tokens minted by it. */
async function startHub(port = 0, heartbeatIntervalMs = 10_000) {
  const hub = await createHub({
    mode: "dev",
    clock: new ManualClock(Date.now()),
    logger: silentLogger,
  });
  // Provision on a private listener first, so clients only reach the public port once the
  // tenant exists (as an operator would restore it before opening the doors).
  const setup = await hub.listen({ port: 0 });
  const admin = await hub.issueAdminToken();
  const transport = createConnectTransport({
    baseUrl: setup.url,
    httpVersion: "1.1",
    interceptors: [
      (next) => (req) => {
        req.header.set("Authorization", `Bearer ${admin}`);
        return next(req);
      },
    ],
  });
  await createConnectClient(AdminService, transport).createTenant({
    tenantId,
    tier: Tier.ENTERPRISE,
    settings: {
      heartbeatInterval: durationFromMs(heartbeatIntervalMs),
      presenceTimeout: durationFromMs(600_000),
    },
  });
  const auth = createConnectClient(AuthService, transport);
  const tokens = new Map<string, string>();
  for (const agentId of ["alice", "bob"]) {
    const res = await auth.issueToken({ tenantId, agentId, roles: [Role.AGENT_FULL] });
    tokens.set(agentId, res.tokens?.accessToken ?? "");
  }
  const listener = await hub.listen({ port });
  return { hub, listener, setup, tokens };
}

/** Resolves on the first value `pick` accepts among the client's events of that name. */
function nextEvent<T>(subscribe: (fn: (v: T) => void) => () => void, accept: (v: T) => boolean) {
  return new Promise<T>((resolve) => {
    const stop = subscribe((v) => {
      if (accept(v)) {
        stop();
        resolve(v);
      }
    });
  });
}

const hubs: Hub[] = [];
const clients: AcbClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

describe("a client whose hub goes away", () => {
  it("resumes every stream with nothing missed when the hub kept its state (same epoch)", async () => {
    const first = await startHub();
    hubs.push(first.hub);
    const port = first.listener.port;
    const alice = createClient({
      baseUrl: first.listener.url,
      token: first.tokens.get("alice") ?? "",
    });
    const bob = createClient({ baseUrl: first.setup.url, token: first.tokens.get("bob") ?? "" });
    clients.push(alice, bob);
    const states: ConnectionState[] = [];
    const epochChanges: EpochChange[] = [];
    alice.on("state", (s) => states.push(s));
    alice.on("epoch-changed", (e) => epochChanges.push(e));

    await alice.register({ id: "alice", type: "worker", heartbeat: false });
    await bob.register({ id: "bob", type: "worker", heartbeat: false });
    const note = await bob.shareContext("note", { n: 0 });

    const messages: number[] = [];
    const changes: number[] = [];
    const meetingEvents: MeetingEvent[] = [];
    let gotAll: () => void = () => {};
    const allSeen = new Promise<void>((resolve) => {
      gotAll = resolve;
    });
    const check = () => {
      if (messages.length === 3 && changes.length === 3 && meetingEvents.length === 1) gotAll();
    };
    alice.handle<{ n: number }>("ping", (m) => {
      messages.push(m.value.n);
      check();
    });
    const receiver = alice.receive({ backoff: fast });
    const sub = alice.subscribe<{ n: number }>(
      "note",
      (c) => {
        changes.push(c.context.value.n);
        check();
      },
      { backoff: fast },
    );
    const meeting = await alice.meetings.create({ title: "sync", participants: ["alice", "bob"] });
    const iterator = meeting.events({ backoff: fast })[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.kind).toBe("ready");
    void (async () => {
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
        // A resumed stream announces "ready" again; only the meeting's own events count.
        if (r.value.kind === "ready") continue;
        meetingEvents.push(r.value);
        check();
      }
    })();
    await Promise.all([receiver.ready, sub.ready]);
    const epoch = (await alice.serverInfo()).hubEpoch;
    expect(alice.state).toBe("connected");

    // Alice's port closes; the hub (and Bob's listener) stay up, so the hub keeps its state.
    const down = nextEvent<ConnectionState>(
      (f) => alice.on("state", f),
      (s) => s === "reconnecting",
    );
    await first.listener.close(0);
    await down;
    for (let n = 1; n <= 3; n++) {
      await bob.updateContext(note.id, { n });
      await bob.sendTo("alice", "ping", { n });
    }
    await bob.meetings.open(meeting.id).join();

    const up = nextEvent<ConnectionState>(
      (f) => alice.on("state", f),
      (s) => s === "connected",
    );
    await first.hub.listen({ port });
    await allSeen;
    await up;
    expect(messages.sort()).toEqual([1, 2, 3]);
    expect(changes).toEqual([1, 2, 3]);
    expect(meetingEvents.map((e) => [e.kind, e.actorId])).toEqual([["joined", "bob"]]);
    expect(epochChanges).toEqual([]);
    expect(alice.epoch).toBe(epoch);
    expect(states).toContain("reconnecting");
  }, 20_000);

  it("reports a new epoch when a new hub answers on the same port, and refuses old cursors", async () => {
    const first = await startHub();
    hubs.push(first.hub);
    const port = first.listener.port;
    let token = first.tokens.get("alice") ?? "";
    const alice = createClient({ baseUrl: first.listener.url, token: () => token });
    clients.push(alice);
    let reregistered: (agent: AgentInfo) => void = () => {};
    const registeredAgain = new Promise<AgentInfo>((resolve) => {
      reregistered = resolve;
    });
    const session = await alice.register({
      id: "alice",
      type: "worker",
      heartbeat: false,
      onReregistered: (agent) => reregistered(agent),
    });
    const firstSession = session.sessionId;
    const streamErrors: unknown[] = [];
    let wentLiveAgain: () => void = () => {};
    const liveAgain = new Promise<void>((resolve) => {
      wentLiveAgain = resolve;
    });
    let lost = false;
    const receiver = alice.receive({
      backoff: fast,
      onStateChange: (s) => {
        if (s === "reconnecting") lost = true;
        if (s === "live" && lost) wentLiveAgain();
      },
    });
    const sub = alice.subscribe("note", () => {}, {
      backoff: fast,
      onError: (e) => streamErrors.push(e),
    });
    const meeting = await alice.meetings.create({ title: "sync", participants: ["alice"] });
    const meetingDone = (async () => {
      for await (const _ of meeting.events({ backoff: fast })) {
        // Only the end of the iteration matters here.
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    await Promise.all([receiver.ready, sub.ready]);
    const oldEpoch = (await alice.serverInfo()).hubEpoch;

    const changed = nextEvent<EpochChange>(
      (f) => alice.on("epoch-changed", f),
      () => true,
    );
    const down = nextEvent<ConnectionState>(
      (f) => alice.on("state", f),
      (s) => s === "reconnecting",
    );
    await first.hub.close();
    await down;
    const second = await startHub(port);
    hubs.push(second.hub);
    token = second.tokens.get("alice") ?? "";

    const change = await changed;
    expect(change).toEqual({ previousEpoch: oldEpoch, epoch: second.hub.epoch });
    expect(alice.epoch).toBe(second.hub.epoch);
    // The subscription's cursor names the old epoch: the hub refuses it, and the SDK says why.
    const subError = await sub.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(subError).toBeInstanceOf(AcbError);
    expect((subError as AcbError).reason).toBe("EPOCH_CHANGED");
    expect(streamErrors).toHaveLength(1);
    const meetingError = await meetingDone;
    expect(meetingError).toBeInstanceOf(AcbError);
    // The new hub does not know Alice: the session registers her again by itself, and her
    // delivery stream, refused until then, waits for it and goes live again.
    const agent = await registeredAgain;
    expect(agent.id).toBe("alice");
    expect(session.sessionId).not.toBe(firstSession);
    await liveAgain;
    expect(receiver.state).toBe("live");
    expect(alice.state).toBe("connected");
    const bob = createClient({
      baseUrl: second.listener.url,
      token: second.tokens.get("bob") ?? "",
    });
    clients.push(bob);
    expect((await bob.getAgent("alice")).status).toBe("online");
  }, 20_000);

  it("reports a refused credential when `acb-hub dev` restarts with new keys, and recovers with new ones", async () => {
    // Heartbeats every 50 ms, so the test sees several after the recovery.
    const first = await startHub(0, 50);
    hubs.push(first.hub);
    const port = first.listener.port;
    const alice = createClient({
      baseUrl: first.listener.url,
      token: first.tokens.get("alice") ?? "",
    });
    clients.push(alice);
    const refusals: AcbError[] = [];
    alice.on("unauthenticated", (e) => refusals.push(e));
    const sessionErrors: AcbError[] = [];
    let reregistered: (agent: AgentInfo) => void = () => {};
    const registeredAgain = new Promise<AgentInfo>((resolve) => {
      reregistered = resolve;
    });
    // No id: the session registers under the credential's subject.
    const session = await alice.register({
      type: "worker",
      onError: (e) => sessionErrors.push(AcbError.from(e)),
      onReregistered: (agent) => reregistered(agent),
    });
    const firstSession = session.sessionId;
    expect(session.agent.id).toBe("alice");
    const receiver = alice.receive({ backoff: fast });
    await receiver.ready;
    const oldEpoch = (await alice.serverInfo()).hubEpoch;

    const changed = nextEvent<EpochChange>(
      (f) => alice.on("epoch-changed", f),
      () => true,
    );
    const refused = nextEvent<ConnectionState>(
      (f) => alice.on("state", f),
      (s) => s === "unauthenticated",
    );
    await first.hub.close();
    const second = await startHub(port, 50);
    hubs.push(second.hub);

    // Alice's token is signed by keys the new hub never had: the client says so, and GetServerInfo
    // (readable without a credential) still tells it that the hub lost its state.
    await refused;
    expect(alice.state).toBe("unauthenticated");
    expect(await changed).toEqual({ previousEpoch: oldEpoch, epoch: second.hub.epoch });
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.code).toBe(Code.Unauthenticated);
    expect(receiver.state).not.toBe("closed");

    // The application supplies a fresh credential: the session registers again, the delivery
    // stream resumes, and heartbeats carry on without an error.
    const connected = nextEvent<ConnectionState>(
      (f) => alice.on("state", f),
      (s) => s === "connected",
    );
    alice.setCredentials(second.tokens.get("alice") ?? "");
    const agent = await registeredAgain;
    expect(agent.id).toBe("alice");
    expect(session.sessionId).not.toBe(firstSession);
    await connected;
    if (receiver.state !== "live") {
      await nextEvent<ConnectionState>(
        (f) => alice.on("state", f),
        () => receiver.state === "live",
      );
    }
    const errorsBefore = sessionErrors.length;
    const beats = session.heartbeats;
    await vi.waitFor(() => expect(session.heartbeats).toBeGreaterThanOrEqual(beats + 3), {
      timeout: 10_000,
    });
    expect(sessionErrors.slice(errorsBefore)).toEqual([]);
    // Refused credentials are reported once, by the client, never as heartbeat failures.
    expect(sessionErrors.filter((e) => e.code === Code.Unauthenticated)).toEqual([]);
    expect(sessionErrors.filter((e) => e.reason === "SESSION_REPLACED")).toEqual([]);
    expect(refusals).toHaveLength(1);
    expect(alice.state).toBe("connected");
  }, 20_000);

  it("reports a new epoch when the hub restarts during the client's first call", async () => {
    const first = await startHub();
    hubs.push(first.hub);
    const port = first.listener.port;
    let second: Awaited<ReturnType<typeof startHub>> | undefined;
    // Restarts the hub while the client's first call (Register) is on its way, and gives that
    // call the new hub's credential so it succeeds there.
    const restartOnFirstRegister: Interceptor = (next) => async (req) => {
      if (req.method.name === "Register" && second === undefined) {
        await first.hub.close();
        second = await startHub(port);
        hubs.push(second.hub);
        req.header.set("Authorization", `Bearer ${second.tokens.get("alice")}`);
      }
      return next(req);
    };
    const alice = createClient({
      baseUrl: first.listener.url,
      token: () => (second ?? first).tokens.get("alice") ?? "",
      interceptors: [restartOnFirstRegister],
    });
    clients.push(alice);
    const changed = nextEvent<EpochChange>(
      (f) => alice.on("epoch-changed", f),
      () => true,
    );
    await alice.register({ id: "alice", type: "worker", heartbeat: false });
    // The client learnt the first hub's epoch before its first call went out; the next stream
    // to go live meets the new one.
    const receiver = alice.receive({ backoff: fast });
    await receiver.ready;
    expect(await changed).toEqual({ previousEpoch: first.hub.epoch, epoch: second?.hub.epoch });
    expect(alice.epoch).toBe(second?.hub.epoch);
  }, 20_000);
});
