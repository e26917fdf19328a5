import {
  WatchMeetingResponse_Kind as Kind,
  MeetingEndReason,
  MeetingParticipantStatus,
  MeetingState,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
import type {
  MeetingEventRecord,
  MeetingParticipantRecord,
  MeetingRecord,
  MeetingTranscriptEntryRecord,
} from "../storage/types.js";

/** Optional facts of an event; everything else is read from the meeting after the change. */
export interface EventFields {
  actorId?: string;
  subjectId?: string;
  entry?: Omit<MeetingTranscriptEntryRecord, "sequence">;
  queuePosition?: number;
  endReason?: MeetingEndReason;
  /** When it happened; default: now. Overdue deadlines are recorded at the deadline. */
  time?: number;
}

/** When an ACTIVE meeting reaches its maximum duration. */
export function endsAt(m: MeetingRecord): number | undefined {
  return m.startedAt === undefined ? undefined : m.startedAt + m.maxDurationMs;
}

/**
 * One change to a meeting in the making: the rules of turns and the lifecycle applied to a copy
 * of the stored record, collecting the events they cause. Nothing here touches storage or time:
 * the caller supplies "now" and which participants are offline, then stores the result with one
 * compare-and-set, so the same rules give the same outcome on whichever hub node applies them.
 */
export class MeetingDraft {
  readonly events: MeetingEventRecord[] = [];

  constructor(
    readonly m: MeetingRecord,
    readonly now: number,
    private readonly offline: ReadonlySet<string>,
  ) {}

  participant(agentId: string): MeetingParticipantRecord | undefined {
    return this.m.participants.find((p) => p.agentId === agentId);
  }

  isOffline(agentId: string): boolean {
    return this.offline.has(agentId);
  }

  /** JOINED and not OFFLINE: may be given the turn. */
  isEligible(agentId: string): boolean {
    return (
      // Stryker disable next-line OptionalChaining: only participants are asked (the queue, the participant list, a GrantTurn target found first)
      this.participant(agentId)?.status === MeetingParticipantStatus.JOINED &&
      !this.offline.has(agentId)
    );
  }

  /** Records an event describing the meeting as it stands after the change just applied. */
  emit(kind: Kind, fields: EventFields = {}): MeetingEventRecord {
    const seq = this.m.lastSeq + 1;
    this.m.lastSeq = seq;
    const event: MeetingEventRecord = {
      seq,
      kind,
      time: fields.time ?? this.now,
      actorId: fields.actorId ?? "",
      subjectId: fields.subjectId ?? "",
      turnHolderId: this.m.turnHolderId,
      turnNumber: this.m.turnNumber,
      state: this.m.state,
      queuePosition: fields.queuePosition ?? 0,
      endReason: fields.endReason ?? MeetingEndReason.UNSPECIFIED,
      ...(fields.entry && { entry: { ...fields.entry, sequence: seq } }),
    };
    this.events.push(event);
    return event;
  }

  /** Starts a new turn for `agentId` (TURN_GRANTED); `actorId` is the moderator or "" (policy). */
  grant(agentId: string, actorId: string): void {
    // The previous holder is recorded when the turn is freed (clearTurn); only a moderator's grant
    // takes a held turn, and MODERATED does not read it.
    this.m.turnHolderId = agentId;
    this.m.turnNumber += 1;
    this.m.queue = this.m.queue.filter((id) => id !== agentId);
    // Without a turn timeout no deadline is ever set, so there is none to remove.
    if (this.m.turnTimeoutMs !== undefined) this.m.turnDeadline = this.now + this.m.turnTimeoutMs;
    this.emit(Kind.TURN_GRANTED, { actorId, subjectId: agentId });
  }

  /** Takes the turn from its holder without an event (the caller emits the one that says why). */
  clearTurn(): void {
    // Only a finished meeting's turn is cleared when free, and nobody reads it afterwards.
    this.m.lastHolderId = this.m.turnHolderId;
    this.m.turnHolderId = "";
    delete this.m.turnDeadline;
  }

  /** Ends the current turn with `kind` (TURN_PASSED, TURN_TIMED_OUT, TURN_FORFEITED), then moves on. */
  endTurn(kind: Kind, fields: EventFields): void {
    this.clearTurn();
    this.emit(kind, fields);
    this.fillTurn();
  }

  /** The participant the policy names for a free turn, if any. */
  nextByPolicy(): string | undefined {
    const m = this.m;
    switch (m.policy) {
      case MeetingTurnPolicy.ROUND_ROBIN: {
        const order = m.participants.map((p) => p.agentId);
        const previous = order.indexOf(m.lastHolderId);
        // After the previous holder, wrapping around, the previous holder itself last; from the
        // start of the list when there was none.
        for (let i = 1; i <= order.length; i++) {
          // previous + i is from 0 to 2 * order.length - 1: the index is always in the list.
          const candidate = order[(previous + i) % order.length] as string;
          if (this.isEligible(candidate)) return candidate;
        }
        return undefined;
      }
      case MeetingTurnPolicy.FREE_FOR_ALL:
        // Ineligible agents leave the queue rather than block it.
        m.queue = m.queue.filter((id) => this.isEligible(id));
        return m.queue[0];
    }
    // MODERATED: the turn waits for the moderator's GrantTurn.
    return undefined;
  }

  /** Whenever the turn is free in an ACTIVE meeting, the hub grants it at once by policy. */
  fillTurn(): void {
    if (this.m.state !== MeetingState.ACTIVE || this.m.turnHolderId !== "") return;
    const next = this.nextByPolicy();
    if (next !== undefined) this.grant(next, "");
  }

  /** Moves the meeting to a final state, clearing the turn and the queue (ENDED or CANCELLED). */
  finish(
    state: MeetingState.ENDED | MeetingState.CANCELLED,
    reason: MeetingEndReason,
    note: string,
    actorId: string,
    time = this.now,
  ): void {
    this.clearTurn();
    this.m.state = state;
    this.m.queue = [];
    this.m.endedAt = time;
    this.m.endReason = reason;
    this.m.endNote = note;
    this.emit(state === MeetingState.ENDED ? Kind.ENDED : Kind.CANCELLED, {
      actorId,
      endReason: reason,
      time,
    });
  }

  /**
   * Applies whatever is overdue, derived only from the stored record, "now" and presence: the end
   * at the maximum duration, a turn past its deadline, a holder whose presence was lost, and a
   * free turn the policy can fill. Idempotent: applying it twice changes nothing more, so any node
   * (a timer, or whoever reads the meeting first) may do it.
   */
  settle(): void {
    const m = this.m;
    if (m.state !== MeetingState.ACTIVE) return;
    // An ACTIVE meeting has started_at, so its end is known.
    const end = endsAt(m) ?? Number.POSITIVE_INFINITY;
    if (end <= this.now) {
      this.finish(MeetingState.ENDED, MeetingEndReason.MAX_DURATION, "", "", end);
      return;
    }
    // A deadline is set only while someone holds the turn, and agent ids are never empty.
    const holder = m.turnHolderId;
    const deadline = m.turnDeadline ?? Number.POSITIVE_INFINITY;
    if (deadline <= this.now) {
      this.endTurn(Kind.TURN_TIMED_OUT, { subjectId: holder, time: deadline });
    } else if (this.offline.has(holder)) {
      this.endTurn(Kind.TURN_FORFEITED, { subjectId: holder });
    } else {
      this.fillTurn();
    }
  }

  /** The earliest stored deadline of an ACTIVE meeting, kept in the record for any node to find. */
  finalise(): MeetingRecord {
    const m = this.m;
    const end = m.state === MeetingState.ACTIVE ? endsAt(m) : undefined;
    if (end === undefined) delete m.wakeAt;
    else m.wakeAt = Math.min(end, m.turnDeadline ?? end);
    return m;
  }
}
