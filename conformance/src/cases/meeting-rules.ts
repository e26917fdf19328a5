// Meetings profile, the rules beyond speaking and timeouts: what CreateMeeting makes, the
// lifecycle and who may drive it, each turn policy, turn numbers, idempotent speech, the end at
// the maximum duration, presence loss, visibility and listing, transcripts and the end of a watch.
//
// Most checks read the meeting's own event log (WatchMeeting from the beginning, up to READY) and
// compare it, event by event, with what the rules say the calls just made must have recorded:
// the hub's own record is the synchronisation, never a timed wait.

import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ErrorInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  type Meeting,
  MeetingEndReason,
  WatchMeetingResponse_Kind as MeetingKind,
  MeetingParticipantStatus,
  MeetingState,
  MeetingTurnPolicy,
  type WatchMeetingResponse,
} from "@acb/gen/acb/v1/meetings_pb";
import { AgentStatus } from "@acb/gen/acb/v1/registry_pb";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import type { ConnectError } from "@connectrpc/connect";
import { CaseFailure, type ConformanceCase, check } from "../case.js";
import { type CaseContext, duration, durationMs, type TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, reasonOf } from "../wire.js";

const requires = ["meetings"];

const ms = (ts: Timestamp | undefined) => (ts ? timestampMs(ts) : undefined);

function metadataOf(err: ConnectError): Record<string, string> {
  return err.findDetails(ErrorInfoSchema)[0]?.metadata ?? {};
}

/** Expects FAILED_PRECONDITION with `reason` and, when given, these ErrorInfo metadata. */
async function expectRefusal(
  call: Promise<unknown>,
  reason: string,
  what: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  const err = await expectCode(call, Code.FailedPrecondition, what);
  check(reasonOf(err) === reason, `${what}: ErrorInfo reason is "${reasonOf(err)}", not ${reason}`);
  const got = metadataOf(err);
  for (const [k, v] of Object.entries(metadata)) {
    check(got[k] === v, `${what}: ErrorInfo metadata ${k} is "${got[k]}", not "${v}"`);
  }
}

const stateOf = (s: MeetingState) => `MEETING_STATE_${MeetingState[s]}`;

/** One event as a line: every field a rule fixes. */
export function render(e: WatchMeetingResponse): string {
  const parts = [
    MeetingKind[e.kind],
    `actor=${e.actorId}`,
    `subject=${e.subjectId}`,
    `holder=${e.turnHolderId}`,
    `turn=${e.turnNumber}`,
    MeetingState[e.state],
  ];
  if (e.queuePosition !== 0) parts.push(`q=${e.queuePosition}`);
  if (e.endReason !== MeetingEndReason.UNSPECIFIED) parts.push(MeetingEndReason[e.endReason]);
  if (e.entry) parts.push(`said=${e.entry.speakerId}#${e.entry.turnNumber}`);
  return parts.join(" ");
}

interface Expected {
  actor?: string;
  subject?: string;
  holder?: string;
  turn?: number;
  state?: keyof typeof MeetingState;
  q?: number;
  reason?: keyof typeof MeetingEndReason;
  said?: string;
}

/** The line {@link render} gives for an event of `kind` with these fields. */
export function ev(kind: keyof typeof MeetingKind, f: Expected = {}): string {
  const parts = [
    kind,
    `actor=${f.actor ?? ""}`,
    `subject=${f.subject ?? ""}`,
    `holder=${f.holder ?? ""}`,
    `turn=${f.turn ?? 0}`,
    f.state ?? "ACTIVE",
  ];
  if (f.q !== undefined) parts.push(`q=${f.q}`);
  if (f.reason !== undefined) parts.push(f.reason);
  if (f.said !== undefined) parts.push(`said=${f.said}`);
  return parts.join(" ");
}

/** Every event of the meeting so far (WatchMeeting from the beginning up to READY), and READY. */
export async function eventLog(t: CaseContext, who: TestAgent, meetingId: string) {
  const watch = t.stream((signal) =>
    who.meetings.watchMeeting({ meetingId, fromBeginning: true }, { signal }),
  );
  const events: WatchMeetingResponse[] = [];
  for (;;) {
    const e = await watch.next(`the events of meeting ${meetingId}`, t.settings.waitMs);
    if (e.kind === MeetingKind.READY) {
      watch.close();
      const seqs = events.map((x) => Number(x.sequence));
      check(
        seqs.every((s, i) => s === i + 1),
        `meeting ${meetingId}: event sequence numbers are [${seqs.join(", ")}]`,
      );
      return { events, ready: e };
    }
    events.push(e);
  }
}

/** Fails unless the events from number `from` (1-based) on are exactly `expected`. */
export async function expectEvents(
  t: CaseContext,
  who: TestAgent,
  meetingId: string,
  expected: string[],
  from = 1,
): Promise<WatchMeetingResponse[]> {
  const { events } = await eventLog(t, who, meetingId);
  const got = events.slice(from - 1);
  const lines = got.map(render);
  for (let i = 0; i < Math.max(lines.length, expected.length); i++) {
    if (lines[i] !== expected[i]) {
      throw new CaseFailure(
        `meeting ${meetingId}, event ${from + i}: expected "${expected[i] ?? "(none)"}", got "${lines[i] ?? "(none)"}" (events from ${from}: ${lines.join(" | ")})`,
      );
    }
  }
  return got;
}

function statuses(m: Meeting | undefined): string {
  return (m?.participants ?? [])
    .map((p) => `${p.agentId}:${MeetingParticipantStatus[p.status]}`)
    .join(",");
}

export async function create(
  who: TestAgent,
  init: Parameters<TestAgent["meetings"]["createMeeting"]>[0],
): Promise<Meeting> {
  const { meeting } = await who.meetings.createMeeting(init);
  if (!meeting) throw new CaseFailure("CreateMeeting returned no meeting");
  return meeting;
}

export async function joinAll(meetingId: string, ...agents: TestAgent[]): Promise<void> {
  for (const a of agents) await a.meetings.joinMeeting({ meetingId });
}

