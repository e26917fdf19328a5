import type { Meeting, MeetingService } from "@acb/gen/acb/v1/meetings_pb";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code } from "@connectrpc/connect";
import { AcbError, acbError } from "./acb-error.js";
import { type BackoffOptions, backoffDelay, wait } from "./backoff.js";
import { isRetryable } from "./errors.js";
import {
  type MeetingEvent,
  type MeetingInfo,
  type MeetingPolicyName,
  type MeetingStateName,
  meetingEvent,
  meetingInfo,
  policyValues,
  stateValues,
  type TranscriptEntry,
  transcriptEntry,
} from "./meeting-records.js";
import { jsonCodec, type PayloadCodec } from "./payload-codec.js";
import type { StreamOptions, StreamState, WatchedStreamOptions } from "./stream-options.js";

/** Options of {@link MeetingsApi.create}. */
export interface CreateMeetingOptions {
  /** Human-readable title (required). */
  title: string;
  /** Agent ids in turn order; the creator (and moderator) are appended when absent. Default []. */
  participants?: string[];
  /** How the turn passes. Default "round-robin". */
  policy?: MeetingPolicyName;
  /** The moderator's agent id: required for "moderated", not allowed otherwise. */
  moderator?: string;
  /** Per-turn timeout in ms (1 s to 24 h). Default: turns never time out. */
  turnTimeoutMs?: number;
  /** How long the meeting may run once started, in ms (1 s to 7 days). Default 24 h. */
  maxDurationMs?: number;
  /** Topics, in order. Default []. */
  agenda?: string[];
  /** Free-form labels. Default {}. */
  metadata?: Record<string, string>;
  /** Choose the meeting's id; default: the hub assigns one. */
  id?: string;
}

/** Options of {@link MeetingHandle.speak}. */
export interface SpeakOptions<T> {
  /** Encodes the content. Default JSON. */
  codec?: PayloadCodec<T>;
  /** Pass the turn right after speaking. Default false. */
  pass?: boolean;
  /** Speak only in this turn (refused with TURN_MISMATCH otherwise). Default: any turn held. */
  turnNumber?: number;
  /** A retry with the same key returns the first result and speaks once. Default: none. */
  idempotencyKey?: string;
}

/** Options of {@link MeetingHandle.events}. */
export interface MeetingEventsOptions<T> extends StreamOptions {
  /** Resume after this cursor (an event's `cursor`). Default: from now. */
  cursor?: string;
  /** Replay every event from the meeting's first (when no cursor is given). Default false. */
  fromBeginning?: boolean;
  /** Decodes what was said. Default: JSON by media type, bytes otherwise. */
  codec?: PayloadCodec<T>;
}

/** The turn this agent was granted, as handed to an {@link MeetingHandle.onTurn} handler. */
export interface Turn {
  readonly meeting: MeetingHandle;
  readonly turnNumber: number;
  /** When the turn times out; undefined when turns never do. */
  readonly deadline: Date | undefined;
  /** Speaks in this turn only (a late call cannot land in a later turn). */
  speak<T>(content: T, options?: Omit<SpeakOptions<T>, "turnNumber">): Promise<TranscriptEntry<T>>;
  /** Passes this turn (refused if it is already over). */
  pass(): Promise<MeetingInfo>;
}

