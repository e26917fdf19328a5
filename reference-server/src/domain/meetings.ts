import {
  WatchMeetingResponse_Kind as Kind,
  MeetingEndReason,
  MeetingParticipantStatus,
  MeetingState,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
import { type Identity, isAdmin } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, hubError, notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type {
  MeetingEventRecord,
  MeetingListPosition,
  MeetingRecord,
  MeetingTranscriptEntryRecord,
} from "../storage/types.js";
import { pageSize } from "./cursor.js";
import {
  actorOf,
  checkHolder,
  checkJoinedActive,
  checkOrganiser,
  participantOf,
  policyError,
  statusName,
} from "./meeting-checks.js";
import { decodeMeetingCursor, decodeToken, encodeToken } from "./meeting-cursor.js";
import { MeetingDraft } from "./meeting-draft.js";
import { invalidState, transition } from "./meeting-state.js";

export interface CreateMeetingInput {
  meetingId: string;
  title: string;
  agenda: string[];
  metadata: Record<string, string>;
  participantIds: string[];
  policy: MeetingTurnPolicy;
  moderatorId: string;
  turnTimeoutMs: number | undefined;
  maxDurationMs: number | undefined;
}

export interface SpeakInput {
  contentType: string;
  data: Uint8Array;
  passTurnAfter: boolean;
  turnNumber: number;
  idempotencyKey: string;
}

/** What {@link Meetings.watch} yields: an event, or the "caught up, now live" marker. */
export type MeetingFollowed =
  | { kind: "event"; event: MeetingEventRecord }
  | { kind: "ready"; meeting: MeetingRecord };

/** Options of {@link Meetings}. */
export interface MeetingsOptions {
  /** How long ended and cancelled meetings stay readable, in ms. Default 7 days. */
  retentionMs?: number;
  /** Reports a failure of a background deadline check (there is no caller to tell). */
  onError?: (error: unknown) => void;
}

const DEFAULT_MAX_DURATION_MS = 24 * 3_600_000;
const MAX_CAS_ATTEMPTS = 1000;
const EVENT_BATCH = 256;
const isFinal = (state: MeetingState) =>
  state === MeetingState.ENDED || state === MeetingState.CANCELLED;
/**
 * The key of a Speak's idempotency record in MeetingRecord.speakKeys: the speaker and its key as
 * JSON, so that no raw control character reaches the stored record (PostgreSQL's jsonb refuses
 * NUL, even in an object key) and no two (speaker, key) pairs share a key.
 */
const speakKey = (agentId: string, key: string) => JSON.stringify([agentId, key]);

/**
 * Turn-based meetings. Every change is computed by a {@link MeetingDraft} from the stored record
 * and written back with a compare-and-set on the meeting's version (retried on conflict), so
 * concurrent calls — on this node or on several nodes sharing a backend — never produce two turn
 * holders. Deadlines (turn timeout, maximum duration) live in the record; a Clock timer applies
 * them on time, and any access applies them if they are overdue, so no timer state is essential.
 */
export class Meetings {
  private readonly timers = new Map<string, { timer: Timer; at: number }>();
  /** Per-meeting queue of this node's writers: keeps compare-and-set retries rare, not correct. */
  private readonly lanes = new Map<string, Promise<unknown>>();
  private readonly retentionMs: number;
  /** Deadline checks started by timers and not finished yet (see {@link idle}). */
  private readonly wakes = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly hub: HubContext,
    private readonly options: MeetingsOptions = {},
  ) {
    this.retentionMs = options.retentionMs ?? 7 * 86_400_000;
  }

  /** Arms timers for every stored deadline (at startup: another node or a previous run set them). */
  async resume(): Promise<void> {
    for (const m of await this.hub.backend.meetings.listDue(Number.MAX_SAFE_INTEGER, 10_000)) {
      await this.wake(m.tenantId, m.id);
    }
  }

  /** Resolves when every deadline check that timers started has been applied (for tests). */
  async idle(): Promise<void> {
    while (this.wakes.size > 0) await Promise.allSettled([...this.wakes]);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) t.timer.cancel();
    this.timers.clear();
  }

  async create(identity: Identity, input: CreateMeetingInput): Promise<MeetingRecord> {
    const now = this.hub.clock.now();
    const ids = [...input.participantIds];
    for (const extra of [identity.agentId, input.moderatorId]) {
      if (extra !== "" && !ids.includes(extra)) ids.push(extra);
    }
    const meeting: MeetingRecord = {
      tenantId: identity.tenantId,
      id: input.meetingId || newId("mtg_", now),
      title: input.title,
      agenda: input.agenda,
      metadata: input.metadata,
      state: MeetingState.SCHEDULED,
      policy:
        input.policy === MeetingTurnPolicy.UNSPECIFIED
          ? MeetingTurnPolicy.ROUND_ROBIN
          : input.policy,
      creatorId: identity.agentId,
      moderatorId: input.moderatorId,
      participants: ids.map((agentId) => ({ agentId, status: MeetingParticipantStatus.INVITED })),
      turnHolderId: "",
      lastHolderId: "",
      turnNumber: 0,
      queue: [],
      createdAt: now,
      endReason: MeetingEndReason.UNSPECIFIED,
      endNote: "",
      maxDurationMs: input.maxDurationMs ?? DEFAULT_MAX_DURATION_MS,
      ...(input.turnTimeoutMs !== undefined && { turnTimeoutMs: input.turnTimeoutMs }),
      lastSeq: 0,
      speakKeys: {},
      version: 1,
    };
    if (!(await this.hub.backend.meetings.create(meeting))) {
      throw hubError(
        Code.AlreadyExists,
        `meeting "${meeting.id}" already exists in tenant "${identity.tenantId}"`,
      );
    }
    return meeting;
  }

  /** The meeting as it stands (overdue deadlines applied), or NOT_FOUND if the caller cannot see it. */
  async get(identity: Identity, meetingId: string): Promise<MeetingRecord> {
    return (await this.change(identity, meetingId, () => undefined)).meeting;
  }

  async list(
    identity: Identity,
    filter: { state: MeetingState; participantId: string },
    size: number,
    token: string,
  ): Promise<{ meetings: MeetingRecord[]; nextPageToken: string }> {
    const query = `${filter.state}/${filter.participantId}`;
    const after = decodeToken(token, query) as MeetingListPosition | undefined;
    const participantIds = [filter.participantId, isAdmin(identity) ? "" : identity.agentId];
    const limit = pageSize(size);
    const found = await this.hub.backend.meetings.list(
      identity.tenantId,
      {
        ...(filter.state !== MeetingState.UNSPECIFIED && { state: filter.state }),
        participantIds: [...new Set(participantIds.filter((id) => id !== ""))],
      },
      after,
      limit + 1,
    );
    // A listing reads without settling: a state may lag an overdue deadline until it is read.
    const page = found.slice(0, limit).filter((m) => !this.pastRetention(m));
    const last = found[limit - 1];
    return {
      meetings: page,
      nextPageToken:
        found.length > limit && last
          ? encodeToken(query, { createdAt: last.createdAt, id: last.id })
          : "",
    };
  }

  async join(identity: Identity, meetingId: string): Promise<MeetingRecord> {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      const me = participantOf(d, identity);
      if (isFinal(d.m.state)) throw invalidState(d.m.id, d.m.state, "it cannot be joined");
      if (me.status === MeetingParticipantStatus.JOINED) return;
      me.status = MeetingParticipantStatus.JOINED;
      me.joinedAt = d.now;
      delete me.leftAt;
      d.emit(Kind.JOINED, { actorId: me.agentId });
      d.fillTurn();
    });
    return meeting;
  }

  async leave(identity: Identity, meetingId: string): Promise<MeetingRecord> {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      const me = participantOf(d, identity);
      if (isFinal(d.m.state)) throw invalidState(d.m.id, d.m.state, "it cannot be left");
      if (me.status !== MeetingParticipantStatus.JOINED) return;
      me.status = MeetingParticipantStatus.LEFT;
      me.leftAt = d.now;
      d.m.queue = d.m.queue.filter((id) => id !== me.agentId);
      if (d.m.turnHolderId === me.agentId) d.clearTurn();
      d.emit(Kind.LEFT, { actorId: me.agentId });
      d.fillTurn();
    });
    return meeting;
  }

  async start(identity: Identity, meetingId: string): Promise<MeetingRecord> {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      checkOrganiser(d, identity, "start");
      if (!transition(d.m.id, d.m.state, "StartMeeting").changed) return;
      d.m.state = MeetingState.ACTIVE;
      d.m.startedAt = d.now;
      d.emit(Kind.STARTED, { actorId: actorOf(d, identity) });
      d.fillTurn();
    });
    return meeting;
  }

  async end(identity: Identity, meetingId: string, note: string): Promise<MeetingRecord> {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      checkOrganiser(d, identity, "end");
      if (!transition(d.m.id, d.m.state, "EndMeeting").changed) return;
      const actor = actorOf(d, identity);
      d.finish(MeetingState.ENDED, MeetingEndReason.REQUESTED, note, actor);
    });
    return meeting;
  }

  async cancel(identity: Identity, meetingId: string, note: string): Promise<MeetingRecord> {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      checkOrganiser(d, identity, "cancel");
      if (!transition(d.m.id, d.m.state, "CancelMeeting").changed) return;
      const actor = actorOf(d, identity);
      d.finish(MeetingState.CANCELLED, MeetingEndReason.CANCELLED, note, actor);
    });
    return meeting;
  }

  async requestTurn(
    identity: Identity,
    meetingId: string,
  ): Promise<{ meeting: MeetingRecord; granted: boolean; position: number }> {
    const { meeting, result } = await this.change(identity, meetingId, (d) => {
      const me = checkJoinedActive(d, identity, "turns cannot be requested");
      if (d.m.policy === MeetingTurnPolicy.ROUND_ROBIN) throw policyError(d, "RequestTurn");
      if (d.m.turnHolderId === me) return { granted: true, position: 0 };
      const queued = d.m.queue.indexOf(me);
      if (queued >= 0) return { granted: false, position: queued + 1 };
      if (d.m.policy === MeetingTurnPolicy.FREE_FOR_ALL && d.m.turnHolderId === "") {
        // Anyone ahead who can no longer take the turn is dropped; if nobody remains, it is ours.
        d.m.queue = d.m.queue.filter((id) => d.isEligible(id));
        if (d.m.queue.length === 0) {
          d.grant(me, "");
          return { granted: true, position: 0 };
        }
      }
      d.m.queue.push(me);
      d.emit(Kind.TURN_REQUESTED, { actorId: me, queuePosition: d.m.queue.length });
      d.fillTurn();
      const position = d.m.queue.indexOf(me) + 1;
      return { granted: d.m.turnHolderId === me, position };
    });
    return { meeting, ...result };
  }

  async passTurn(identity: Identity, meetingId: string, turnNumber: number) {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      const me = checkHolder(d, identity, turnNumber, "turns cannot be passed");
      d.endTurn(Kind.TURN_PASSED, { actorId: me });
    });
    return meeting;
  }

  async grantTurn(identity: Identity, meetingId: string, agentId: string) {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      if (d.m.moderatorId !== identity.agentId) {
        throw hubError(
          Code.PermissionDenied,
          `only the moderator of meeting "${d.m.id}" may grant the turn`,
        );
      }
      if (d.m.state !== MeetingState.ACTIVE) {
        throw invalidState(d.m.id, d.m.state, "turns cannot be granted");
      }
      if (d.m.policy !== MeetingTurnPolicy.MODERATED) throw policyError(d, "GrantTurn");
      checkJoinedActive(d, identity, "turns cannot be granted");
      const target = d.participant(agentId);
      if (!target || !d.isEligible(agentId)) {
        const status = !target
          ? "NOT_A_PARTICIPANT"
          : d.isOffline(agentId)
            ? "OFFLINE"
            : statusName(target.status);
        throw hubError(
          Code.FailedPrecondition,
          `agent "${agentId}" cannot take the turn in meeting "${d.m.id}": ${status}`,
          { reason: "PARTICIPANT_UNAVAILABLE", metadata: { agent_id: agentId, status } },
        );
      }
      d.grant(agentId, identity.agentId);
    });
    return meeting;
  }

  async speak(
    identity: Identity,
    meetingId: string,
    input: SpeakInput,
  ): Promise<{ meeting: MeetingRecord; entry: MeetingTranscriptEntryRecord }> {
    if (input.data.length > this.hub.limits.maxInlinePayloadBytes) {
      throw hubError(
        Code.InvalidArgument,
        `content is ${input.data.length} bytes; at most ${this.hub.limits.maxInlinePayloadBytes} may be spoken at once`,
      );
    }
    const key = input.idempotencyKey;
    const { meeting, result } = await this.change(identity, meetingId, (d) => {
      // A retry of a Speak that already happened answers as the first call did, even if the
      // speaker has since passed the turn (pass_turn_after) and would now be refused.
      const earlier = key === "" ? undefined : d.m.speakKeys[speakKey(identity.agentId, key)];
      if (earlier !== undefined) return earlier;
      const me = checkHolder(d, identity, input.turnNumber, "nobody may speak");
      const spoke = d.emit(Kind.SPOKE, {
        actorId: me,
        entry: {
          turnNumber: d.m.turnNumber,
          speakerId: me,
          contentType: input.contentType,
          data: input.data,
          time: d.now,
        },
      });
      if (key !== "") d.m.speakKeys[speakKey(me, key)] = spoke.seq;
      if (input.passTurnAfter) d.endTurn(Kind.TURN_PASSED, { actorId: me });
      return spoke.seq;
    });
    const [event] = await this.hub.backend.meetings.readEvents(
      identity.tenantId,
      meetingId,
      result - 1,
      1,
    );
    if (!event?.entry) throw hubError(Code.Internal, `SPOKE event ${result} has no entry`);
    return { meeting, entry: event.entry };
  }

  /** The events after the cursor, then the ready marker, then live events; see WatchMeeting. */
  async *watch(
    identity: Identity,
    meetingId: string,
    cursor: string,
    fromBeginning: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<MeetingFollowed> {
    const { meeting } = await this.change(identity, meetingId, () => undefined);
    let pos = fromBeginning
      ? 0
      : cursor === ""
        ? meeting.lastSeq
        : decodeMeetingCursor(cursor, this.hub.epoch, meetingId);
    if (pos > meeting.lastSeq) {
      throw hubError(Code.OutOfRange, `cursor is ahead of meeting "${meetingId}"'s events`);
    }
    const store = this.hub.backend.meetings;
    let ready = false;
    while (!signal.aborted) {
      const batch = await store.readEvents(identity.tenantId, meetingId, pos, EVENT_BATCH);
      for (const event of batch) {
        pos = event.seq;
        yield { kind: "event", event };
        // Live, the final event closes the stream; replayed, READY still follows it.
        if (ready && (event.kind === Kind.ENDED || event.kind === Kind.CANCELLED)) return;
      }
      if (batch.length === EVENT_BATCH) continue;
      if (!ready) {
        // READY carries the meeting at exactly the last event delivered: re-read until they agree.
        const current = await store.get(identity.tenantId, meetingId);
        if (!current) throw notFound("meeting", meetingId);
        if (current.lastSeq > pos) continue;
        ready = true;
        yield { kind: "ready", meeting: current };
        if (isFinal(current.state)) return;
      }
      await store.waitForEvents(identity.tenantId, meetingId, pos, signal);
      if (!(await store.get(identity.tenantId, meetingId))) throw notFound("meeting", meetingId);
    }
  }

  async transcript(identity: Identity, meetingId: string, size: number, token: string) {
    await this.get(identity, meetingId);
    const after = (decodeToken(token, `transcript/${meetingId}`) as number | undefined) ?? 0;
    if (!Number.isSafeInteger(after) || after < 0) {
      throw hubError(
        Code.InvalidArgument,
        "page_token is malformed: pass next_page_token unchanged",
      );
    }
    const limit = pageSize(size);
    const entries: MeetingTranscriptEntryRecord[] = [];
    let pos = after;
    let more = false;
    // Transcript entries are the SPOKE events; read events until the page is full (plus one, to
    // know whether another page follows).
    for (;;) {
      const batch = await this.hub.backend.meetings.readEvents(
        identity.tenantId,
        meetingId,
        pos,
        EVENT_BATCH,
      );
      for (const e of batch) {
        if (!e.entry) continue;
        if (entries.length === limit) {
          more = true;
          break;
        }
        entries.push(e.entry);
      }
      const last = batch[batch.length - 1];
      if (more || batch.length < EVENT_BATCH || !last) break;
      pos = last.seq;
    }
    const lastEntry = entries[entries.length - 1];
    return {
      entries,
      nextPageToken:
        more && lastEntry ? encodeToken(`transcript/${meetingId}`, lastEntry.sequence) : "",
    };
  }

  private pastRetention(m: MeetingRecord): boolean {
    return m.endedAt !== undefined && m.endedAt + this.retentionMs <= this.hub.clock.now();
  }

  // -------------------------------------------------------------------------------------------
  // The write path: settle, apply, compare-and-set

  /**
   * Reads the meeting (NOT_FOUND unless `identity` may see it; undefined identity is the hub
   * itself), applies what is overdue, then `apply`, and stores the result with a compare-and-set,
   * starting over when another writer got there first. `apply` may throw to refuse the call; what
   * was overdue is stored even then.
   */
  private async change<T>(
    identity: Identity | undefined,
    meetingId: string,
    apply: (draft: MeetingDraft) => T,
    tenantId = identity?.tenantId ?? "",
  ): Promise<{ meeting: MeetingRecord; result: T }> {
    const key = `${tenantId}\u0000${meetingId}`;
    const previous = this.lanes.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.changeNow(identity, tenantId, meetingId, apply));
    const lane = run.catch(() => {});
    this.lanes.set(key, lane);
    void lane.then(() => {
      if (this.lanes.get(key) === lane) this.lanes.delete(key);
    });
    return run;
  }

  private async changeNow<T>(
    identity: Identity | undefined,
    tenantId: string,
    meetingId: string,
    apply: (draft: MeetingDraft) => T,
  ): Promise<{ meeting: MeetingRecord; result: T }> {
    const store = this.hub.backend.meetings;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await store.get(tenantId, meetingId);
      if (!current || this.pastRetention(current)) throw notFound("meeting", meetingId);
      if (
        identity &&
        !isAdmin(identity) &&
        !current.participants.some((p) => p.agentId === identity.agentId)
      ) {
        throw notFound("meeting", meetingId);
      }
      const presence = await this.presenceOf(current);
      const now = this.hub.clock.now();
      const settled = new MeetingDraft(structuredClone(current), now, presence.offline);
      settled.settle();
      let draft = settled;
      let result: T;
      let refusal: unknown;
      try {
        draft = new MeetingDraft(structuredClone(settled.m), now, presence.offline);
        result = apply(draft);
      } catch (err) {
        refusal = err;
        draft = settled;
        result = undefined as T;
      }
      const events = [...settled.events, ...(draft === settled ? [] : draft.events)];
      const next = draft.finalise();
      if (events.length > 0) {
        next.version = current.version + 1;
        const stored = await store.update(next, current.version, events);
        if (!stored.ok) continue;
      }
      this.arm(next, presence.offlineAt.get(next.turnHolderId));
      if (refusal !== undefined) throw refusal;
      return { meeting: events.length > 0 ? next : current, result };
    }
    throw hubError(
      Code.Aborted,
      `meeting "${meetingId}" changed ${MAX_CAS_ATTEMPTS} times while this call was applied; retry`,
    );
  }

  /**
   * Presence of the JOINED participants: who is OFFLINE now, and when each online registered agent
   * goes offline. An agent that never registered has no presence and is never OFFLINE.
   */
  private async presenceOf(m: MeetingRecord) {
    const offline = new Set<string>();
    const offlineAt = new Map<string, number>();
    // Read in every live state: the holder granted by this very change needs its offline time.
    if (isFinal(m.state)) return { offline, offlineAt };
    const tenant = await this.hub.findTenant(m.tenantId);
    const timeout = tenant?.settings.presenceTimeoutMs;
    if (timeout === undefined) return { offline, offlineAt };
    const now = this.hub.clock.now();
    for (const p of m.participants) {
      if (p.status !== MeetingParticipantStatus.JOINED) continue;
      const agent = await this.hub.backend.registry.get(m.tenantId, p.agentId);
      if (!agent) continue;
      const at = agent.lastSeen + timeout;
      if (at <= now) offline.add(p.agentId);
      else offlineAt.set(p.agentId, at);
    }
    return { offline, offlineAt };
  }

  /** Keeps one timer per meeting for its next deadline, including its holder's presence. */
  private arm(m: MeetingRecord, holderOfflineAt: number | undefined): void {
    if (this.closed) return;
    const key = `${m.tenantId}\u0000${m.id}`;
    const at =
      m.wakeAt === undefined
        ? undefined
        : Math.min(m.wakeAt, holderOfflineAt ?? Number.POSITIVE_INFINITY);
    const existing = this.timers.get(key);
    if (existing?.at === at) return;
    existing?.timer.cancel();
    this.timers.delete(key);
    if (at === undefined) return;
    const timer = this.hub.clock.setTimer(at - this.hub.clock.now(), () => {
      this.timers.delete(key);
      const woken = this.wake(m.tenantId, m.id).catch((err: unknown) =>
        this.options.onError?.(err),
      );
      this.wakes.add(woken);
      void woken.finally(() => this.wakes.delete(woken));
    });
    this.timers.set(key, { timer, at });
  }

  /** Applies whatever is overdue in one meeting, as the hub (no caller). */
  private async wake(tenantId: string, meetingId: string): Promise<void> {
    try {
      await this.change(undefined, meetingId, () => undefined, tenantId);
    } catch (err) {
      // A meeting deleted meanwhile has nothing left to apply.
      if (!(err instanceof Error && "code" in err && err.code === Code.NotFound)) throw err;
    }
  }
}
