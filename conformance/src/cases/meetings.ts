// Meetings profile: only the turn holder speaks, turn timeouts advance the turn, events resume.

import {
  WatchMeetingResponse_Kind as MeetingKind,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
import { type ConformanceCase, check } from "../case.js";
import { type CaseContext, duration, type TestAgent } from "../harness.js";
import { text } from "../inbox.js";
import { Code, expectCode, reasonOf } from "../wire.js";

const requires = ["meetings"];

/** A started round-robin meeting of `a` (creator) and `b`, both joined. */
async function startedMeeting(t: CaseContext, prefix: string, turnTimeoutMs?: number) {
  const tenant = await t.tenant();
  const a = await tenant.agent(`${prefix}-a`);
  const b = await tenant.agent(`${prefix}-b`);
  const { meeting } = await a.meetings.createMeeting({
    title: "conformance",
    participantIds: [a.id, b.id],
    policy: MeetingTurnPolicy.ROUND_ROBIN,
    ...(turnTimeoutMs !== undefined && { turnTimeout: duration(turnTimeoutMs) }),
  });
  if (!meeting) throw new Error("CreateMeeting returned no meeting");
  await a.meetings.joinMeeting({ meetingId: meeting.id });
  await b.meetings.joinMeeting({ meetingId: meeting.id });
  const started = await a.meetings.startMeeting({ meetingId: meeting.id });
  const holder = started.meeting?.turnHolderId ?? "";
  check(holder === a.id || holder === b.id, `after StartMeeting the turn holder is "${holder}"`);
  const [speaker, other] = holder === a.id ? [a, b] : [b, a];
  return { id: meeting.id, speaker: speaker as TestAgent, other: other as TestAgent };
}

export const meetingCases: ConformanceCase[] = [
  {
    id: "meetings.only-holder-speaks",
    level: "MUST",
    profile: "meetings",
    description:
      "Only the turn holder may speak; anyone else gets FAILED_PRECONDITION NOT_TURN_HOLDER",
    spec: "acb.v1.MeetingService.Speak",
    rules: ["meetings.only-holder-speaks"],
    requires,
    async run(t) {
      const m = await startedMeeting(t, "turns");
      const err = await expectCode(
        m.other.meetings.speak({ meetingId: m.id, content: text("me first") }),
        Code.FailedPrecondition,
        "Speak by a participant who does not hold the turn",
      );
      check(reasonOf(err) === "NOT_TURN_HOLDER", `ErrorInfo reason is "${reasonOf(err)}"`);
      const spoke = await m.speaker.meetings.speak({
        meetingId: m.id,
        content: text("hello"),
        passTurnAfter: true,
      });
      check(spoke.entry?.speakerId === m.speaker.id, "the transcript entry names another speaker");
      check(
        spoke.meeting?.turnHolderId === m.other.id,
        "passing did not give the turn to the next participant",
      );
      const transcript = await m.other.meetings.getTranscript({ meetingId: m.id });
      check(
        transcript.entries.length === 1,
        `the transcript holds ${transcript.entries.length} entries, not 1`,
      );
    },
  },
  {
    id: "meetings.turn-timeout",
    level: "MUST",
    profile: "meetings",
    description:
      "A turn not passed within turn_timeout ends (TURN_TIMED_OUT) and the next participant is granted it",
    spec: "acb.v1.CreateMeetingRequest.turn_timeout",
    rules: ["meetings.turn-timeout"],
    requires,
    async run(t) {
      const m = await startedMeeting(t, "timeout", 1_000);
      const watch = t.stream((signal) =>
        m.other.meetings.watchMeeting({ meetingId: m.id, fromBeginning: true }, { signal }),
      );
      const bound = 1_000 + t.settings.waitMs;
      await watch.waitFor(
        (e) => e.kind === MeetingKind.TURN_TIMED_OUT && e.subjectId === m.speaker.id,
        "TURN_TIMED_OUT of the first holder after a 1 s turn timeout",
        bound,
      );
      await watch.waitFor(
        (e) => e.kind === MeetingKind.TURN_GRANTED && e.turnHolderId === m.other.id,
        "TURN_GRANTED to the next participant",
        t.settings.waitMs,
      );
    },
  },
  {
    id: "meetings.events-resume",
    level: "MUST",
    profile: "meetings",
    description:
      "WatchMeeting numbers events 1, 2, …; resuming from a cursor replays exactly the later events, then READY",
    spec: "acb.v1.WatchMeetingRequest",
    rules: ["meetings.events-resume"],
    requires,
    async run(t) {
      const m = await startedMeeting(t, "events");
      const all = t.stream((signal) =>
        m.other.meetings.watchMeeting({ meetingId: m.id, fromBeginning: true }, { signal }),
      );
      const before: { seq: bigint; cursor: string }[] = [];
      for (;;) {
        const e = await all.next("events from the beginning", t.settings.waitMs);
        if (e.kind === MeetingKind.READY) break;
        before.push({ seq: e.sequence, cursor: e.cursor });
      }
      const seqs = before.map((e) => Number(e.seq));
      check(
        seqs.length > 0 && seqs.every((s, i) => s === i + 1),
        `event sequence numbers are [${seqs.join(", ")}]`,
      );
      all.close();
      const last = before[before.length - 1];
      await m.speaker.meetings.speak({
        meetingId: m.id,
        content: text("while away"),
        passTurnAfter: true,
      });
      const resumed = t.stream((signal) =>
        m.other.meetings.watchMeeting({ meetingId: m.id, cursor: last?.cursor ?? "" }, { signal }),
      );
      const replay: number[] = [];
      let spoke = false;
      for (;;) {
        const e = await resumed.next("events after the cursor", t.settings.waitMs);
        if (e.kind === MeetingKind.READY) break;
        replay.push(Number(e.sequence));
        if (e.kind === MeetingKind.SPOKE) spoke = true;
      }
      const start = seqs.length + 1;
      check(
        replay[0] === start && replay.every((s, i) => s === start + i),
        `after the cursor the hub replayed [${replay.join(", ")}]`,
      );
      check(spoke, "the SPOKE event missed while away was not replayed");
    },
  },
];
