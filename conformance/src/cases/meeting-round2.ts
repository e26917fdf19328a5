// Meetings profile, what the meeting files' surviving mutants showed no case checked: page tokens
// the hub did not issue, participants' joined_at and left_at, a turn's deadline through a grant, a
// timeout and the end, a FREE_FOR_ALL queue whose first agent went OFFLINE, and meetings created in
// the same instant listed page by page. No case waits for anything but the meeting's events, the
// registry's status changes and the hub's answers.

import {
  type Meeting,
  WatchMeetingResponse_Kind as MeetingKind,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
import { WatchAgentsResponse_Kind as AgentKind, AgentStatus } from "@acb/gen/acb/v1/registry_pb";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import { type CaseContext, duration, type TestAgent } from "../harness.js";
import { Inbox } from "../inbox.js";
import { Code, expectCode } from "../wire.js";
import { create, ev, eventLog, expectEvents, joinAll } from "./meeting-rules.js";

const requires = ["meetings"];

const ms = (ts: Timestamp | undefined) => (ts ? timestampMs(ts) : undefined);
const b64 = (json: string) => Buffer.from(json).toString("base64url");

/** A WatchAgents stream of the agent's tenant, once its READY has come. */
async function watchAgents(t: CaseContext, agent: TestAgent) {
  const agents = t.stream((signal) => agent.registry.watchAgents({}, { signal }));
  await agents.waitFor((e) => e.kind === AgentKind.READY, "WatchAgents READY", t.settings.waitMs);
  return agents;
}

/** Waits on a WatchAgents stream for the agent's going OFFLINE after its presence timeout. */
async function wentOffline(
  t: CaseContext,
  agents: Awaited<ReturnType<typeof watchAgents>>,
  agentId: string,
  presenceTimeoutMs: number,
) {
  await agents.waitFor(
    (e) =>
      e.kind === AgentKind.STATUS_CHANGED &&
      e.agent?.id === agentId &&
      e.agent.status === AgentStatus.OFFLINE,
    `${agentId} going OFFLINE after its ${presenceTimeoutMs} ms presence timeout`,
    presenceTimeoutMs + t.settings.waitMs,
  );
}

function participant(m: Meeting | undefined, agentId: string) {
  return m?.participants.find((p) => p.agentId === agentId);
}

export const meetingRound2Cases: ConformanceCase[] = [
  {
    id: "meetings.bad-page-token",
    level: "MUST",
    profile: "meetings",
    description:
      "ListMeetings and GetTranscript refuse with INVALID_ARGUMENT a page_token they did not issue, even one that looks like theirs, and one issued for the other RPC",
    spec: "acb.v1.ListMeetingsRequest.page_token",
    rules: ["meetings.page-token", "meetings.transcript"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("bpt-a");
      const m = await create(a, { title: "bpt", participantIds: [a.id] });
      await create(a, { title: "bpt-2", participantIds: [a.id] });
      // Sanity: the first page of each, without a token.
      const listed = await a.meetings.listMeetings({ pageSize: 1 });
      check(listed.meetings.length === 1, `ListMeetings gave ${listed.meetings.length} meetings`);
      await a.meetings.getTranscript({ meetingId: m.id });
      // JSON that is no page token of a listing: no position, or a position of the wrong shape.
      const lists = [
        '{"q":"0/"}',
        '{"q":"0/","p":null}',
        '{"q":"0/","p":5}',
        '{"q":"0/","p":"x"}',
        '{"q":"0/","p":{"createdAt":1}}',
        '{"q":"0/","p":{"id":"x"}}',
        '{"q":"0/","p":{"createdAt":"1","id":"x"}}',
        '{"p":{"createdAt":1,"id":"x"}}',
        "null",
        "5",
        '"x"',
      ];
      for (const json of lists) {
        await expectCode(
          a.meetings.listMeetings({ pageToken: b64(json) }),
          Code.InvalidArgument,
          `ListMeetings with the page_token ${json} in base64url`,
        );
      }
      const q = `transcript/${m.id}`;
      const transcripts = [
        `{"q":"${q}"}`,
        `{"q":"${q}","p":null}`,
        `{"q":"${q}","p":-1}`,
        `{"q":"${q}","p":1.5}`,
        `{"q":"${q}","p":"2"}`,
        `{"q":"${q}","p":{"createdAt":1,"id":"x"}}`,
        "null",
        '"x"',
        "not base64url!",
      ];
      for (const json of transcripts) {
        const token = json === "not base64url!" ? json : b64(json);
        await expectCode(
          a.meetings.getTranscript({ meetingId: m.id, pageToken: token }),
          Code.InvalidArgument,
          `GetTranscript with the page_token ${json}${token === json ? "" : " in base64url"}`,
        );
      }
      // A real token of one RPC is not a token of the other.
      check(listed.nextPageToken !== "", "ListMeetings of two meetings by ones gave no next page");
      await expectCode(
        a.meetings.getTranscript({ meetingId: m.id, pageToken: listed.nextPageToken }),
        Code.InvalidArgument,
        "GetTranscript with a page_token of ListMeetings",
      );
      await joinAll(m.id, a);
      await a.meetings.startMeeting({ meetingId: m.id });
      for (const x of ["one", "two"]) {
        await a.meetings.speak({
          meetingId: m.id,
          content: { contentType: "text/plain", data: new TextEncoder().encode(x) },
        });
      }
      const page = await a.meetings.getTranscript({ meetingId: m.id, pageSize: 1 });
      check(page.nextPageToken !== "", "a transcript of two entries by ones gave no next page");
      await expectCode(
        a.meetings.listMeetings({ pageToken: page.nextPageToken }),
        Code.InvalidArgument,
        "ListMeetings with a page_token of GetTranscript",
      );
    },
  },
  {
    id: "meetings.participant-times",
    level: "MUST",
    profile: "meetings",
    description:
      "joined_at is the time of the participant's last JOINED event and left_at of its LEFT event, unset again once it joins again",
    spec: "acb.v1.MeetingParticipant.joined_at",
    rules: ["meetings.join-leave"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("pt-a");
      const b = await tenant.agent("pt-b");
      const m = await create(a, { title: "pt", participantIds: [a.id, b.id] });
      const invited = participant(m, b.id);
      check(
        invited?.joinedAt === undefined && invited?.leftAt === undefined,
        "an INVITED participant has joined_at or left_at",
      );
      await joinAll(m.id, a, b);
      await b.meetings.leaveMeeting({ meetingId: m.id });
      const left = (await a.meetings.getMeeting({ meetingId: m.id })).meeting;
      const rejoined = (await b.meetings.joinMeeting({ meetingId: m.id })).meeting;
      const { events } = await eventLog(t, a, m.id);
      const times = events.map((e) => `${MeetingKind[e.kind]}:${e.actorId}@${ms(e.time)}`);
      const at = (kind: MeetingKind, actor: string, nth = 0) =>
        ms(events.filter((e) => e.kind === kind && e.actorId === actor)[nth]?.time);
      const firstJoin = at(MeetingKind.JOINED, b.id);
      const leave = at(MeetingKind.LEFT, b.id);
      const secondJoin = at(MeetingKind.JOINED, b.id, 1);
      check(
        firstJoin !== undefined && leave !== undefined && secondJoin !== undefined,
        `the events are [${times.join(", ")}]`,
      );
      const whileLeft = participant(left, b.id);
      check(
        ms(whileLeft?.joinedAt) === firstJoin && ms(whileLeft?.leftAt) === leave,
        `after leaving: joined_at ${ms(whileLeft?.joinedAt)}, left_at ${ms(whileLeft?.leftAt)}; the events are [${times.join(", ")}]`,
      );
      const again = participant(rejoined, b.id);
      check(
        ms(again?.joinedAt) === secondJoin && again?.leftAt === undefined,
        `after joining again: joined_at ${ms(again?.joinedAt)}, left_at ${ms(again?.leftAt)}; the events are [${times.join(", ")}]`,
      );
      const creator = participant(rejoined, a.id);
      check(
        ms(creator?.joinedAt) === at(MeetingKind.JOINED, a.id),
        `the creator's joined_at is ${ms(creator?.joinedAt)}, not the time of its JOINED event`,
      );
    },
  },
  {
    id: "meetings.turn-deadline",
    level: "MUST",
    profile: "meetings",
    description:
      "turn_deadline is each grant's time plus turn_timeout, unset while nobody holds the turn or without a turn timeout; TURN_TIMED_OUT is recorded at the deadline",
    spec: "acb.v1.Meeting.turn_deadline",
    rules: ["meetings.turn-number", "meetings.turn-timeout"],
    requires,
    timeoutMs: 30_000,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("td-a");
      const b = await tenant.agent("td-b");
      const mod = await tenant.agent("td-m");
      const timeout = 1_000;
      // MODERATED: the turn stays free after a timeout, so the deadline can be seen unset.
      const m = await create(mod, {
        title: "td",
        participantIds: [a.id, b.id],
        policy: MeetingTurnPolicy.MODERATED,
        moderatorId: mod.id,
        turnTimeout: duration(timeout),
      });
      await joinAll(m.id, mod, a, b);
      const started = (await mod.meetings.startMeeting({ meetingId: m.id })).meeting;
      check(started?.turnDeadline === undefined, "a free turn has a turn_deadline");
      const watch = t.stream((signal) => b.meetings.watchMeeting({ meetingId: m.id }, { signal }));
      await watch.waitFor((e) => e.kind === MeetingKind.READY, "READY", t.settings.waitMs);
      const granted = (await mod.meetings.grantTurn({ meetingId: m.id, agentId: a.id })).meeting;
      const grant = await watch.waitFor(
        (e) => e.kind === MeetingKind.TURN_GRANTED,
        "TURN_GRANTED to a",
        t.settings.waitMs,
      );
      const deadline = ms(granted?.turnDeadline);
      check(
        deadline !== undefined && deadline === (ms(grant.time) ?? 0) + timeout,
        `turn_deadline is ${deadline}, not the grant's time ${ms(grant.time)} plus ${timeout} ms`,
      );
      const out = await watch.waitFor(
        (e) => e.kind === MeetingKind.TURN_TIMED_OUT,
        `TURN_TIMED_OUT after the ${timeout} ms turn timeout`,
        timeout + t.settings.waitMs,
      );
      check(
        out.subjectId === a.id && out.actorId === "" && out.turnHolderId === "",
        `TURN_TIMED_OUT names subject "${out.subjectId}", actor "${out.actorId}", holder "${out.turnHolderId}"`,
      );
      check(
        ms(out.time) === deadline,
        `TURN_TIMED_OUT is recorded at ${ms(out.time)}, not at the turn's deadline ${deadline}`,
      );
      const free = (await b.meetings.getMeeting({ meetingId: m.id })).meeting;
      check(
        free?.turnHolderId === "" && free.turnDeadline === undefined,
        `after the timeout the holder is "${free?.turnHolderId}", turn_deadline ${ms(free?.turnDeadline)}`,
      );
      // A new grant, then the end: no deadline outlives the turn.
      const again = (await mod.meetings.grantTurn({ meetingId: m.id, agentId: b.id })).meeting;
      check(
        again?.turnNumber === 2n && again.turnDeadline !== undefined,
        `the second grant: turn ${again?.turnNumber}, turn_deadline ${ms(again?.turnDeadline)}`,
      );
      const ended = (await mod.meetings.endMeeting({ meetingId: m.id })).meeting;
      check(ended?.turnDeadline === undefined, "an ENDED meeting has a turn_deadline");
      await expectEvents(
        t,
        a,
        m.id,
        [
          ev("STARTED", { actor: mod.id }),
          ev("TURN_GRANTED", { actor: mod.id, subject: a.id, holder: a.id, turn: 1 }),
          ev("TURN_TIMED_OUT", { subject: a.id, turn: 1 }),
          ev("TURN_GRANTED", { actor: mod.id, subject: b.id, holder: b.id, turn: 2 }),
          ev("ENDED", { actor: mod.id, turn: 2, state: "ENDED", reason: "REQUESTED" }),
        ],
        4,
      );
      // Without a turn timeout a held turn has no deadline.
      const plain = await create(a, { title: "td-plain", participantIds: [a.id, b.id] });
      await joinAll(plain.id, a, b);
      const held = (await a.meetings.startMeeting({ meetingId: plain.id })).meeting;
      check(
        held?.turnHolderId === a.id && held.turnDeadline === undefined,
        `without a turn timeout: holder "${held?.turnHolderId}", turn_deadline ${ms(held?.turnDeadline)}`,
      );
    },
  },
  {
    id: "meetings.free-for-all-offline",
    level: "MUST",
    profile: "meetings",
    description:
      "FREE_FOR_ALL: a freed turn skips a queued participant whose presence was lost, which leaves the queue",
    spec: "acb.v1.MeetingTurnPolicy",
    rules: ["meetings.free-for-all", "meetings.presence-forfeit"],
    requires,
    timeoutMs: 30_000,
    async run(t) {
      const presenceTimeoutMs = 1_500;
      const tenant = await t.tenant({ presenceTimeoutMs, heartbeatIntervalMs: 500 });
      // a stays ONLINE through its Receive stream; b stops after its registration; c never
      // registers, so it has no presence and is never OFFLINE.
      const a = await tenant.agent("ffo-a");
      const inbox = await Inbox.open(t, a);
      const c = await tenant.agent("ffo-c", { register: false });
      const b = await tenant.agent("ffo-b");
      const agents = await watchAgents(t, a);
      const m = await create(a, {
        title: "ffo",
        participantIds: [a.id, b.id, c.id],
        policy: MeetingTurnPolicy.FREE_FOR_ALL,
      });
      await joinAll(m.id, a, b, c);
      await a.meetings.startMeeting({ meetingId: m.id });
      const mine = await a.meetings.requestTurn({ meetingId: m.id });
      check(mine.granted, "the first RequestTurn of a free turn was not granted");
      const queuedB = await b.meetings.requestTurn({ meetingId: m.id });
      const queuedC = await c.meetings.requestTurn({ meetingId: m.id });
      check(
        queuedB.queuePosition === 1 && queuedC.queuePosition === 2,
        `b and c queued at ${queuedB.queuePosition} and ${queuedC.queuePosition}, not 1 and 2`,
      );
      await wentOffline(t, agents, b.id, presenceTimeoutMs);
      const passed = (await a.meetings.passTurn({ meetingId: m.id })).meeting;
      check(
        passed?.turnHolderId === c.id && passed.queue.length === 0,
        `after the pass "${passed?.turnHolderId}" holds the turn, queue [${passed?.queue}]; expected ${c.id}, an empty queue (${b.id} is OFFLINE)`,
      );
      await expectEvents(
        t,
        c,
        m.id,
        [
          ev("STARTED", { actor: a.id }),
          ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 1 }),
          ev("TURN_REQUESTED", { actor: b.id, holder: a.id, turn: 1, q: 1 }),
          ev("TURN_REQUESTED", { actor: c.id, holder: a.id, turn: 1, q: 2 }),
          ev("TURN_PASSED", { actor: a.id, turn: 1 }),
          ev("TURN_GRANTED", { subject: c.id, holder: c.id, turn: 2 }),
        ],
        4,
      );
      inbox.close();
    },
  },
  {
    id: "meetings.list-same-instant",
    level: "MUST",
    profile: "meetings",
    description:
      "Meetings created at once, several in the same millisecond, and others whose ids sort against their age, are each listed once, newest first, by pages of any size",
    spec: "acb.v1.MeetingService.ListMeetings",
    rules: ["meetings.visibility", "pagination.complete"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("lsi-a");
      const made = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          create(a, { title: `same-${i}`, participantIds: [a.id] }),
        ),
      );
      // And three more one after the other, with ids that sort against their order of creation.
      for (const id of ["lsi-3", "lsi-2", "lsi-1"]) {
        made.push(await create(a, { meetingId: id, title: id, participantIds: [a.id] }));
      }
      const want = made
        .map((x) => x.id)
        .sort()
        .join(",");
      const whole = await a.meetings.listMeetings({ pageSize: 100 });
      const order = whole.meetings.map((x) => x.id);
      for (const size of [1, 2, 5]) {
        const seen: string[] = [];
        let pageToken = "";
        let last = Number.POSITIVE_INFINITY;
        do {
          const page = await a.meetings.listMeetings({ pageSize: size, pageToken });
          for (const x of page.meetings) {
            const at = ms(x.createdAt) ?? 0;
            check(at <= last, `ListMeetings by pages of ${size} is not newest first`);
            last = at;
            seen.push(x.id);
          }
          pageToken = page.nextPageToken;
          check(seen.length <= 60, `ListMeetings by pages of ${size} keeps returning pages`);
        } while (pageToken !== "");
        const got = [...seen].sort().join(",");
        check(
          got === want,
          `ListMeetings by pages of ${size} gave [${seen.join(",")}], not each of [${want}] once`,
        );
        check(
          seen.join(",") === order.join(","),
          `ListMeetings by pages of ${size} gave [${seen.join(",")}], in another order than one page [${order.join(",")}]`,
        );
      }
    },
  },
  {
    id: "meetings.watch-tenant-deleted",
    level: "MUST",
    profile: "meetings",
    description:
      "A WatchMeeting stream ends (NOT_FOUND or UNAUTHENTICATED) when its tenant is deleted",
    spec: "acb.v1.MeetingService.WatchMeeting",
    rules: ["meetings.watch-tenant-deleted"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("wtd-a");
      const m = await create(a, { title: "wtd", participantIds: [a.id] });
      await joinAll(m.id, a);
      const watch = t.stream((signal) => a.meetings.watchMeeting({ meetingId: m.id }, { signal }));
      await watch.waitFor((e) => e.kind === MeetingKind.READY, "READY", t.settings.waitMs);
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      const err = await watch.end(
        "the end of a WatchMeeting stream whose tenant was deleted",
        t.settings.waitMs,
      );
      check(
        err?.code === Code.NotFound || err?.code === Code.Unauthenticated,
        `the stream ended with ${err === undefined ? "OK" : Code[err.code]}, not NOT_FOUND or UNAUTHENTICATED`,
      );
    },
  },
  {
    id: "meetings.events-resume-far",
    level: "MUST",
    profile: "meetings",
    description:
      "A WatchMeeting resumed from the cursor of a late event (the 45th) continues with the next one",
    spec: "acb.v1.WatchMeetingRequest.cursor",
    rules: ["meetings.events-resume"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("erf-a");
      const m = await create(a, { title: "erf", participantIds: [a.id] });
      await joinAll(m.id, a);
      await a.meetings.startMeeting({ meetingId: m.id });
      // JOINED, STARTED, TURN_GRANTED, then 45 SPOKE events: 48 in all.
      for (let i = 0; i < 45; i++) {
        await a.meetings.speak({
          meetingId: m.id,
          content: { contentType: "text/plain", data: new TextEncoder().encode(`${i}`) },
        });
      }
      const { events } = await eventLog(t, a, m.id);
      const at = events[44];
      check(
        events.length === 48 && at !== undefined,
        `the meeting has ${events.length} events, not 48`,
      );
      const resumed = t.stream((signal) =>
        a.meetings.watchMeeting({ meetingId: m.id, cursor: at.cursor }, { signal }),
      );
      const got: string[] = [];
      for (;;) {
        const e = await resumed.next("the events after the 45th", t.settings.waitMs);
        got.push(e.kind === MeetingKind.READY ? `READY@${e.sequence}` : `${e.sequence}`);
        if (e.kind === MeetingKind.READY) break;
      }
      check(
        got.join(",") === "46,47,48,READY@48",
        `resumed from the 45th event's cursor the hub sent [${got.join(",")}], not [46,47,48,READY@48]`,
      );
    },
  },
  {
    id: "meetings.turn-on-return",
    level: "MUST",
    profile: "meetings",
    description:
      "ROUND_ROBIN: a turn left free because every JOINED participant was OFFLINE goes to the first to come back, as soon as it is ONLINE again",
    spec: "acb.v1.MeetingTurnPolicy",
    rules: ["meetings.round-robin", "meetings.presence-forfeit"],
    requires,
    timeoutMs: 30_000,
    async run(t) {
      const presenceTimeoutMs = 1_500;
      const tenant = await t.tenant({ presenceTimeoutMs, heartbeatIntervalMs: 500 });
      // a organises without joining; b joins, then stops after its registration.
      const a = await tenant.agent("tor-a", { register: false });
      const b = await tenant.agent("tor-b");
      const agents = await watchAgents(t, a);
      const m = await create(a, { title: "tor", participantIds: [b.id] });
      await joinAll(m.id, b);
      await wentOffline(t, agents, b.id, presenceTimeoutMs);
      const started = (await a.meetings.startMeeting({ meetingId: m.id })).meeting;
      check(
        started?.turnHolderId === "",
        `the turn went to "${started?.turnHolderId}", though its only JOINED participant is OFFLINE`,
      );
      await b.registry.heartbeat({ agentId: b.id });
      const back = (await b.meetings.getMeeting({ meetingId: m.id })).meeting;
      check(
        back?.turnHolderId === b.id && back.turnNumber === 1n,
        `once ${b.id} is ONLINE again the turn is held by "${back?.turnHolderId}" (turn ${back?.turnNumber}), not by it`,
      );
      await expectEvents(t, a, m.id, [
        ev("JOINED", { actor: b.id, state: "SCHEDULED" }),
        ev("STARTED", { actor: a.id }),
        ev("TURN_GRANTED", { subject: b.id, holder: b.id, turn: 1 }),
      ]);
    },
  },
];
