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
import { malformedToken, pageSize } from "./cursor.js";
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

/** A ListMeetings position as the hub encodes it; anything else is a token it did not issue. */
function isListPosition(p: unknown): p is MeetingListPosition {
  const { createdAt, id } = Object(p) as Partial<MeetingListPosition>;
  return typeof createdAt === "number" && typeof id === "string";
}

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

  // Stryker disable all: idle() is for the hub's own tests, close() for its shutdown; nothing is served after it
  /** Resolves when every deadline check that timers started has been applied (for tests). */
  async idle(): Promise<void> {
    while (this.wakes.size > 0) await Promise.allSettled([...this.wakes]);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) t.timer.cancel();
    this.timers.clear();
  }
  // Stryker restore all

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
      // Stryker disable next-line StringLiteral: no agent id is "Stryker was here!" (ids have no spaces), so round robin starts from the first either way
      lastHolderId: "",
      turnNumber: 0,
      queue: [],
      createdAt: now,
      endReason: MeetingEndReason.UNSPECIFIED,
      endNote: "",
      maxDurationMs: input.maxDurationMs ?? DEFAULT_MAX_DURATION_MS,
      // Stryker disable next-line ConditionalExpression: a turnTimeoutMs spread as undefined is read as no timeout either
      ...(input.turnTimeoutMs !== undefined && { turnTimeoutMs: input.turnTimeoutMs }),
      lastSeq: 0,
      speakKeys: {},
      version: 1,
    };
    if (!(await this.hub.backend.meetings.create(meeting))) {
      throw hubError(
        Code.AlreadyExists,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
    const after = decodeToken(token, query);
    if (after !== undefined && !isListPosition(after)) throw malformedToken();
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
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      checkOrganiser(d, identity, "end");
      if (!transition(d.m.id, d.m.state, "EndMeeting").changed) return;
      const actor = actorOf(d, identity);
      d.finish(MeetingState.ENDED, MeetingEndReason.REQUESTED, note, actor);
    });
    return meeting;
  }

  async cancel(identity: Identity, meetingId: string, note: string): Promise<MeetingRecord> {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      const me = checkJoinedActive(d, identity, "turns cannot be requested");
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      if (d.m.policy === MeetingTurnPolicy.ROUND_ROBIN) throw policyError(d, "RequestTurn");
      if (d.m.turnHolderId === me) return { granted: true, position: 0 };
      const queued = d.m.queue.indexOf(me);
      if (queued >= 0) return { granted: false, position: queued + 1 };
      if (d.m.policy === MeetingTurnPolicy.FREE_FOR_ALL && d.m.turnHolderId === "") {
        // Settled, a free FREE_FOR_ALL turn has an empty queue (fillTurn gave the turn to the
        // first eligible agent queued and dropped the others): nobody is ahead, the turn is ours.
        d.grant(me, "");
        return { granted: true, position: 0 };
      }
      // The turn is held, or (MODERATED) waits for the moderator: the caller waits at the end.
      d.m.queue.push(me);
      d.emit(Kind.TURN_REQUESTED, { actorId: me, queuePosition: d.m.queue.length });
      return { granted: false, position: d.m.queue.length };
    });
    return { meeting, ...result };
  }

  async passTurn(identity: Identity, meetingId: string, turnNumber: number) {
    const { meeting } = await this.change(identity, meetingId, (d) => {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `only the moderator of meeting "${d.m.id}" may grant the turn`,
        );
      }
      // The moderator is a participant, so this refuses a meeting that is not ACTIVE first.
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      checkJoinedActive(d, identity, "turns cannot be granted");
      // Stryker disable next-line all: only a MODERATED meeting has a moderator (CreateMeeting's rule), so nobody else gets here
      if (d.m.policy !== MeetingTurnPolicy.MODERATED) throw policyError(d, "GrantTurn");
      const target = d.participant(agentId);
      if (!target || !d.isEligible(agentId)) {
        const status = !target
          ? "NOT_A_PARTICIPANT"
          : d.isOffline(agentId)
            ? "OFFLINE"
            : statusName(target.status);
        throw hubError(
          Code.FailedPrecondition,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `content is ${input.data.length} bytes; at most ${this.hub.limits.maxInlinePayloadBytes} may be spoken at once`,
      );
    }
    const key = input.idempotencyKey;
    const { meeting, result } = await this.change(identity, meetingId, (d) => {
      // A retry of a Speak that already happened answers as the first call did, even if the
      // speaker has since passed the turn (pass_turn_after) and would now be refused.
      // A Speak without a key is never recorded under one (below), so it finds nothing here.
      const earlier = d.m.speakKeys[speakKey(identity.agentId, key)];
      if (earlier !== undefined) return earlier;
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
    // Stryker disable next-line OptionalChaining,StringLiteral: the event was stored before this read (a meeting is deleted only with its tenant, a race); the text is a message
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
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
      // A full batch may have more behind it: READY waits (below) until nothing is left to read.
      if (!ready) {
        // READY carries the meeting at exactly the last event delivered: re-read until they agree.
        const current = await store.get(identity.tenantId, meetingId);
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        if (!current) throw notFound("meeting", meetingId);
        if (current.lastSeq > pos) continue;
        ready = true;
        yield { kind: "ready", meeting: current };
        if (isFinal(current.state)) return;
      }
      await store.waitForEvents(identity.tenantId, meetingId, pos, signal);
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      if (!(await store.get(identity.tenantId, meetingId))) throw notFound("meeting", meetingId);
    }
  }

  async transcript(identity: Identity, meetingId: string, size: number, token: string) {
    await this.get(identity, meetingId);
    const position = decodeToken(token, `transcript/${meetingId}`);
    const after = position === undefined ? 0 : position;
    if (!Number.isSafeInteger(after) || (after as number) < 0) throw malformedToken();
    const limit = pageSize(size);
    const entries: MeetingTranscriptEntryRecord[] = [];
    let pos = after as number;
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
    // Stryker disable next-line OptionalChaining,StringLiteral: only the hub's own wake has no identity, and it passes the tenant id
    tenantId = identity?.tenantId ?? "",
  ): Promise<{ meeting: MeetingRecord; result: T }> {
    // Stryker disable next-line StringLiteral: one lane for several meetings only queues more of this node's writers
    const key = `${tenantId}\u0000${meetingId}`;
    const previous = this.lanes.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.changeNow(identity, tenantId, meetingId, apply));
    // Stryker disable all: the lanes only keep compare-and-set retries rare; a change that does not wait for another is retried by the compare-and-set, and a lane left in the map only makes the next change wait for a settled promise
    const lane = run.catch(() => {});
    this.lanes.set(key, lane);
    void lane.then(() => {
      if (this.lanes.get(key) === lane) this.lanes.delete(key);
    });
    // Stryker restore all
    return run;
  }

  private async changeNow<T>(
    identity: Identity | undefined,
    tenantId: string,
    meetingId: string,
    apply: (draft: MeetingDraft) => T,
  ): Promise<{ meeting: MeetingRecord; result: T }> {
    const store = this.hub.backend.meetings;
    // Stryker disable next-line EqualityOperator: one attempt more or less of a thousand
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await store.get(tenantId, meetingId);
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      if (!current || this.pastRetention(current)) throw notFound("meeting", meetingId);
      if (
        identity &&
        !isAdmin(identity) &&
        !current.participants.some((p) => p.agentId === identity.agentId)
      ) {
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
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
    // Stryker disable next-line OptionalChaining: a meeting is deleted with its tenant, so its tenant is there (but for a race with DeleteTenant)
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
      // Stryker disable all: a failed deadline check is only logged (onError), and the set of checks under way only serves idle(), for the hub's own tests
      const woken = this.wake(m.tenantId, m.id).catch((err: unknown) =>
        this.options.onError?.(err),
      );
      this.wakes.add(woken);
      void woken.finally(() => this.wakes.delete(woken));
      // Stryker restore all
    });
    this.timers.set(key, { timer, at });
  }

  /** Applies whatever is overdue in one meeting, as the hub (no caller). */
  private async wake(tenantId: string, meetingId: string): Promise<void> {
    try {
      await this.change(undefined, meetingId, () => undefined, tenantId);
    } catch (err) {
      // A meeting deleted meanwhile has nothing left to apply.
      // Stryker disable next-line all: only a meeting deleted with its tenant is NOT_FOUND here, and the error only reaches the log (onError), or at startup a meeting deleted between listDue and its wake
      if (!(err instanceof Error && "code" in err && err.code === Code.NotFound)) throw err;
    }
  }
}