export const meetingRuleCases: ConformanceCase[] = [
  {
    id: "meetings.create",
    level: "MUST",
    profile: "meetings",
    description:
      "CreateMeeting makes a SCHEDULED meeting of INVITED participants in the order given, creator and moderator appended; defaults; a taken id is ALREADY_EXISTS",
    spec: "acb.v1.MeetingService.CreateMeeting",
    rules: ["meetings.create"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cr-a");
      const b = await tenant.agent("cr-b");
      const c = await tenant.agent("cr-c");
      const m = await create(a, {
        title: "defaults",
        agenda: ["one", "two"],
        metadata: { k: "v" },
        participantIds: [c.id, b.id],
      });
      check(m.id.startsWith("mtg_"), `a hub-assigned meeting id is "${m.id}"`);
      check(m.state === MeetingState.SCHEDULED, `a new meeting is ${stateOf(m.state)}`);
      check(
        m.policy === MeetingTurnPolicy.ROUND_ROBIN,
        `an UNSPECIFIED policy became ${MeetingTurnPolicy[m.policy]}, not ROUND_ROBIN`,
      );
      const order = `${c.id}:INVITED,${b.id}:INVITED,${a.id}:INVITED`;
      check(statuses(m) === order, `participants are ${statuses(m)}, not ${order}`);
      check(m.creatorId === a.id && m.moderatorId === "", "creator or moderator misreported");
      check(
        m.title === "defaults" && m.agenda.join(",") === "one,two" && m.metadata.k === "v",
        "title, agenda or metadata not kept",
      );
      check(
        durationMs(m.maxDuration) === 86_400_000,
        `max_duration defaults to ${durationMs(m.maxDuration)} ms, not 24 h`,
      );
      check(m.turnTimeout === undefined, "turn_timeout is set though none was given");
      check(
        m.turnHolderId === "" && m.turnNumber === 0n && m.queue.length === 0,
        "a new meeting has a turn holder, a turn number or a queue",
      );
      check(m.createdAt && !m.startedAt && !m.endedAt, "created_at / started_at / ended_at");
      check(
        m.endReason === MeetingEndReason.UNSPECIFIED && m.endNote === "",
        "a new meeting has an end_reason or an end_note",
      );
      const got = (await b.meetings.getMeeting({ meetingId: m.id })).meeting;
      check(statuses(got) === order, `GetMeeting shows participants ${statuses(got)}`);

      // The moderator is appended after the creator; the creator is not repeated.
      const mod = await create(a, {
        meetingId: "chosen-1",
        title: "moderated",
        participantIds: [b.id, a.id],
        policy: MeetingTurnPolicy.MODERATED,
        moderatorId: c.id,
        turnTimeout: duration(5_000),
        maxDuration: duration(60_000),
      });
      const modOrder = `${b.id}:INVITED,${a.id}:INVITED,${c.id}:INVITED`;
      check(mod.id === "chosen-1", `the chosen meeting id came back as "${mod.id}"`);
      check(statuses(mod) === modOrder, `participants are ${statuses(mod)}, not ${modOrder}`);
      check(
        mod.moderatorId === c.id && mod.policy === MeetingTurnPolicy.MODERATED,
        "moderator or policy not kept",
      );
      check(
        durationMs(mod.turnTimeout) === 5_000 && durationMs(mod.maxDuration) === 60_000,
        "turn_timeout or max_duration not kept",
      );
      // A moderator who is the creator appears once.
      const self = await create(a, {
        title: "self-moderated",
        participantIds: [b.id],
        policy: MeetingTurnPolicy.MODERATED,
        moderatorId: a.id,
      });
      check(
        statuses(self) === `${b.id}:INVITED,${a.id}:INVITED`,
        `participants are ${statuses(self)}`,
      );

      await expectCode(
        b.meetings.createMeeting({ meetingId: "chosen-1", title: "again", participantIds: [] }),
        Code.AlreadyExists,
        "CreateMeeting with a meeting_id in use",
      );
      const kept = (await a.meetings.getMeeting({ meetingId: "chosen-1" })).meeting;
      check(
        kept?.title === "moderated" && kept.creatorId === a.id,
        "ALREADY_EXISTS changed the meeting",
      );
    },
  },
  {
    id: "meetings.lifecycle",
    level: "MUST",
    profile: "meetings",
    description:
      "Start, end and cancel move the meeting as the lifecycle says; a repeated transition is a no-op, any other is INVALID_MEETING_STATE naming the state",
    spec: "acb.v1.MeetingService.StartMeeting",
    rules: ["meetings.lifecycle", "meetings.join-leave", "meetings.watch-live"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("lc-a");
      const b = await tenant.agent("lc-b");
      const c = await tenant.agent("lc-c");
      const m = await create(a, { title: "lc", participantIds: [a.id, b.id, c.id] });
      const id = m.id;
      await expectRefusal(
        a.meetings.endMeeting({ meetingId: id }),
        "INVALID_MEETING_STATE",
        "EndMeeting of a SCHEDULED meeting",
        { state: "MEETING_STATE_SCHEDULED" },
      );
      await joinAll(id, a, b);
      await expectRefusal(
        a.meetings.speak({ meetingId: id, content: text("early") }),
        "INVALID_MEETING_STATE",
        "Speak in a SCHEDULED meeting",
        { state: "MEETING_STATE_SCHEDULED" },
      );
      // Joining again, and leaving when not joined, succeed without effect.
      const again = (await a.meetings.joinMeeting({ meetingId: id })).meeting;
      check(statuses(again).includes(`${a.id}:JOINED`), "JoinMeeting again: not JOINED");
      const left = (await c.meetings.leaveMeeting({ meetingId: id })).meeting;
      check(
        statuses(left).includes(`${c.id}:INVITED`),
        `LeaveMeeting by an INVITED participant changed it: ${statuses(left)}`,
      );
      const started = (await a.meetings.startMeeting({ meetingId: id })).meeting;
      check(started?.state === MeetingState.ACTIVE, "StartMeeting did not make it ACTIVE");
      const startedAt = ms(started?.startedAt);
      check(startedAt !== undefined, "an ACTIVE meeting has no started_at");
      const twice = (await b.meetings.getMeeting({ meetingId: id })).meeting;
      const restarted = (await a.meetings.startMeeting({ meetingId: id })).meeting;
      check(
        restarted?.state === MeetingState.ACTIVE && ms(restarted.startedAt) === startedAt,
        "StartMeeting of an ACTIVE meeting changed it",
      );
      check(
        twice?.turnHolderId === a.id,
        `the first holder is "${twice?.turnHolderId}", not ${a.id}`,
      );
      await expectRefusal(
        c.meetings.speak({ meetingId: id, content: text("uninvited") }),
        "NOT_JOINED",
        "Speak by an INVITED participant",
        { status: "MEETING_PARTICIPANT_STATUS_INVITED" },
      );
      await expectRefusal(
        c.meetings.passTurn({ meetingId: id }),
        "NOT_JOINED",
        "PassTurn by an INVITED participant",
        { status: "MEETING_PARTICIPANT_STATUS_INVITED" },
      );
      const ended = (await a.meetings.endMeeting({ meetingId: id, note: "done" })).meeting;
      check(ended?.state === MeetingState.ENDED, "EndMeeting did not make it ENDED");
      check(
        ended.endReason === MeetingEndReason.REQUESTED && ended.endNote === "done",
        `end_reason ${MeetingEndReason[ended.endReason]}, end_note "${ended.endNote}"`,
      );
      check(
        ended.turnHolderId === "" && ended.queue.length === 0 && ended.endedAt !== undefined,
        "an ENDED meeting keeps a turn holder or a queue, or has no ended_at",
      );
      const endedAt = ms(ended.endedAt);
      const reEnded = (await b.meetings.getMeeting({ meetingId: id })).meeting;
      await a.meetings.endMeeting({ meetingId: id, note: "again" });
      const afterRetry = (await b.meetings.getMeeting({ meetingId: id })).meeting;
      check(
        afterRetry?.endNote === "done" && ms(afterRetry.endedAt) === endedAt,
        "EndMeeting of an ENDED meeting changed it",
      );
      check(reEnded?.state === MeetingState.ENDED, "GetMeeting does not show it ENDED");
      const refusedOnEnded: [string, () => Promise<unknown>][] = [
        ["CancelMeeting", () => a.meetings.cancelMeeting({ meetingId: id })],
        ["StartMeeting", () => a.meetings.startMeeting({ meetingId: id })],
        ["JoinMeeting", () => c.meetings.joinMeeting({ meetingId: id })],
        ["LeaveMeeting", () => b.meetings.leaveMeeting({ meetingId: id })],
        ["PassTurn", () => a.meetings.passTurn({ meetingId: id })],
      ];
      for (const [rpc, call] of refusedOnEnded) {
        await expectRefusal(call(), "INVALID_MEETING_STATE", `${rpc} of an ENDED meeting`, {
          state: "MEETING_STATE_ENDED",
        });
      }
      await expectEvents(t, b, id, [
        ev("JOINED", { actor: a.id, state: "SCHEDULED" }),
        ev("JOINED", { actor: b.id, state: "SCHEDULED" }),
        ev("STARTED", { actor: a.id }),
        ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 1 }),
        ev("ENDED", { actor: a.id, turn: 1, state: "ENDED", reason: "REQUESTED" }),
      ]);

      // Cancelled before it started, then cancelled again.
      const s = await create(a, { title: "lc2", participantIds: [b.id] });
      const cancelled = (await a.meetings.cancelMeeting({ meetingId: s.id, note: "off" })).meeting;
      check(
        cancelled?.state === MeetingState.CANCELLED &&
          cancelled.endReason === MeetingEndReason.CANCELLED &&
          cancelled.endNote === "off" &&
          cancelled.endedAt !== undefined &&
          cancelled.startedAt === undefined,
        "CancelMeeting of a SCHEDULED meeting: state, end_reason, end_note or timestamps",
      );
      await a.meetings.cancelMeeting({ meetingId: s.id, note: "twice" });
      await expectRefusal(
        a.meetings.endMeeting({ meetingId: s.id }),
        "INVALID_MEETING_STATE",
        "EndMeeting of a CANCELLED meeting",
        { state: "MEETING_STATE_CANCELLED" },
      );
      await expectRefusal(
        b.meetings.joinMeeting({ meetingId: s.id }),
        "INVALID_MEETING_STATE",
        "JoinMeeting of a CANCELLED meeting",
        { state: "MEETING_STATE_CANCELLED" },
      );
      await expectEvents(t, a, s.id, [
        ev("CANCELLED", { actor: a.id, state: "CANCELLED", reason: "CANCELLED" }),
      ]);
      // Watching a meeting that is over: its events, READY, and the stream ends OK.
      const over = t.stream((signal) =>
        b.meetings.watchMeeting({ meetingId: s.id, fromBeginning: true }, { signal }),
      );
      await over.waitFor(
        (e) => e.kind === MeetingKind.READY,
        "READY of a CANCELLED meeting",
        t.settings.waitMs,
      );
      const overEnd = await over.end("the stream of a CANCELLED meeting", t.settings.waitMs);
      check(overEnd === undefined, `the stream of a CANCELLED meeting ended with ${overEnd?.code}`);

      // Cancelled while ACTIVE: the turn is cleared.
      const r = await create(a, { title: "lc3", participantIds: [a.id, b.id] });
      await joinAll(r.id, b, a);
      // A watch from now: READY at the last event, then each live event once, and the live
      // CANCELLED ends the stream.
      const live = t.stream((signal) => b.meetings.watchMeeting({ meetingId: r.id }, { signal }));
      const ready = await live.next("the first item of a watch from now", t.settings.waitMs);
      check(
        ready.kind === MeetingKind.READY &&
          ready.sequence === 2n &&
          ready.meeting?.state === MeetingState.SCHEDULED,
        `a watch from now began with ${MeetingKind[ready.kind]} at ${ready.sequence}, not READY at 2`,
      );
      await a.meetings.startMeeting({ meetingId: r.id });
      const off = (await a.meetings.cancelMeeting({ meetingId: r.id })).meeting;
      const seen: string[] = [];
      for (;;) {
        const e = await live.next("the live events up to CANCELLED", t.settings.waitMs);
        seen.push(`${e.sequence}:${MeetingKind[e.kind]}`);
        if (e.kind === MeetingKind.CANCELLED) break;
      }
      check(
        seen.join(",") === "3:STARTED,4:TURN_GRANTED,5:CANCELLED",
        `the live watch gave [${seen.join(",")}], not [3:STARTED,4:TURN_GRANTED,5:CANCELLED]`,
      );
      const closed = await live.end("the stream after the live CANCELLED", t.settings.waitMs);
      check(closed === undefined, `the stream ended with ${closed?.code} after CANCELLED`);
      check(
        off?.state === MeetingState.CANCELLED && off.turnHolderId === "" && off.startedAt,
        "CancelMeeting of an ACTIVE meeting: state, turn holder or started_at",
      );
      await expectEvents(t, a, r.id, [
        ev("JOINED", { actor: b.id, state: "SCHEDULED" }),
        ev("JOINED", { actor: a.id, state: "SCHEDULED" }),
        ev("STARTED", { actor: a.id }),
        ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 1 }),
        ev("CANCELLED", { actor: a.id, turn: 1, state: "CANCELLED", reason: "CANCELLED" }),
      ]);
    },
  },
  {
    id: "meetings.organiser",
    level: "MUST",
    profile: "meetings",
    description:
      "Only the creator, the moderator or a tenant admin may start, end or cancel a meeting; an admin who is not a participant organises as admin:<id> but cannot take part",
    spec: "acb.v1.MeetingService.StartMeeting",
    rules: ["meetings.organiser", "meetings.visibility"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("org-a");
      const b = await tenant.agent("org-b");
      const mod = await tenant.agent("org-m");
      const admin = await tenant.agent("org-admin", { roles: [Role.ADMIN] });
      const m = await create(a, {
        title: "org",
        participantIds: [b.id],
        policy: MeetingTurnPolicy.MODERATED,
        moderatorId: mod.id,
      });
      await expectCode(
        b.meetings.startMeeting({ meetingId: m.id }),
        Code.PermissionDenied,
        "StartMeeting by a participant",
      );
      await expectCode(
        b.meetings.cancelMeeting({ meetingId: m.id }),
        Code.PermissionDenied,
        "CancelMeeting by a participant",
      );
      const started = (await mod.meetings.startMeeting({ meetingId: m.id })).meeting;
      check(started?.state === MeetingState.ACTIVE, "StartMeeting by the moderator failed");
      await expectCode(
        b.meetings.endMeeting({ meetingId: m.id }),
        Code.PermissionDenied,
        "EndMeeting by a participant",
      );
      // The tenant admin sees the meeting without being in it, and may end it, but not join.
      const seen = (await admin.meetings.getMeeting({ meetingId: m.id })).meeting;
      check(seen?.id === m.id, "a tenant admin cannot read the meeting");
      await expectCode(
        admin.meetings.joinMeeting({ meetingId: m.id }),
        Code.PermissionDenied,
        "JoinMeeting by a tenant admin who is not a participant",
      );
      const ended = (await admin.meetings.endMeeting({ meetingId: m.id })).meeting;
      check(ended?.state === MeetingState.ENDED, "EndMeeting by a tenant admin failed");
      await expectEvents(t, a, m.id, [
        ev("STARTED", { actor: mod.id }),
        ev("ENDED", { actor: `admin:${admin.id}`, state: "ENDED", reason: "REQUESTED" }),
      ]);
      // The creator cancels, the moderator ends.
      const m2 = await create(a, {
        title: "org2",
        participantIds: [b.id],
        policy: MeetingTurnPolicy.MODERATED,
        moderatorId: mod.id,
      });
      await a.meetings.startMeeting({ meetingId: m2.id });
      await mod.meetings.endMeeting({ meetingId: m2.id });
      const m3 = await create(b, { title: "org3", participantIds: [a.id] });
      await expectCode(
        a.meetings.cancelMeeting({ meetingId: m3.id }),
        Code.PermissionDenied,
        "CancelMeeting by a participant who is not the creator",
      );
      await b.meetings.cancelMeeting({ meetingId: m3.id });
      await expectEvents(t, b, m2.id, [
        ev("STARTED", { actor: a.id }),
        ev("ENDED", { actor: mod.id, state: "ENDED", reason: "REQUESTED" }),
      ]);
      await expectEvents(t, a, m3.id, [
        ev("CANCELLED", { actor: b.id, state: "CANCELLED", reason: "CANCELLED" }),
      ]);
    },
  },
  {
    id: "meetings.round-robin",
    level: "MUST",
    profile: "meetings",
    description:
      "ROUND_ROBIN grants the next eligible participant in list order, wrapping, skipping those not JOINED; each grant is a new turn with its deadline; a holder who leaves loses the turn",
    spec: "acb.v1.MeetingTurnPolicy",
    rules: ["meetings.round-robin", "meetings.turn-number", "meetings.join-leave"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const [a, b, c, d] = await Promise.all(
        ["rr-a", "rr-b", "rr-c", "rr-d"].map((n) => tenant.agent(n)),
      );
      if (!a || !b || !c || !d) throw new Error("agents");
      const timeout = 3_600_000;
      const m = await create(a, {
        title: "rr",
        participantIds: [a.id, b.id, c.id, d.id],
        policy: MeetingTurnPolicy.ROUND_ROBIN,
        turnTimeout: duration(timeout),
      });
      const id = m.id;
      await joinAll(id, d, b, a);
      const started = (await a.meetings.startMeeting({ meetingId: id })).meeting;
      check(started?.turnHolderId === a.id, `the first holder is "${started?.turnHolderId}"`);
      await expectRefusal(
        b.meetings.requestTurn({ meetingId: id }),
        "TURN_POLICY",
        "RequestTurn in a ROUND_ROBIN meeting",
        { policy: "MEETING_TURN_POLICY_ROUND_ROBIN" },
      );
      const pass = async (who: TestAgent, next: TestAgent, turn: number) => {
        const after = (await who.meetings.passTurn({ meetingId: id })).meeting;
        check(
          after?.turnHolderId === next.id && after.turnNumber === BigInt(turn),
          `after ${who.id} passed, ${after?.turnHolderId} holds turn ${after?.turnNumber}, not ${next.id} turn ${turn}`,
        );
        return after;
      };
      await pass(a, b, 2);
      await pass(b, d, 3); // c is INVITED: skipped
      await pass(d, a, 4); // wraps around
      await c.meetings.joinMeeting({ meetingId: id }); // the turn is held: no grant
      await pass(a, b, 5);
      await pass(b, c, 6);
      // The holder leaves: LEFT frees the turn, the next one gets it.
      const afterLeave = (await c.meetings.leaveMeeting({ meetingId: id })).meeting;
      check(
        afterLeave?.turnHolderId === d.id && afterLeave.turnNumber === 7n,
        `after the holder left, ${afterLeave?.turnHolderId} holds turn ${afterLeave?.turnNumber}`,
      );
      check(
        statuses(afterLeave).includes(`${c.id}:LEFT`) &&
          afterLeave.participants.find((p) => p.agentId === c.id)?.leftAt !== undefined,
        "a participant who left is not LEFT with left_at",
      );
      // Everyone but a leaves: a passes to itself, a new turn.
      await d.meetings.leaveMeeting({ meetingId: id });
      check(
        (await a.meetings.getMeeting({ meetingId: id })).meeting?.turnHolderId === a.id,
        "after the holder left, the turn did not wrap to the only one before it",
      );
      await b.meetings.leaveMeeting({ meetingId: id });
      await pass(a, a, 9);
      // A LEFT participant joins again.
      const rejoined = (await c.meetings.joinMeeting({ meetingId: id })).meeting;
      check(statuses(rejoined).includes(`${c.id}:JOINED`), "a LEFT participant cannot rejoin");
      check(
        rejoined?.participants.find((p) => p.agentId === c.id)?.leftAt === undefined,
        "a participant who joined again still has left_at",
      );
      await pass(a, c, 10);
      const events = await expectEvents(
        t,
        a,
        id,
        [
          ev("STARTED", { actor: a.id }),
          ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 1 }),
          ev("TURN_PASSED", { actor: a.id, turn: 1 }),
          ev("TURN_GRANTED", { subject: b.id, holder: b.id, turn: 2 }),
          ev("TURN_PASSED", { actor: b.id, turn: 2 }),
          ev("TURN_GRANTED", { subject: d.id, holder: d.id, turn: 3 }),
          ev("TURN_PASSED", { actor: d.id, turn: 3 }),
          ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 4 }),
          ev("JOINED", { actor: c.id, holder: a.id, turn: 4 }),
          ev("TURN_PASSED", { actor: a.id, turn: 4 }),
          ev("TURN_GRANTED", { subject: b.id, holder: b.id, turn: 5 }),
          ev("TURN_PASSED", { actor: b.id, turn: 5 }),
          ev("TURN_GRANTED", { subject: c.id, holder: c.id, turn: 6 }),
          ev("LEFT", { actor: c.id, turn: 6 }),
          ev("TURN_GRANTED", { subject: d.id, holder: d.id, turn: 7 }),
          ev("LEFT", { actor: d.id, turn: 7 }),
          ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 8 }),
          ev("LEFT", { actor: b.id, holder: a.id, turn: 8 }),
          ev("TURN_PASSED", { actor: a.id, turn: 8 }),
          ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 9 }),
          ev("JOINED", { actor: c.id, holder: a.id, turn: 9 }),
          ev("TURN_PASSED", { actor: a.id, turn: 9 }),
          ev("TURN_GRANTED", { subject: c.id, holder: c.id, turn: 10 }),
        ],
        4,
      );
      // Started before anyone joined: the first to join gets the turn at once.
      const empty = await create(a, { title: "rr-empty", participantIds: [a.id, b.id] });
      const none = (await a.meetings.startMeeting({ meetingId: empty.id })).meeting;
      check(none?.turnHolderId === "", "a meeting nobody joined has a turn holder");
      const first = (await b.meetings.joinMeeting({ meetingId: empty.id })).meeting;
      check(
        first?.turnHolderId === b.id && first.turnNumber === 1n,
        `the first to join an ACTIVE meeting with a free turn holds "${first?.turnHolderId}"`,
      );
      await expectEvents(t, b, empty.id, [
        ev("STARTED", { actor: a.id }),
        ev("JOINED", { actor: b.id }),
        ev("TURN_GRANTED", { subject: b.id, holder: b.id, turn: 1 }),
      ]);
      // Every grant sets the deadline to its own time plus the turn timeout.
      const lastGrant = events[events.length - 1];
      const now = (await a.meetings.getMeeting({ meetingId: id })).meeting;
      check(
        lastGrant && ms(now?.turnDeadline) === (ms(lastGrant.time) ?? 0) + timeout,
        `turn_deadline is ${ms(now?.turnDeadline)}, not the grant time ${ms(lastGrant?.time)} plus the turn timeout`,
      );
    },
  },
  {
    id: "meetings.turn-number",
    level: "MUST",
    profile: "meetings",
    description:
      "Speak and PassTurn with a turn_number other than the current turn are TURN_MISMATCH and change nothing; a late pass of an earlier turn is NOT_TURN_HOLDER",
    spec: "acb.v1.MeetingService.PassTurn",
    rules: ["meetings.turn-number", "meetings.only-holder-speaks"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("tn-a");
      const b = await tenant.agent("tn-b");
      const m = await create(a, { title: "tn", participantIds: [a.id, b.id] });
      await joinAll(m.id, a, b);
      await a.meetings.startMeeting({ meetingId: m.id });
      await expectRefusal(
        a.meetings.speak({ meetingId: m.id, content: text("x"), turnNumber: 2n }),
        "TURN_MISMATCH",
        "Speak with the next turn's number",
        { turn_number: "1" },
      );
      await expectRefusal(
        a.meetings.passTurn({ meetingId: m.id, turnNumber: 7n }),
        "TURN_MISMATCH",
        "PassTurn with another turn's number",
        { turn_number: "1" },
      );
      const spoke = await a.meetings.speak({
        meetingId: m.id,
        content: text("first"),
        turnNumber: 1n,
      });
      check(spoke.entry?.turnNumber === 1n, `the entry's turn is ${spoke.entry?.turnNumber}`);
      check(spoke.meeting?.turnHolderId === a.id, "Speak without pass_turn_after passed the turn");
      await a.meetings.passTurn({ meetingId: m.id, turnNumber: 1n });
      await expectRefusal(
        a.meetings.passTurn({ meetingId: m.id, turnNumber: 1n }),
        "NOT_TURN_HOLDER",
        "a late PassTurn of turn 1",
        { turn_holder_id: b.id, turn_number: "2" },
      );
      await expectEvents(t, a, m.id, [
        ev("JOINED", { actor: a.id, state: "SCHEDULED" }),
        ev("JOINED", { actor: b.id, state: "SCHEDULED" }),
        ev("STARTED", { actor: a.id }),
        ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 1 }),
        ev("SPOKE", { actor: a.id, holder: a.id, turn: 1, said: `${a.id}#1` }),
        ev("TURN_PASSED", { actor: a.id, turn: 1 }),
        ev("TURN_GRANTED", { subject: b.id, holder: b.id, turn: 2 }),
      ]);
    },
  },
  {
    id: "meetings.free-for-all",
    level: "MUST",
    profile: "meetings",
    description:
      "FREE_FOR_ALL grants a request at once when the turn is free, queues it otherwise (TURN_REQUESTED with its position) and grants the queue in order; leaving leaves the queue",
    spec: "acb.v1.MeetingTurnPolicy",
    rules: ["meetings.free-for-all"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("ffa-a");
      const b = await tenant.agent("ffa-b");
      const c = await tenant.agent("ffa-c");
      const m = await create(a, {
        title: "ffa",
        participantIds: [a.id, b.id, c.id],
        policy: MeetingTurnPolicy.FREE_FOR_ALL,
      });
      const id = m.id;
      await joinAll(id, a, b, c);
      const started = (await a.meetings.startMeeting({ meetingId: id })).meeting;
      check(started?.turnHolderId === "", "FREE_FOR_ALL granted a turn nobody asked for");
      const ask = async (who: TestAgent, granted: boolean, position: number) => {
        const r = await who.meetings.requestTurn({ meetingId: id });
        check(
          r.granted === granted && r.queuePosition === position,
          `RequestTurn by ${who.id}: granted ${r.granted}, position ${r.queuePosition}; expected ${granted}, ${position}`,
        );
        return r;
      };
      const first = await ask(b, true, 0);
      check(first.meeting?.turnHolderId === b.id, "a granted request does not hold the turn");
      await ask(c, false, 1);
      await ask(a, false, 2);
      const repeat = await ask(c, false, 1); // asking again: the same place, no event
      check(repeat.meeting?.queue.join(",") === `${c.id},${a.id}`, "the queue is not c, a");
      await ask(b, true, 0); // the holder asking
      const passed = (await b.meetings.passTurn({ meetingId: id })).meeting;
      check(
        passed?.turnHolderId === c.id && passed.queue.join(",") === a.id,
        `after the pass ${passed?.turnHolderId} holds the turn, queue [${passed?.queue}]`,
      );
      await ask(b, false, 2);
      // a leaves the queue by leaving; b moves up.
      await a.meetings.leaveMeeting({ meetingId: id });
      const after = (await c.meetings.getMeeting({ meetingId: id })).meeting;
      check(after?.queue.join(",") === b.id, `the queue is [${after?.queue}], not [${b.id}]`);
      await c.meetings.passTurn({ meetingId: id });
      await b.meetings.passTurn({ meetingId: id });
      const free = (await b.meetings.getMeeting({ meetingId: id })).meeting;
      check(free?.turnHolderId === "", "with an empty queue the turn is not free");
      await expectRefusal(
        a.meetings.requestTurn({ meetingId: id }),
        "NOT_JOINED",
        "RequestTurn by a participant who left",
        { status: "MEETING_PARTICIPANT_STATUS_LEFT" },
      );
      await a.meetings.joinMeeting({ meetingId: id });
      await ask(a, true, 0);
      await expectEvents(
        t,
        c,
        id,
        [
          ev("STARTED", { actor: a.id }),
          ev("TURN_GRANTED", { subject: b.id, holder: b.id, turn: 1 }),
          ev("TURN_REQUESTED", { actor: c.id, holder: b.id, turn: 1, q: 1 }),
          ev("TURN_REQUESTED", { actor: a.id, holder: b.id, turn: 1, q: 2 }),
          ev("TURN_PASSED", { actor: b.id, turn: 1 }),
          ev("TURN_GRANTED", { subject: c.id, holder: c.id, turn: 2 }),
          ev("TURN_REQUESTED", { actor: b.id, holder: c.id, turn: 2, q: 2 }),
          ev("LEFT", { actor: a.id, holder: c.id, turn: 2 }),
          ev("TURN_PASSED", { actor: c.id, turn: 2 }),
          ev("TURN_GRANTED", { subject: b.id, holder: b.id, turn: 3 }),
          ev("TURN_PASSED", { actor: b.id, turn: 3 }),
          ev("JOINED", { actor: a.id, turn: 3 }),
          ev("TURN_GRANTED", { subject: a.id, holder: a.id, turn: 4 }),
        ],
        4,
      );
    },
  },
  {
    id: "meetings.moderated",
    level: "MUST",
    profile: "meetings",
    description:
      "MODERATED: the turn stays free until the moderator grants it, in any order of raised hands, taking it from the holder; GrantTurn refuses others and unavailable grantees",
    spec: "acb.v1.MeetingService.GrantTurn",
    rules: ["meetings.moderated"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("mod-a");
      const b = await tenant.agent("mod-b");
      const c = await tenant.agent("mod-c");
      const d = await tenant.agent("mod-d");
      const mod = await tenant.agent("mod-m");
      const m = await create(a, {
        title: "moderated",
        participantIds: [a.id, b.id, c.id, d.id],
        policy: MeetingTurnPolicy.MODERATED,
        moderatorId: mod.id,
      });
      const id = m.id;
      await joinAll(id, a, b, c, mod);
      await expectRefusal(
        mod.meetings.grantTurn({ meetingId: id, agentId: b.id }),
        "INVALID_MEETING_STATE",
        "GrantTurn in a SCHEDULED meeting",
        { state: "MEETING_STATE_SCHEDULED" },
      );
      await expectRefusal(
        b.meetings.requestTurn({ meetingId: id }),
        "INVALID_MEETING_STATE",
        "RequestTurn in a SCHEDULED meeting",
        { state: "MEETING_STATE_SCHEDULED" },
      );
      const started = (await a.meetings.startMeeting({ meetingId: id })).meeting;
      check(started?.turnHolderId === "", "a MODERATED meeting granted a turn by itself");
      const hand = async (who: TestAgent, position: number) => {
        const r = await who.meetings.requestTurn({ meetingId: id });
        check(
          !r.granted && r.queuePosition === position,
          `RequestTurn by ${who.id}: granted ${r.granted}, position ${r.queuePosition}, not ${position}`,
        );
      };
      await hand(b, 1);
      await hand(c, 2);
      await expectCode(
        a.meetings.grantTurn({ meetingId: id, agentId: b.id }),
        Code.PermissionDenied,
        "GrantTurn by the creator, who is not the moderator",
      );
      const unavailable: [string, string][] = [
        ["nobody-here", "NOT_A_PARTICIPANT"],
        [d.id, "MEETING_PARTICIPANT_STATUS_INVITED"],
      ];
      for (const [agentId, status] of unavailable) {
        await expectRefusal(
          mod.meetings.grantTurn({ meetingId: id, agentId }),
          "PARTICIPANT_UNAVAILABLE",
          `GrantTurn to ${agentId}`,
          { agent_id: agentId, status },
        );
      }
      const toC = (await mod.meetings.grantTurn({ meetingId: id, agentId: c.id })).meeting;
      check(
        toC?.turnHolderId === c.id && toC.turnNumber === 1n && toC.queue.join(",") === b.id,
        `after GrantTurn(c): holder ${toC?.turnHolderId}, turn ${toC?.turnNumber}, queue [${toC?.queue}]`,
      );
      await hand(a, 2);
      const toB = (await mod.meetings.grantTurn({ meetingId: id, agentId: b.id })).meeting;
      check(
        toB?.turnHolderId === b.id && toB.turnNumber === 2n && toB.queue.join(",") === a.id,
        `after GrantTurn(b): holder ${toB?.turnHolderId}, turn ${toB?.turnNumber}, queue [${toB?.queue}]`,
      );
      await expectRefusal(
        c.meetings.speak({ meetingId: id, content: text("mine?") }),
        "NOT_TURN_HOLDER",
        "Speak by the holder the moderator took the turn from",
        { turn_holder_id: b.id, turn_number: "2" },
      );
      const passed = (await b.meetings.passTurn({ meetingId: id })).meeting;
      check(passed?.turnHolderId === "", "after a pass the MODERATED turn is not free");
      await expectRefusal(
        c.meetings.passTurn({ meetingId: id }),
        "NOT_TURN_HOLDER",
        "PassTurn while the turn is free",
        { turn_holder_id: "", turn_number: "2" },
      );
      await mod.meetings.grantTurn({ meetingId: id, agentId: mod.id });
      await a.meetings.leaveMeeting({ meetingId: id });
      await expectRefusal(
        mod.meetings.grantTurn({ meetingId: id, agentId: a.id }),
        "PARTICIPANT_UNAVAILABLE",
        "GrantTurn to a participant who left",
        { agent_id: a.id, status: "MEETING_PARTICIPANT_STATUS_LEFT" },
      );
      await mod.meetings.leaveMeeting({ meetingId: id });
      await expectRefusal(
        mod.meetings.grantTurn({ meetingId: id, agentId: b.id }),
        "NOT_JOINED",
        "GrantTurn by a moderator who left",
        { status: "MEETING_PARTICIPANT_STATUS_LEFT" },
      );
      await expectEvents(
        t,
        b,
        id,
        [
          ev("STARTED", { actor: a.id }),
          ev("TURN_REQUESTED", { actor: b.id, q: 1 }),
          ev("TURN_REQUESTED", { actor: c.id, q: 2 }),
          ev("TURN_GRANTED", { actor: mod.id, subject: c.id, holder: c.id, turn: 1 }),
          ev("TURN_REQUESTED", { actor: a.id, holder: c.id, turn: 1, q: 2 }),
          ev("TURN_GRANTED", { actor: mod.id, subject: b.id, holder: b.id, turn: 2 }),
          ev("TURN_PASSED", { actor: b.id, turn: 2 }),
          ev("TURN_GRANTED", { actor: mod.id, subject: mod.id, holder: mod.id, turn: 3 }),
          ev("LEFT", { actor: a.id, holder: mod.id, turn: 3 }),
          ev("LEFT", { actor: mod.id, turn: 3 }),
        ],
        5,
      );
      // GrantTurn in a meeting that is not MODERATED: only a moderator could call it, so the
      // policy error needs a MODERATED meeting's moderator; another policy has none.
    },
  },
  {
    id: "meetings.speak-idempotent",
    level: "MUST",
    profile: "meetings",
    description:
      "A Speak repeated with the same idempotency_key returns the first entry and speaks once, even after pass_turn_after; without a key each Speak is new; content over the limit is INVALID_ARGUMENT",
    spec: "acb.v1.MeetingService.Speak",
    rules: ["meetings.speak-idempotent", "meetings.transcript"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("sp-a");
      const b = await tenant.agent("sp-b");
      const m = await create(a, { title: "sp", participantIds: [a.id, b.id] });
      await joinAll(m.id, a, b);
      await a.meetings.startMeeting({ meetingId: m.id });
      const limit = Number(t.info.limits?.maxInlinePayloadBytes ?? 0n);
      if (limit > 0) {
        await expectCode(
          a.meetings.speak({
            meetingId: m.id,
            content: { contentType: "application/octet-stream", data: new Uint8Array(limit + 1) },
          }),
          Code.InvalidArgument,
          `Speak of ${limit + 1} bytes (max_inline_payload_bytes ${limit})`,
        );
        const full = await a.meetings.speak({
          meetingId: m.id,
          content: { contentType: "application/octet-stream", data: new Uint8Array(limit) },
          idempotencyKey: "full",
        });
        check(
          full.entry?.content?.data.length === limit,
          `Speak of exactly max_inline_payload_bytes (${limit}) was not recorded whole`,
        );
      }
      const plain1 = await a.meetings.speak({ meetingId: m.id, content: text("one") });
      const plain2 = await a.meetings.speak({ meetingId: m.id, content: text("one") });
      check(
        plain1.entry && plain2.entry && plain2.entry.sequence > plain1.entry.sequence,
        "two Speaks without a key were recorded as one",
      );
      const first = await a.meetings.speak({
        meetingId: m.id,
        content: text("once"),
        passTurnAfter: true,
        idempotencyKey: "k1",
      });
      check(first.meeting?.turnHolderId === b.id, "pass_turn_after did not pass the turn");
      const retry = await a.meetings.speak({
        meetingId: m.id,
        content: text("once"),
        passTurnAfter: true,
        idempotencyKey: "k1",
      });
      check(
        retry.entry?.sequence === first.entry?.sequence &&
          retry.entry?.speakerId === a.id &&
          new TextDecoder().decode(retry.entry?.content?.data) === "once",
        `the retried Speak returned entry ${retry.entry?.sequence}, not ${first.entry?.sequence}`,
      );
      const other = await b.meetings.speak({
        meetingId: m.id,
        content: text("mine"),
        idempotencyKey: "k2",
      });
      const transcript = await b.meetings.getTranscript({ meetingId: m.id });
      const said = transcript.entries
        .slice(limit > 0 ? 1 : 0)
        .map((e) => `${e.sequence}:${e.speakerId}:${new TextDecoder().decode(e.content?.data)}`);
      const want = [plain1, plain2, first, other].map(
        (r) =>
          `${r.entry?.sequence}:${r.entry?.speakerId}:${new TextDecoder().decode(r.entry?.content?.data)}`,
      );
      check(
        said.join(" | ") === want.join(" | "),
        `the transcript is [${said.join(" | ")}], not [${want.join(" | ")}]`,
      );
      const n = limit > 0 ? 1 : 0;
      await expectEvents(
        t,
        b,
        m.id,
        [
          ev("SPOKE", { actor: a.id, holder: a.id, turn: 1, said: `${a.id}#1` }),
          ev("SPOKE", { actor: a.id, holder: a.id, turn: 1, said: `${a.id}#1` }),
          ev("SPOKE", { actor: a.id, holder: a.id, turn: 1, said: `${a.id}#1` }),
          ev("TURN_PASSED", { actor: a.id, turn: 1 }),
          ev("TURN_GRANTED", { subject: b.id, holder: b.id, turn: 2 }),
          ev("SPOKE", { actor: b.id, holder: b.id, turn: 2, said: `${b.id}#2` }),
        ],
        5 + n,
      );
    },
  },
  {
    id: "meetings.transcript-paged",
    level: "MUST",
    profile: "meetings",
    description:
      "GetTranscript pages through every entry once in sequence order, readable after the meeting ended; another meeting's page_token is INVALID_ARGUMENT",
    spec: "acb.v1.MeetingService.GetTranscript",
    rules: ["meetings.transcript", "pagination.complete"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("tr-a");
      const b = await tenant.agent("tr-b");
      const m = await create(a, { title: "tr", participantIds: [a.id, b.id] });
      await joinAll(m.id, a, b);
      await a.meetings.startMeeting({ meetingId: m.id });
      const spoken: bigint[] = [];
      let speaker = a;
      for (let i = 0; i < 5; i++) {
        const r = await speaker.meetings.speak({
          meetingId: m.id,
          content: text(`line ${i}`),
          passTurnAfter: i % 2 === 1,
        });
        spoken.push(r.entry?.sequence ?? 0n);
        if (i % 2 === 1) speaker = speaker === a ? b : a;
      }
      await a.meetings.endMeeting({ meetingId: m.id });
      const pages: bigint[][] = [];
      let token = "";
      do {
        const page = await b.meetings.getTranscript({
          meetingId: m.id,
          pageSize: 2,
          pageToken: token,
        });
        pages.push(page.entries.map((e) => e.sequence));
        token = page.nextPageToken;
        check(pages.length <= 5, "GetTranscript keeps returning pages");
      } while (token !== "");
      const got = pages.flat();
      check(
        got.join(",") === spoken.join(",") && pages.map((p) => p.length).join(",") === "2,2,1",
        `the pages hold [${pages.map((p) => p.join(",")).join("] [")}], not the entries [${spoken.join(",")}] by twos`,
      );
      // A long transcript: more entries than a hub is likely to read in one go.
      const long = await create(a, { title: "tr-long", participantIds: [a.id] });
      await joinAll(long.id, a);
      await a.meetings.startMeeting({ meetingId: long.id });
      const count = 300;
      for (let i = 0; i < count; i++) {
        await a.meetings.speak({ meetingId: long.id, content: text(`${i}`) });
      }
      const whole = await a.meetings.getTranscript({ meetingId: long.id, pageSize: 1000 });
      const texts = whole.entries.map((e) => new TextDecoder().decode(e.content?.data));
      check(
        texts.length === count && texts.every((x, i) => x === `${i}`) && whole.nextPageToken === "",
        `a transcript of ${count} entries read in one page of 1000 holds ${texts.length} entries (token "${whole.nextPageToken}")`,
      );
      let read = 0;
      let next = "";
      for (let p = 0; p < 3; p++) {
        const page = await a.meetings.getTranscript({
          meetingId: long.id,
          pageSize: 120,
          pageToken: next,
        });
        read += page.entries.length;
        next = page.nextPageToken;
        check(
          page.entries[0]?.sequence === whole.entries[p * 120]?.sequence,
          `page ${p + 1} of 120 entries starts at ${page.entries[0]?.sequence}`,
        );
      }
      check(read === count && next === "", `pages of 120 held ${read} entries, then "${next}"`);
      const firstPage = await b.meetings.getTranscript({ meetingId: m.id, pageSize: 2 });
      const other = await create(a, { title: "tr2", participantIds: [b.id] });
      await expectCode(
        a.meetings.getTranscript({ meetingId: other.id, pageToken: firstPage.nextPageToken }),
        Code.InvalidArgument,
        "GetTranscript with another meeting's page_token",
      );
      const none = await a.meetings.getTranscript({ meetingId: other.id });
      check(
        none.entries.length === 0 && none.nextPageToken === "",
        "the transcript of a meeting where nobody spoke is not empty",
      );
    },
  },
  {
    id: "meetings.list-visible",
    level: "MUST",
    profile: "meetings",
    description:
      "Only participants and tenant admins see a meeting: others get NOT_FOUND; ListMeetings shows what the caller can see, newest first, by state and participant, page by page",
    spec: "acb.v1.MeetingService.ListMeetings",
    rules: ["meetings.visibility", "pagination.complete"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("ls-a");
      const b = await tenant.agent("ls-b");
      const c = await tenant.agent("ls-c");
      const admin = await tenant.agent("ls-admin", { roles: [Role.ADMIN] });
      const m1 = await create(a, { title: "ab", participantIds: [b.id] });
      const m2 = await create(a, { title: "ac", participantIds: [c.id] });
      const m3 = await create(b, { title: "bc", participantIds: [c.id] });
      await joinAll(m1.id, a);
      await a.meetings.startMeeting({ meetingId: m1.id });
      const ids = async (
        who: TestAgent,
        filter: { state?: MeetingState; participantId?: string } = {},
      ) => {
        const out: string[] = [];
        let pageToken = "";
        let last = Number.POSITIVE_INFINITY;
        do {
          const page = await who.meetings.listMeetings({ ...filter, pageSize: 1, pageToken });
          check(
            page.meetings.length > 0 || pageToken === "",
            `ListMeetings for ${who.id} gave a next_page_token on its last page`,
          );
          for (const x of page.meetings) {
            const at = ms(x.createdAt) ?? 0;
            check(at <= last, `ListMeetings for ${who.id} is not newest first`);
            last = at;
            out.push(x.id);
          }
          pageToken = page.nextPageToken;
          check(out.length <= 10, "ListMeetings keeps returning pages");
        } while (pageToken !== "");
        return out.sort().join(",");
      };
      const sorted = (...list: Meeting[]) =>
        list
          .map((x) => x.id)
          .sort()
          .join(",");
      const cases: [string, TestAgent, Parameters<typeof ids>[1], string][] = [
        ["a", a, {}, sorted(m1, m2)],
        ["b", b, {}, sorted(m1, m3)],
        ["c", c, {}, sorted(m2, m3)],
        ["the admin", admin, {}, sorted(m1, m2, m3)],
        ["a, ACTIVE", a, { state: MeetingState.ACTIVE }, sorted(m1)],
        ["a, SCHEDULED", a, { state: MeetingState.SCHEDULED }, sorted(m2)],
        ["a, participant c", a, { participantId: c.id }, sorted(m2)],
        ["the admin, participant c", admin, { participantId: c.id }, sorted(m2, m3)],
        ["c, participant b", c, { participantId: b.id }, sorted(m3)],
      ];
      for (const [who, agent, filter, want] of cases) {
        const got = await ids(agent, filter);
        check(got === want, `ListMeetings for ${who} shows [${got}], not [${want}]`);
      }
      const page = await a.meetings.listMeetings({ pageSize: 1 });
      await expectCode(
        a.meetings.listMeetings({
          pageSize: 1,
          pageToken: page.nextPageToken,
          participantId: b.id,
        }),
        Code.InvalidArgument,
        "ListMeetings with a page_token of another query",
      );
      // c is not in m1: every read is NOT_FOUND.
      await expectCode(
        c.meetings.getMeeting({ meetingId: m1.id }),
        Code.NotFound,
        "GetMeeting by an agent of the tenant who is not a participant",
      );
      await expectCode(
        c.meetings.getTranscript({ meetingId: m1.id }),
        Code.NotFound,
        "GetTranscript by a non-participant",
      );
      await expectCode(
        c.meetings.joinMeeting({ meetingId: m1.id }),
        Code.NotFound,
        "JoinMeeting by a non-participant",
      );
      const watch = t.stream((signal) =>
        c.meetings.watchMeeting({ meetingId: m1.id, fromBeginning: true }, { signal }),
      );
      const err = await watch.end("WatchMeeting by a non-participant", t.settings.waitMs);
      check(
        err?.code === Code.NotFound,
        `WatchMeeting by a non-participant ended with ${err?.code}`,
      );
      // Participants see it in any status, the admin too.
      await b.meetings.getMeeting({ meetingId: m1.id });
      await admin.meetings.getTranscript({ meetingId: m1.id });
    },
  },
  {
    id: "meetings.max-duration",
    level: "MUST",
    profile: "meetings",
    description:
      "An ACTIVE meeting ends with reason MAX_DURATION at started_at + max_duration (ENDED with no actor, the last event)",
    spec: "acb.v1.CreateMeetingRequest.max_duration",
    rules: ["meetings.max-duration", "meetings.watch-live"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("md-a");
      const b = await tenant.agent("md-b");
      const m = await create(a, {
        title: "md",
        participantIds: [a.id, b.id],
        maxDuration: duration(1_000),
        turnTimeout: duration(5_000),
      });
      await joinAll(m.id, a, b);
      const watch = t.stream((signal) => b.meetings.watchMeeting({ meetingId: m.id }, { signal }));
      await watch.waitFor((e) => e.kind === MeetingKind.READY, "READY", t.settings.waitMs);
      const started = (await a.meetings.startMeeting({ meetingId: m.id })).meeting;
      const startedAt = ms(started?.startedAt) ?? 0;
      const ended = await watch.waitFor(
        (e) => e.kind === MeetingKind.ENDED,
        "ENDED after the 1 s maximum duration",
        1_000 + t.settings.waitMs,
      );
      check(
        ended.endReason === MeetingEndReason.MAX_DURATION && ended.actorId === "",
        `ENDED with reason ${MeetingEndReason[ended.endReason]}, actor "${ended.actorId}"`,
      );
      check(
        ended.turnHolderId === "" && ended.state === MeetingState.ENDED,
        "the ENDED event keeps a turn holder or another state",
      );
      check(
        ms(ended.time) === startedAt + 1_000,
        `ENDED at ${ms(ended.time)}, not started_at + max_duration (${startedAt + 1_000})`,
      );
      const end = await watch.end("the stream after the live ENDED", t.settings.waitMs);
      check(end === undefined, `the stream ended with ${end?.code} after ENDED, not OK`);
      const got = (await a.meetings.getMeeting({ meetingId: m.id })).meeting;
      check(
        got?.state === MeetingState.ENDED &&
          got.endReason === MeetingEndReason.MAX_DURATION &&
          ms(got.endedAt) === startedAt + 1_000,
        "GetMeeting does not show the meeting ENDED at its maximum duration",
      );
      // Watching an over meeting: its events, READY, then the stream ends.
      const replay = t.stream((signal) =>
        a.meetings.watchMeeting({ meetingId: m.id, fromBeginning: true }, { signal }),
      );
      const ready = await replay.waitFor(
        (e) => e.kind === MeetingKind.READY,
        "READY of an ENDED meeting",
        t.settings.waitMs,
      );
      check(
        ready.meeting?.state === MeetingState.ENDED && ready.sequence === ended.sequence,
        "READY of an ENDED meeting does not carry it at its last event",
      );
      const closed = await replay.end("the stream of an ENDED meeting", t.settings.waitMs);
      check(closed === undefined, "the stream of an ENDED meeting did not end OK after READY");
    },
  },
  {
    id: "meetings.presence-forfeit",
    level: "MUST",
    profile: "meetings",
    description:
      "A holder whose presence is lost forfeits the turn (TURN_FORFEITED, stays JOINED) and the turn moves on; an OFFLINE participant is skipped and cannot be granted the turn",
    spec: "acb.v1.WatchMeetingResponse.Kind.KIND_TURN_FORFEITED",
    rules: ["meetings.presence-forfeit"],
    requires,
    timeoutMs: 30_000,
    async run(t) {
      const presenceTimeoutMs = 1_500;
      const tenant = await t.tenant({ presenceTimeoutMs, heartbeatIntervalMs: 500 });
      // a stays ONLINE through its Receive stream; b stops after its registration; c never
      // registers, so it has no presence and is never OFFLINE.
      // pf-e, registered before b, is OFFLINE by the time b is, and never joins.
      const a = await tenant.agent("pf-a");
      const inbox = await Inbox.open(t, a);
      const c = await tenant.agent("pf-c", { register: false });
      const gone = await tenant.agent("pf-e");
      const b = await tenant.agent("pf-b");
      const m = await create(a, { title: "pf", participantIds: [b.id, a.id, c.id] });
      const mod = await create(a, {
        title: "pf-moderated",
        participantIds: [b.id, gone.id],
        policy: MeetingTurnPolicy.MODERATED,
        moderatorId: a.id,
      });
      await joinAll(m.id, b, a, c);
      await joinAll(mod.id, b, a);
      const watch = t.stream((signal) => a.meetings.watchMeeting({ meetingId: m.id }, { signal }));
      await watch.waitFor((e) => e.kind === MeetingKind.READY, "READY", t.settings.waitMs);
      // b's last sign of life: from here its presence lasts presenceTimeoutMs.
      await b.registry.heartbeat({ agentId: b.id });
      const started = (await a.meetings.startMeeting({ meetingId: m.id })).meeting;
      check(
        started?.turnHolderId === b.id,
        `the first holder is "${started?.turnHolderId}", not ${b.id} (b's presence lasts ${presenceTimeoutMs} ms from its heartbeat)`,
      );
      // Another meeting's deadlines, set meanwhile, do not displace this one's.
      await a.meetings.startMeeting({ meetingId: mod.id });
      const seen = ms((await a.registry.getAgent({ agentId: b.id })).agent?.lastSeen) ?? 0;
      const forfeit = await watch.waitFor(
        (e) => e.kind === MeetingKind.TURN_FORFEITED,
        `TURN_FORFEITED of ${b.id} after its presence timeout`,
        presenceTimeoutMs + t.settings.waitMs,
      );
      check(
        forfeit.subjectId === b.id && forfeit.actorId === "" && forfeit.turnHolderId === "",
        `TURN_FORFEITED names subject "${forfeit.subjectId}", actor "${forfeit.actorId}", holder "${forfeit.turnHolderId}"`,
      );
      check(
        (ms(forfeit.time) ?? 0) >= seen + presenceTimeoutMs,
        `the turn was forfeited at ${ms(forfeit.time)}, before b's presence timed out (${seen + presenceTimeoutMs})`,
      );
      const granted = await watch.next("the grant after TURN_FORFEITED", t.settings.waitMs);
      check(
        granted.kind === MeetingKind.TURN_GRANTED && granted.subjectId === a.id,
        `after TURN_FORFEITED: ${render(granted)}`,
      );
      const status = (await a.registry.getAgent({ agentId: b.id })).agent?.status;
      check(status === AgentStatus.OFFLINE, "the registry does not show b OFFLINE");
      const now = (await a.meetings.getMeeting({ meetingId: m.id })).meeting;
      check(
        statuses(now).includes(`${b.id}:JOINED`),
        "the holder who forfeited the turn is no longer JOINED",
      );
      // Round robin skips the OFFLINE b: a → c → a.
      const toC = (await a.meetings.passTurn({ meetingId: m.id })).meeting;
      check(toC?.turnHolderId === c.id, `a passed to "${toC?.turnHolderId}", not ${c.id}`);
      const toA = (await c.meetings.passTurn({ meetingId: m.id })).meeting;
      check(
        toA?.turnHolderId === a.id,
        `c passed to "${toA?.turnHolderId}", not ${a.id} (b is OFFLINE)`,
      );
      await expectRefusal(
        a.meetings.grantTurn({ meetingId: mod.id, agentId: b.id }),
        "PARTICIPANT_UNAVAILABLE",
        "GrantTurn to an OFFLINE participant",
        { agent_id: b.id, status: "OFFLINE" },
      );
      await expectRefusal(
        a.meetings.grantTurn({ meetingId: mod.id, agentId: gone.id }),
        "PARTICIPANT_UNAVAILABLE",
        "GrantTurn to an INVITED participant whose presence is lost",
        { agent_id: gone.id, status: "MEETING_PARTICIPANT_STATUS_INVITED" },
      );
      inbox.close();
    },
  },
];
