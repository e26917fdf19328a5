// The meeting rules against the in-memory backend, with time driven by a ManualClock. Over the
// wire (errors, tenants, watching) they are tested in test/meetings-wire.test.ts.

import { Role } from "@acb/gen/acb/v1/auth_pb";
import {
  WatchMeetingResponse_Kind as Kind,
  MeetingEndReason,
  MeetingState,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
import { ConnectError } from "@connectrpc/connect";
import { beforeEach, describe, expect, it } from "vitest";
import type { Identity } from "../auth/identity.js";
import type { TokenService } from "../auth/token-service.js";
import { ManualClock } from "../clock.js";
import { defaultLimits } from "../hub.js";
import type { HubContext } from "../hub-context.js";
import { silentLogger } from "../logger.js";
import { createMemoryBackend } from "../storage/memory/memory-backend.js";
import type { Backend } from "../storage/types.js";
import { type CreateMeetingInput, Meetings } from "./meetings.js";

const TENANT = "t1";
const PRESENCE_MS = 30_000;

function hubOn(backend: Backend, clock: ManualClock): HubContext {
  return {
    backend,
    clock,
    tokens: undefined as unknown as TokenService, // meetings never mint or verify tokens
    epoch: "e1",
    nodeId: "n1",
    limits: defaultLimits,
    logger: silentLogger,
    async tenant(id: string) {
      const t = await backend.tenants.get(id);
      if (!t) throw new Error(`no tenant ${id}`);
      return t;
    },
    findTenant: (id: string) => backend.tenants.get(id),
  } as unknown as HubContext;
}

const agent = (agentId: string, roles = [Role.AGENT_FULL]): Identity => ({
  tenantId: TENANT,
  agentId,
  roles: new Set(roles),
  credentialKind: "jwt",
  expiresAt: undefined,
});

const input = (over: Partial<CreateMeetingInput> = {}): CreateMeetingInput => ({
  meetingId: "m1",
  title: "Planning",
  agenda: [],
  metadata: {},
  participantIds: ["a", "b", "c", "d"],
  policy: MeetingTurnPolicy.ROUND_ROBIN,
  moderatorId: "",
  turnTimeoutMs: undefined,
  maxDurationMs: undefined,
  ...over,
});

const speech = (text: string) => ({
  contentType: "text/plain",
  data: new TextEncoder().encode(text),
  passTurnAfter: false,
  turnNumber: 0,
  idempotencyKey: "",
});

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return `${e.code}:${e.message}`;
  }
  throw new Error("expected the call to fail");
}

let clock: ManualClock;
let backend: Backend;
let meetings: Meetings;

beforeEach(async () => {
  clock = new ManualClock();
  backend = createMemoryBackend();
  await backend.tenants.create({
    id: TENANT,
    displayName: "",
    tier: 1,
    quotas: {
      maxAgents: 0,
      tenantMessagesPerMinute: 0,
      agentMessagesPerMinute: 0,
      tenantBytesPerMinute: 0,
      agentBytesPerMinute: 0,
      agentConcurrentStreams: 0,
      storageBytes: 0,
      messagesPerMonth: 0,
    },
    settings: {
      ackDeadlineMs: 30_000,
      maxDeliveryAttempts: 5,
      dedupeWindowMs: 0,
      heartbeatIntervalMs: 10_000,
      presenceTimeoutMs: PRESENCE_MS,
      defaultMessageTtlMs: 0,
    },
    createdAt: 0,
  });
  meetings = new Meetings(hubOn(backend, clock));
});

async function startedWith(over: Partial<CreateMeetingInput>, joiners: string[]) {
  await meetings.create(agent(joiners[0] ?? "a"), input(over));
  for (const id of joiners) await meetings.join(agent(id), "m1");
  return meetings.start(agent(joiners[0] ?? "a"), "m1");
}

const kinds = async () =>
  (await backend.meetings.readEvents(TENANT, "m1", 0, 1000)).map((e) => Kind[e.kind]);

