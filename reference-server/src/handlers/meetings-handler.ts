import {
  type Meeting,
  MeetingSchema,
  type MeetingService,
  type MeetingTranscriptEntry,
  MeetingTranscriptEntrySchema,
  WatchMeetingResponse_Kind,
  WatchMeetingResponseSchema,
} from "@acb/gen/acb/v1/meetings_pb";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { encodeMeetingCursor } from "../domain/meeting-cursor.js";
import type { Meetings } from "../domain/meetings.js";
import type { HubContext } from "../hub-context.js";
import type { MeetingRecord, MeetingTranscriptEntryRecord } from "../storage/types.js";
import { callerOf, durationMs, ts, tsOpt } from "./convert.js";

export function meetingToProto(m: MeetingRecord): Meeting {
  return create(MeetingSchema, {
    id: m.id,
    tenantId: m.tenantId,
    title: m.title,
    agenda: m.agenda,
    metadata: m.metadata,
    state: m.state,
    policy: m.policy,
    creatorId: m.creatorId,
    moderatorId: m.moderatorId,
    participants: m.participants.map((p) => ({
      agentId: p.agentId,
      status: p.status,
      joinedAt: tsOpt(p.joinedAt),
      leftAt: tsOpt(p.leftAt),
    })),
    turnHolderId: m.turnHolderId,
    turnNumber: BigInt(m.turnNumber),
    turnDeadline: tsOpt(m.turnDeadline),
    queue: m.queue,
    createdAt: ts(m.createdAt),
    startedAt: tsOpt(m.startedAt),
    endedAt: tsOpt(m.endedAt),
    endReason: m.endReason,
    endNote: m.endNote,
    maxDuration: durationFromMs(m.maxDurationMs),
    ...(m.turnTimeoutMs !== undefined && { turnTimeout: durationFromMs(m.turnTimeoutMs) }),
  });
}

export function entryToProto(e: MeetingTranscriptEntryRecord): MeetingTranscriptEntry {
  return create(MeetingTranscriptEntrySchema, {
    sequence: BigInt(e.sequence),
    turnNumber: BigInt(e.turnNumber),
    speakerId: e.speakerId,
    content: { contentType: e.contentType, data: e.data },
    time: ts(e.time),
  });
}

/** MeetingService over the Meetings domain: messages in, records out. */
export function createMeetingsHandler(
  hub: HubContext,
  meetings: Meetings,
): ServiceImpl<typeof MeetingService> {
  return {
    async createMeeting(req, ctx) {
      const meeting = await meetings.create(callerOf(ctx), {
        meetingId: req.meetingId,
        title: req.title,
        agenda: req.agenda,
        metadata: req.metadata,
        participantIds: req.participantIds,
        policy: req.policy,
        moderatorId: req.moderatorId,
        turnTimeoutMs: durationMs(req.turnTimeout),
        maxDurationMs: durationMs(req.maxDuration),
      });
      return { meeting: meetingToProto(meeting) };
    },
    async getMeeting(req, ctx) {
      return { meeting: meetingToProto(await meetings.get(callerOf(ctx), req.meetingId)) };
    },
    async listMeetings(req, ctx) {
      const page = await meetings.list(
        callerOf(ctx),
        { state: req.state, participantId: req.participantId },
        req.pageSize,
        req.pageToken,
      );
      return { meetings: page.meetings.map(meetingToProto), nextPageToken: page.nextPageToken };
    },
    async joinMeeting(req, ctx) {
      return { meeting: meetingToProto(await meetings.join(callerOf(ctx), req.meetingId)) };
    },
    async leaveMeeting(req, ctx) {
      return { meeting: meetingToProto(await meetings.leave(callerOf(ctx), req.meetingId)) };
    },
    async startMeeting(req, ctx) {
      return { meeting: meetingToProto(await meetings.start(callerOf(ctx), req.meetingId)) };
    },
    async endMeeting(req, ctx) {
      const meeting = await meetings.end(callerOf(ctx), req.meetingId, req.note);
      return { meeting: meetingToProto(meeting) };
    },
    async cancelMeeting(req, ctx) {
      const meeting = await meetings.cancel(callerOf(ctx), req.meetingId, req.note);
      return { meeting: meetingToProto(meeting) };
    },
    async requestTurn(req, ctx) {
      const r = await meetings.requestTurn(callerOf(ctx), req.meetingId);
      return {
        granted: r.granted,
        queuePosition: r.position,
        meeting: meetingToProto(r.meeting),
      };
    },
    async passTurn(req, ctx) {
      const meeting = await meetings.passTurn(callerOf(ctx), req.meetingId, Number(req.turnNumber));
      return { meeting: meetingToProto(meeting) };
    },
    async grantTurn(req, ctx) {
      const meeting = await meetings.grantTurn(callerOf(ctx), req.meetingId, req.agentId);
      return { meeting: meetingToProto(meeting) };
    },
    async speak(req, ctx) {
      const r = await meetings.speak(callerOf(ctx), req.meetingId, {
        contentType: req.content?.contentType ?? "",
        data: req.content?.data ?? new Uint8Array(),
        passTurnAfter: req.passTurnAfter,
        turnNumber: Number(req.turnNumber),
        idempotencyKey: req.idempotencyKey,
      });
      return { entry: entryToProto(r.entry), meeting: meetingToProto(r.meeting) };
    },
    async *watchMeeting(req, ctx) {
      const events = meetings.watch(
        callerOf(ctx),
        req.meetingId,
        req.cursor,
        req.fromBeginning,
        ctx.signal,
      );
      for await (const item of events) {
        if (item.kind === "ready") {
          const m = item.meeting;
          yield create(WatchMeetingResponseSchema, {
            kind: WatchMeetingResponse_Kind.READY,
            meetingId: m.id,
            sequence: BigInt(m.lastSeq),
            cursor: encodeMeetingCursor(hub.epoch, m.id, m.lastSeq),
            time: ts(hub.clock.now()),
            turnHolderId: m.turnHolderId,
            turnNumber: BigInt(m.turnNumber),
            state: m.state,
            meeting: meetingToProto(m),
          });
          continue;
        }
        const e = item.event;
        yield create(WatchMeetingResponseSchema, {
          kind: e.kind,
          meetingId: req.meetingId,
          sequence: BigInt(e.seq),
          cursor: encodeMeetingCursor(hub.epoch, req.meetingId, e.seq),
          time: ts(e.time),
          actorId: e.actorId,
          subjectId: e.subjectId,
          turnHolderId: e.turnHolderId,
          turnNumber: BigInt(e.turnNumber),
          state: e.state,
          ...(e.entry && { entry: entryToProto(e.entry) }),
          queuePosition: e.queuePosition,
          endReason: e.endReason,
        });
      }
    },
    async getTranscript(req, ctx) {
      const page = await meetings.transcript(
        callerOf(ctx),
        req.meetingId,
        req.pageSize,
        req.pageToken,
      );
      return { entries: page.entries.map(entryToProto), nextPageToken: page.nextPageToken };
    },
  };
}