/** A running {@link MeetingHandle.onTurn} watch. */
export interface TurnWatch {
  /** Resolves when the watch is live. */
  readonly ready: Promise<void>;
  /** Settles when the meeting is over or the watch is closed; rejects on a terminal error. */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

/** One meeting, by id; every call goes to the hub and acts for the calling agent. */
export interface MeetingHandle {
  readonly id: string;
  /** The meeting as the last call on this handle returned it. */
  readonly latest: MeetingInfo | undefined;
  get(): Promise<MeetingInfo>;
  join(): Promise<MeetingInfo>;
  leave(): Promise<MeetingInfo>;
  start(): Promise<MeetingInfo>;
  end(note?: string): Promise<MeetingInfo>;
  cancel(note?: string): Promise<MeetingInfo>;
  /** Asks for the turn (free-for-all) or raises a hand (moderated). */
  requestTurn(): Promise<{ granted: boolean; position: number; meeting: MeetingInfo }>;
  /** Passes the turn this agent holds (only `turnNumber`, when given). */
  pass(options?: { turnNumber?: number }): Promise<MeetingInfo>;
  /** Moderator only: gives the turn to `agentId`. */
  grant(agentId: string): Promise<MeetingInfo>;
  /** Says `content` (JSON by default); only the turn holder may. */
  speak<T>(content: T, options?: SpeakOptions<T>): Promise<TranscriptEntry<T>>;
  /**
   * The meeting's events as an async iterable, starting with any replay and a "ready" event; it
   * reconnects with backoff after a dropped connection, resuming from the cursor of the last
   * event it yielded, and finishes after the meeting is over. Breaking out of the loop closes it.
   */
  events<T = unknown>(options?: MeetingEventsOptions<T>): AsyncIterable<MeetingEvent<T>>;
  /** Calls `handler` each time this agent gets the turn (including a turn it holds now). */
  onTurn(
    handler: (turn: Turn) => void | Promise<void>,
    options?: { onError?: (error: unknown) => void; backoff?: BackoffOptions },
  ): TurnWatch;
  /** What was said, in order, paging as it goes. */
  transcript<T = unknown>(options?: { codec?: PayloadCodec<T> }): AsyncIterable<TranscriptEntry<T>>;
}

/** Filters of {@link MeetingsApi.list}. */
export interface ListMeetingsQuery {
  state?: MeetingStateName;
  participant?: string;
  /** Page size per request. Default 100. */
  pageSize?: number;
}

/** Meetings, as `client.meetings`. */
export interface MeetingsApi {
  /** Creates a scheduled meeting and returns its handle. */
  create(options: CreateMeetingOptions): Promise<MeetingHandle>;
  /** Reads a meeting (NOT_FOUND unless the caller participates or is an admin). */
  get(meetingId: string): Promise<MeetingInfo>;
  /** A handle on a meeting by id, without a round trip. */
  open(meetingId: string): MeetingHandle;
  /** The meetings the caller can see, newest first. */
  list(query?: ListMeetingsQuery): AsyncIterable<MeetingInfo>;
}

function required(m: Meeting | undefined, rpc: string): MeetingInfo {
  if (!m) throw acbError(Code.Internal, `hub answered ${rpc} without a meeting`);
  return meetingInfo(m);
}

/**
 * Follows WatchMeeting across reconnects: after a retryable failure it waits (jittered backoff)
 * and resumes from the cursor of the last event yielded, so nothing is missed or repeated.
 */
async function* followMeeting<T>(
  client: Client<typeof MeetingService>,
  meetingId: string,
  options: MeetingEventsOptions<T> & WatchedStreamOptions,
): AsyncGenerator<MeetingEvent<T>> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  options.signal?.addEventListener("abort", stop, { once: true });
  let cursor = options.cursor ?? "";
  let attempt = 0;
  let state: StreamState | undefined;
  const setState = (next: StreamState) => {
    if (state === next) return;
    state = next;
    options.onStateChange?.(next);
  };
  setState("connecting");
  try {
    while (!abort.signal.aborted) {
      try {
        const stream = client.watchMeeting(
          { meetingId, cursor, fromBeginning: cursor === "" && (options.fromBeginning ?? false) },
          { signal: abort.signal },
        );
        for await (const message of stream) {
          cursor = message.cursor;
          const event = meetingEvent(message, options.codec);
          if (!event) continue;
          if (event.kind === "ready") {
            attempt = 0;
            setState("live");
          }
          yield event;
          const over = event.state === "ended" || event.state === "cancelled";
          // The hub ends the stream after the meeting is over; so does the iterator.
          if (
            over &&
            (event.kind === "ready" || event.kind === "ended" || event.kind === "cancelled")
          )
            return;
        }
        // Ended without the meeting being over: the hub is draining. Resume elsewhere.
      } catch (err) {
        if (abort.signal.aborted) return;
        if (!isRetryable(err)) {
          // New credentials may cure the refusal; a cursor of another epoch cannot be cured.
          setState("reconnecting");
          if ((await options.retryAfter?.(err)) && !abort.signal.aborted) continue;
          if (abort.signal.aborted) return;
          const error = AcbError.from(err);
          options.onError?.(error);
          throw error;
        }
      }
      setState("reconnecting");
      await wait(backoffDelay(attempt++, options.backoff), abort.signal);
    }
  } finally {
    setState("closed");
    options.signal?.removeEventListener("abort", stop);
    abort.abort();
  }
}

