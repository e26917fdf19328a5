import {
  WatchMeetingResponse_Kind as Kind,
  type Meeting,
  MeetingEndReason,
  MeetingParticipantStatus,
  MeetingState,
  type MeetingTranscriptEntry,
  MeetingTurnPolicy,
  type WatchMeetingResponse,
} from "@acb/gen/acb/v1/meetings_pb";
import { type Duration, timestampDate } from "@bufbuild/protobuf/wkt";
import { autoCodec, type PayloadCodec } from "./payload-codec.js";

/** How the turn passes between participants. */
export type MeetingPolicyName = "round-robin" | "moderated" | "free-for-all";
/** Where a meeting is in its lifecycle. */
export type MeetingStateName = "scheduled" | "active" | "ended" | "cancelled";
/** Why a meeting is over. */
export type MeetingEndReasonName = "requested" | "max-duration" | "cancelled";
/** A participant's standing. */
export type ParticipantStatusName = "invited" | "joined" | "left";
/** What a meeting event reports; "ready" marks the end of the replay (the stream is live). */
export type MeetingEventKind =
  | "ready"
  | "joined"
  | "left"
  | "started"
  | "turn-granted"
  | "spoke"
  | "turn-passed"
  | "turn-timed-out"
  | "turn-requested"
  | "ended"
  | "cancelled"
  | "turn-forfeited";

/** A meeting as read from the hub. */
export interface MeetingInfo {
  id: string;
  title: string;
  agenda: string[];
  metadata: Record<string, string>;
  state: MeetingStateName;
  policy: MeetingPolicyName;
  creatorId: string;
  moderatorId: string;
  /** In turn order. */
  participants: {
    agentId: string;
    status: ParticipantStatusName;
    joinedAt: Date | undefined;
    leftAt: Date | undefined;
  }[];
  /** Empty when nobody holds the turn. */
  turnHolderId: string;
  turnNumber: number;
  turnDeadline: Date | undefined;
  /** Agents waiting for the turn, first in line first. */
  queue: string[];
  createdAt: Date | undefined;
  startedAt: Date | undefined;
  endedAt: Date | undefined;
  endReason: MeetingEndReasonName | undefined;
  endNote: string;
  maxDurationMs: number;
  turnTimeoutMs: number | undefined;
}

/** Something a turn holder said, decoded. */
export interface TranscriptEntry<T = unknown> {
  sequence: number;
  turnNumber: number;
  speakerId: string;
  content: T;
  contentType: string;
  time: Date | undefined;
}

/** One event of a meeting. */
export interface MeetingEvent<T = unknown> {
  kind: MeetingEventKind;
  sequence: number;
  /** Resume point just past this event. */
  cursor: string;
  time: Date | undefined;
  /** Whose call caused it; empty when the hub did (timeouts, policy grants, maximum duration). */
  actorId: string;
  /** Who it is about when not the actor (the grantee, the holder who timed out). */
  subjectId: string;
  turnHolderId: string;
  turnNumber: number;
  state: MeetingStateName;
  /** "spoke" only. */
  entry: TranscriptEntry<T> | undefined;
  /** "turn-requested" only: the requester's place in the queue, 1 being next. */
  queuePosition: number;
  endReason: MeetingEndReasonName | undefined;
  /** "ready" only: the meeting as it stands. */
  meeting: MeetingInfo | undefined;
}

export const policyValues: Record<MeetingPolicyName, MeetingTurnPolicy> = {
  "round-robin": MeetingTurnPolicy.ROUND_ROBIN,
  moderated: MeetingTurnPolicy.MODERATED,
  "free-for-all": MeetingTurnPolicy.FREE_FOR_ALL,
};

const policyNames = new Map(Object.entries(policyValues).map(([k, v]) => [v, k])) as Map<
  MeetingTurnPolicy,
  MeetingPolicyName
>;

export const stateValues: Record<MeetingStateName, MeetingState> = {
  scheduled: MeetingState.SCHEDULED,
  active: MeetingState.ACTIVE,
  ended: MeetingState.ENDED,
  cancelled: MeetingState.CANCELLED,
};