describe("meetings", () => {
  it("round-robin gives the turn to four agents in list order, wrapping around", async () => {
    const started = await startedWith({}, ["a", "b", "c", "d"]);
    expect(started.turnHolderId).toBe("a");
    const order = [started.turnHolderId];
    for (let i = 0; i < 5; i++) {
      const holder = (await meetings.get(agent("a"), "m1")).turnHolderId;
      const after = await meetings.passTurn(agent(holder), "m1", 0);
      order.push(after.turnHolderId);
    }
    expect(order).toEqual(["a", "b", "c", "d", "a", "b"]);
    expect((await meetings.get(agent("a"), "m1")).turnNumber).toBe(6);
  });

  it("refuses a speaker who does not hold the turn, naming the holder", async () => {
    await startedWith({}, ["a", "b"]);
    const refused = await reasonOf(meetings.speak(agent("b"), "m1", speech("me first")));
    expect(refused).toContain('"a" does (turn 1)');
    const { entry } = await meetings.speak(agent("a"), "m1", speech("hello"));
    expect(entry.speakerId).toBe("a");
  });

  it("times a turn out at its deadline and moves on, recording the event", async () => {
    const m = await startedWith({ turnTimeoutMs: 5_000 }, ["a", "b", "c"]);
    expect(m.turnDeadline).toBe(clock.now() + 5_000);
    clock.advance(4_999);
    expect((await meetings.get(agent("a"), "m1")).turnHolderId).toBe("a");
    clock.advance(1);
    // The timer applies it; wait for its write, not for time. Reading first would also apply it,
    // so check the stored record, which only the timer can have changed.
    await meetings.idle();
    expect((await backend.meetings.get(TENANT, "m1"))?.turnHolderId).toBe("b");
    const events = await backend.meetings.readEvents(TENANT, "m1", 0, 100);
    const timedOut = events.find((e) => e.kind === Kind.TURN_TIMED_OUT);
    expect(timedOut?.subjectId).toBe("a");
    expect(timedOut?.turnHolderId).toBe("");
    const at = events.findIndex((e) => e.kind === Kind.TURN_TIMED_OUT);
    expect(Kind[events[at + 1]?.kind ?? 0]).toBe("TURN_GRANTED");
  });

  it("applies an overdue deadline on access, and a new node re-arms stored deadlines", async () => {
    await startedWith({ turnTimeoutMs: 5_000 }, ["a", "b"]);
    // This node stops (its timers with it); time passes; another node on the same backend reads.
    meetings.close();
    clock.advance(6_000);
    const other = new Meetings(hubOn(backend, clock));
    expect((await other.get(agent("a"), "m1")).turnHolderId).toBe("b");
    other.close();

    // A node that starts later arms timers from the stored deadlines without any access.
    const third = new Meetings(hubOn(backend, clock));
    await third.resume();
    clock.advance(5_000);
    await third.idle();
    expect((await backend.meetings.get(TENANT, "m1"))?.turnHolderId).toBe("a");
    third.close();
  });

  it("lets the moderator grant turns, and nobody else", async () => {
    await startedWith(
      { policy: MeetingTurnPolicy.MODERATED, moderatorId: "mod", participantIds: ["a", "b"] },
      ["mod", "a", "b"],
    );
    expect((await meetings.get(agent("a"), "m1")).turnHolderId).toBe("");
    const raised = await meetings.requestTurn(agent("b"), "m1");
    expect(raised).toMatchObject({ granted: false, position: 1 });
    expect(await reasonOf(meetings.grantTurn(agent("a"), "m1", "b"))).toMatch(/^7:/);
    expect((await meetings.grantTurn(agent("mod"), "m1", "b")).turnHolderId).toBe("b");
    const taken = await meetings.grantTurn(agent("mod"), "m1", "a");
    expect(taken.turnHolderId).toBe("a");
    expect(taken.turnNumber).toBe(2);
    expect(taken.queue).toEqual([]);
    expect(await reasonOf(meetings.grantTurn(agent("mod"), "m1", "zed"))).toContain(
      "NOT_A_PARTICIPANT",
    );
  });

  it("frees the turn of a holder who leaves, and gives it to the next", async () => {
    await startedWith({}, ["a", "b", "c"]);
    const after = await meetings.leave(agent("a"), "m1");
    expect(after.turnHolderId).toBe("b");
    expect((await kinds()).slice(-2)).toEqual(["LEFT", "TURN_GRANTED"]);
    // Round-robin skips the participant who left.
    await meetings.passTurn(agent("b"), "m1", 0);
    expect((await meetings.passTurn(agent("c"), "m1", 0)).turnHolderId).toBe("b");
  });

  it("takes the turn from a holder whose presence is lost", async () => {
    const seen = clock.now();
    for (const id of ["a", "b"]) {
      await backend.registry.put(
        {
          tenantId: TENANT,
          id,
          type: "",
          location: "",
          capabilities: [],
          metadata: {},
          groups: [],
          createdAt: seen,
          lastSeen: id === "a" ? seen : seen + 20_000,
          sessionId: "s",
        },
        new Uint8Array(),
      );
    }
    await startedWith({}, ["a", "b"]);
    clock.advance(PRESENCE_MS);
    await meetings.idle();
    expect((await backend.meetings.get(TENANT, "m1"))?.turnHolderId).toBe("b");
    const forfeited = (await backend.meetings.readEvents(TENANT, "m1", 0, 100)).find(
      (e) => e.kind === Kind.TURN_FORFEITED,
    );
    expect(forfeited?.subjectId).toBe("a");
    expect((await meetings.get(agent("b"), "m1")).participants[0]?.status).toBe(2); // JOINED
  });

  it("gives 50 concurrent requests exactly one holder and a queue in request order", async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `agent-${i}`);
    await startedWith({ policy: MeetingTurnPolicy.FREE_FOR_ALL, participantIds: ids }, ids);
    const results = await Promise.all(ids.map((id) => meetings.requestTurn(agent(id), "m1")));
    const granted = results.filter((r) => r.granted);
    expect(granted).toHaveLength(1);
    const m = await meetings.get(agent("agent-0"), "m1");
    expect(m.queue).toHaveLength(49);
    expect(new Set([m.turnHolderId, ...m.queue]).size).toBe(50);
    // The queue is the order of the TURN_REQUESTED events, each naming its position.
    const requested = (await backend.meetings.readEvents(TENANT, "m1", 0, 1000)).filter(
      (e) => e.kind === Kind.TURN_REQUESTED,
    );
    expect(requested.map((e) => e.actorId)).toEqual(m.queue);
    expect(requested.map((e) => e.queuePosition)).toEqual(ids.slice(1).map((_, i) => i + 1));
    for (const r of results.filter((x) => !x.granted)) expect(r.position).toBeGreaterThan(0);
  });

  it("keeps one holder when two nodes on one backend race (compare-and-set)", async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `agent-${i}`);
    await startedWith({ policy: MeetingTurnPolicy.FREE_FOR_ALL, participantIds: ids }, ids);
    const nodeB = new Meetings(hubOn(backend, clock));
    const results = await Promise.all(
      ids.map((id, i) => (i % 2 === 0 ? meetings : nodeB).requestTurn(agent(id), "m1")),
    );
    expect(results.filter((r) => r.granted)).toHaveLength(1);
    const m = await meetings.get(agent("agent-0"), "m1");
    expect(new Set([m.turnHolderId, ...m.queue]).size).toBe(50);
    const events = await backend.meetings.readEvents(TENANT, "m1", 0, 1000);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.kind === Kind.TURN_GRANTED)).toHaveLength(1);
    nodeB.close();
  });

  it("ends the meeting at its maximum duration", async () => {
    await startedWith({ maxDurationMs: 60_000, turnTimeoutMs: 50_000 }, ["a", "b"]);
    clock.advance(60_000);
    await meetings.idle();
    expect((await backend.meetings.get(TENANT, "m1"))?.state).toBe(MeetingState.ENDED);
    const m = await meetings.get(agent("a"), "m1");
    expect(m.endReason).toBe(MeetingEndReason.MAX_DURATION);
    expect(m.turnHolderId).toBe("");
    expect(m.endedAt).toBe((m.startedAt ?? Number.NaN) + 60_000);
    expect((await kinds()).at(-1)).toBe("ENDED");
  });

  it("speaks once per idempotency key, even after passing the turn", async () => {
    await startedWith({}, ["a", "b"]);
    const once = { ...speech("hi"), idempotencyKey: "k1", passTurnAfter: true };
    const first = await meetings.speak(agent("a"), "m1", once);
    const retry = await meetings.speak(agent("a"), "m1", once);
    expect(retry.entry).toEqual(first.entry);
    const page = await meetings.transcript(agent("b"), "m1", 10, "");
    expect(page.entries).toHaveLength(1);
  });

  it("pages the transcript and refuses another meeting's token", async () => {
    await startedWith({}, ["a", "b"]);
    for (let i = 0; i < 5; i++) {
      const holder = (await meetings.get(agent("a"), "m1")).turnHolderId;
      await meetings.speak(agent(holder), "m1", { ...speech(`s${i}`), passTurnAfter: true });
    }
    const first = await meetings.transcript(agent("a"), "m1", 2, "");
    const second = await meetings.transcript(agent("a"), "m1", 2, first.nextPageToken);
    const third = await meetings.transcript(agent("a"), "m1", 2, second.nextPageToken);
    const texts = [...first.entries, ...second.entries, ...third.entries].map((e) =>
      new TextDecoder().decode(e.data),
    );
    expect(texts).toEqual(["s0", "s1", "s2", "s3", "s4"]);
    expect(third.nextPageToken).toBe("");
    await meetings.create(agent("a"), input({ meetingId: "m2" }));
    expect(await reasonOf(meetings.transcript(agent("a"), "m2", 2, first.nextPageToken))).toMatch(
      /^3:.*another query/,
    );
  });
});