/** Builds `client.meetings` over the generated client; `whoAmI` names the calling agent. */
export function createMeetingsApi(
  client: Client<typeof MeetingService>,
  whoAmI: () => Promise<string>,
  /** Lets the client follow every event stream (connection state, epoch, close). */
  watch: <O extends WatchedStreamOptions>(options: O) => O = (o) => o,
): MeetingsApi {
  const open = (meetingId: string): MeetingHandle => {
    let latest: MeetingInfo | undefined;
    const keep = (m: Meeting | undefined, rpc: string) => {
      latest = required(m, rpc);
      return latest;
    };
    const handle: MeetingHandle = {
      id: meetingId,
      get latest() {
        return latest;
      },
      get: async () => keep((await client.getMeeting({ meetingId })).meeting, "GetMeeting"),
      join: async () => keep((await client.joinMeeting({ meetingId })).meeting, "JoinMeeting"),
      leave: async () => keep((await client.leaveMeeting({ meetingId })).meeting, "LeaveMeeting"),
      start: async () => keep((await client.startMeeting({ meetingId })).meeting, "StartMeeting"),
      end: async (note = "") =>
        keep((await client.endMeeting({ meetingId, note })).meeting, "EndMeeting"),
      cancel: async (note = "") =>
        keep((await client.cancelMeeting({ meetingId, note })).meeting, "CancelMeeting"),
      async requestTurn() {
        const res = await client.requestTurn({ meetingId });
        return {
          granted: res.granted,
          position: res.queuePosition,
          meeting: keep(res.meeting, "RequestTurn"),
        };
      },
      pass: async (o = {}) =>
        keep(
          (await client.passTurn({ meetingId, turnNumber: BigInt(o.turnNumber ?? 0) })).meeting,
          "PassTurn",
        ),
      grant: async (agentId) =>
        keep((await client.grantTurn({ meetingId, agentId })).meeting, "GrantTurn"),
      async speak<T>(content: T, o: SpeakOptions<T> = {}) {
        const codec = o.codec ?? (jsonCodec as PayloadCodec<T>);
        const res = await client.speak({
          meetingId,
          content: { contentType: codec.contentType, data: codec.encode(content) },
          passTurnAfter: o.pass ?? false,
          turnNumber: BigInt(o.turnNumber ?? 0),
          idempotencyKey: o.idempotencyKey ?? "",
        });
        keep(res.meeting, "Speak");
        if (!res.entry) throw acbError(Code.Internal, "hub answered Speak without an entry");
        return transcriptEntry(res.entry, codec);
      },
      events: (o = {}) => followMeeting(client, meetingId, watch(o)),
      onTurn: (handler, o = {}) => watchTurns(handle, whoAmI, handler, o),
      async *transcript<T>(o: { codec?: PayloadCodec<T> } = {}) {
        let pageToken = "";
        do {
          const res = await client.getTranscript({ meetingId, pageToken });
          for (const e of res.entries) yield transcriptEntry(e, o.codec);
          pageToken = res.nextPageToken;
        } while (pageToken !== "");
      },
    };
    return handle;
  };

  return {
    async create(o) {
      const res = await client.createMeeting({
        meetingId: o.id ?? "",
        title: o.title,
        agenda: o.agenda ?? [],
        metadata: o.metadata ?? {},
        participantIds: o.participants ?? [],
        policy: policyValues[o.policy ?? "round-robin"],
        moderatorId: o.moderator ?? "",
        ...(o.turnTimeoutMs !== undefined && { turnTimeout: durationFromMs(o.turnTimeoutMs) }),
        ...(o.maxDurationMs !== undefined && { maxDuration: durationFromMs(o.maxDurationMs) }),
      });
      const info = required(res.meeting, "CreateMeeting");
      const handle = open(info.id);
      await handle.get(); // fills `latest`; cheap, and proves the meeting is readable
      return handle;
    },
    get: async (meetingId) =>
      required((await client.getMeeting({ meetingId })).meeting, "GetMeeting"),
    open,
    async *list(q = {}) {
      let pageToken = "";
      do {
        const res = await client.listMeetings({
          ...(q.state !== undefined && { state: stateValues[q.state] }),
          participantId: q.participant ?? "",
          pageSize: q.pageSize ?? 100,
          pageToken,
        });
        for (const m of res.meetings) yield meetingInfo(m);
        pageToken = res.nextPageToken;
      } while (pageToken !== "");
    },
  };
}