const stateNames = new Map(Object.entries(stateValues).map(([k, v]) => [v, k])) as Map<
  MeetingState,
  MeetingStateName
>;

const endReasons: Partial<Record<MeetingEndReason, MeetingEndReasonName>> = {
  [MeetingEndReason.REQUESTED]: "requested",
  [MeetingEndReason.MAX_DURATION]: "max-duration",
  [MeetingEndReason.CANCELLED]: "cancelled",
};

const participantStatuses: Partial<Record<MeetingParticipantStatus, ParticipantStatusName>> = {
  [MeetingParticipantStatus.INVITED]: "invited",
  [MeetingParticipantStatus.JOINED]: "joined",
  [MeetingParticipantStatus.LEFT]: "left",
};

const kinds: Partial<Record<Kind, MeetingEventKind>> = {
  [Kind.READY]: "ready",
  [Kind.JOINED]: "joined",
  [Kind.LEFT]: "left",
  [Kind.STARTED]: "started",
  [Kind.TURN_GRANTED]: "turn-granted",
  [Kind.SPOKE]: "spoke",
  [Kind.TURN_PASSED]: "turn-passed",
  [Kind.TURN_TIMED_OUT]: "turn-timed-out",
  [Kind.TURN_REQUESTED]: "turn-requested",
  [Kind.ENDED]: "ended",
  [Kind.CANCELLED]: "cancelled",
  [Kind.TURN_FORFEITED]: "turn-forfeited",
};

const dateOf = (t: Parameters<typeof timestampDate>[0] | undefined) => t && timestampDate(t);
const msOf = (d: Duration | undefined) =>
  d === undefined ? undefined : Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);

export function meetingInfo(m: Meeting): MeetingInfo {
  return {
    id: m.id,
    title: m.title,
    agenda: m.agenda,
    metadata: m.metadata,
    state: stateNames.get(m.state) ?? "scheduled",
    policy: policyNames.get(m.policy) ?? "round-robin",
    creatorId: m.creatorId,
    moderatorId: m.moderatorId,
    participants: m.participants.map((p) => ({
      agentId: p.agentId,
      status: participantStatuses[p.status] ?? "invited",
      joinedAt: dateOf(p.joinedAt),
      leftAt: dateOf(p.leftAt),
    })),
    turnHolderId: m.turnHolderId,
    turnNumber: Number(m.turnNumber),
    turnDeadline: dateOf(m.turnDeadline),
    queue: m.queue,
    createdAt: dateOf(m.createdAt),
    startedAt: dateOf(m.startedAt),
    endedAt: dateOf(m.endedAt),
    endReason: endReasons[m.endReason],
    endNote: m.endNote,
    maxDurationMs: msOf(m.maxDuration) ?? 0,
    turnTimeoutMs: msOf(m.turnTimeout),
  };
}

export function transcriptEntry<T>(
  e: MeetingTranscriptEntry,
  codec: PayloadCodec<T> = autoCodec as PayloadCodec<T>,
): TranscriptEntry<T> {
  const contentType = e.content?.contentType ?? "";
  return {
    sequence: Number(e.sequence),
    turnNumber: Number(e.turnNumber),
    speakerId: e.speakerId,
    content: codec.decode(e.content?.data ?? new Uint8Array(), contentType),
    contentType,
    time: dateOf(e.time),
  };
}

/** The SDK's view of a WatchMeeting message; undefined for kinds this SDK does not know. */
export function meetingEvent<T>(
  e: WatchMeetingResponse,
  codec: PayloadCodec<T> | undefined,
): MeetingEvent<T> | undefined {
  const kind = kinds[e.kind];
  if (!kind) return undefined;
  return {
    kind,
    sequence: Number(e.sequence),
    cursor: e.cursor,
    time: dateOf(e.time),
    actorId: e.actorId,
    subjectId: e.subjectId,
    turnHolderId: e.turnHolderId,
    turnNumber: Number(e.turnNumber),
    state: stateNames.get(e.state) ?? "scheduled",
    entry: e.entry && transcriptEntry(e.entry, codec),
    queuePosition: e.queuePosition,
    endReason: endReasons[e.endReason],
    meeting: e.meeting && meetingInfo(e.meeting),
  };
}