/** Runs an onTurn watch: follows the events and hands each turn granted to this agent over. */
function watchTurns(
  meeting: MeetingHandle,
  whoAmI: () => Promise<string>,
  handler: (turn: Turn) => void | Promise<void>,
  options: { onError?: (error: unknown) => void; backoff?: BackoffOptions },
): TurnWatch {
  const abort = new AbortController();
  let inHandler = false;
  let markReady: () => void = () => {};
  let failReady: (e: unknown) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {}); // The same error is reported through `done`.

  const turnOf = (turnNumber: number, deadline: Date | undefined): Turn => ({
    meeting,
    turnNumber,
    deadline,
    speak: (content, o = {}) => meeting.speak(content, { ...o, turnNumber }),
    pass: () => meeting.pass({ turnNumber }),
  });

  async function run(): Promise<void> {
    const me = await whoAmI();
    const events = meeting.events({
      signal: abort.signal,
      ...(options.backoff && { backoff: options.backoff }),
    });
    let handled = 0;
    let timeoutMs: number | undefined;
    for await (const event of events) {
      let turn: Turn | undefined;
      if (event.kind === "ready") {
        markReady();
        // A turn granted before the watch was live is still ours to take.
        const m = event.meeting;
        timeoutMs = m?.turnTimeoutMs;
        if (m && m.turnHolderId === me && m.turnNumber > handled) {
          turn = turnOf(m.turnNumber, m.turnDeadline);
        }
      } else if (event.kind === "turn-granted" && event.subjectId === me) {
        // Grants carry no deadline; it is the grant time plus the meeting's turn timeout.
        const deadline =
          event.time && timeoutMs !== undefined
            ? new Date(event.time.getTime() + timeoutMs)
            : undefined;
        if (event.turnNumber > handled) turn = turnOf(event.turnNumber, deadline);
      }
      if (!turn) continue;
      handled = turn.turnNumber;
      inHandler = true;
      try {
        await handler(turn);
      } catch (err) {
        options.onError?.(err);
      } finally {
        inHandler = false;
      }
    }
  }

  const done = run().catch((err: unknown) => {
    const error = AcbError.from(err);
    failReady(error);
    options.onError?.(error);
    throw error;
  });
  return {
    ready,
    done,
    async close() {
      abort.abort();
      failReady(acbError(Code.Canceled, "turn watch closed before it was live"));
      // A handler may close its own watch; waiting for the loop (which waits for that handler)
      // would never finish, so only wait when called from outside a handler.
      if (!inHandler) await done.catch(() => {});
    },
  };
}
