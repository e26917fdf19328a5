import { Code } from "@connectrpc/connect";
import { AcbError } from "./acb-error.js";
import { type BackoffOptions, backoffDelay, wait } from "./backoff.js";
import type { StreamState, WatchedStreamOptions } from "./stream-options.js";
import { refusedGeneration } from "./transport-wrapper.js";

/**
 * The client's connection as its calls and live streams see it:
 * - "connecting": nothing has reached the hub yet (or new credentials were just given);
 * - "connected": the last call or stream reached the hub, and no stream is waiting to reconnect;
 * - "reconnecting": a live stream lost the hub and is retrying (with jittered backoff);
 * - "unauthenticated": the hub refused the credential (UNAUTHENTICATED): streams and heartbeats
 *   wait for `client.setCredentials(...)` instead of failing over and over;
 * - "closed": `client.close()` was called.
 */
export type ConnectionState =
  | "connecting"
  | "connected"
  | "reconnecting"
  | "unauthenticated"
  | "closed";

/** The hub came back with another epoch: it lost its state (an in-memory hub restarted). */
export interface EpochChange {
  /** The epoch seen before; undefined when the client learnt of the change only from a refusal. */
  previousEpoch: string | undefined;
  /** The hub's epoch now. */
  epoch: string;
}

/** The events of {@link ClientConnection.on}. */
export interface ClientEvents {
  /** The connection state changed. */
  state: ConnectionState;
  /**
   * The hub lost its state. Streams resuming from old cursors end with an AcbError whose reason is
   * "EPOCH_CHANGED"; sessions registered with `reregister` (the default) register again by
   * themselves, and the application re-creates the rest (contexts, subscriptions).
   */
  "epoch-changed": EpochChange;
  /**
   * The hub refused the credential (expired, revoked, or signed by keys the hub no longer has).
   * Give a fresh one with `client.setCredentials(...)`; streams and heartbeats resume then.
   */
  unauthenticated: AcbError;
}

/** Client-level connection state and events; part of every {@link AcbClient}. */
export interface ClientConnection {
  /** The connection's current state. */
  readonly state: ConnectionState;
  /** The hub epoch last seen (GetServerInfo, or a refusal naming it); undefined before. */
  readonly epoch: string | undefined;
  /** Calls `listener` on every event of that name; returns a function that stops it. */
  on<K extends keyof ClientEvents>(
    event: K,
    listener: (value: ClientEvents[K]) => void,
  ): () => void;
  /**
   * Ends everything the client started: live streams (subscriptions, receivers, meeting events),
   * the heartbeats of registered sessions, and the idle send stream. Registrations stay (use
   * `session.unregister()` to remove one); the agent goes offline after the presence timeout.
   */
  close(): Promise<void>;
  /** `await using client = createClient(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

const SERVER_INFO = "acb.v1.ServerInfoService/GetServerInfo";

/**
 * Follows the client's calls and streams: derives the connection state, learns the hub epoch
 * (before the first call, when a stream goes live and after every reconnect) and reports a change,
 * reports refused credentials, and holds back streams and heartbeats until they can succeed.
 */
export class ConnectionMonitor {
  private current: ConnectionState = "connecting";
  private known: string | undefined;
  private readonly listeners = new Map<keyof ClientEvents, Set<(v: never) => void>>();
  private readonly streams = new Map<number, StreamState>();
  private nextId = 0;
  private probing = false;
  private readonly closer = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private firstEpoch: Promise<void> | undefined;
  private credentialWaiters: ((retry: boolean) => void)[] = [];
  private registrationWaiters: ((retry: boolean) => void)[] = [];
  private unauthenticatedAttempts = 0;
  /** Counts credential replacements; every call records the one it was sent with. */
  credentialGeneration = 0;
  /** Sessions that register again when the hub forgot them; each returns when it has. */
  readonly reregistrations = new Set<() => Promise<void>>();

  constructor(
    private readonly fetchEpoch: (signal: AbortSignal) => Promise<string>,
    /** Whether the credential may change by itself (a function or refreshable tokens). */
    private readonly dynamicCredential: () => boolean,
    private readonly backoff: BackoffOptions = {},
  ) {}

  get state(): ConnectionState {
    return this.current;
  }

  get epoch(): string | undefined {
    return this.known;
  }

  /** Aborted by close(): every stream and heartbeat started through the client listens to it. */
  get signal(): AbortSignal {
    return this.closer.signal;
  }

  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void) {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    set.add(listener as (v: never) => void);
    return () => {
      set.delete(listener as (v: never) => void);
    };
  }

  private emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) (l as (v: ClientEvents[K]) => void)(value);
  }

  private setState(next: ConnectionState): void {
    if (this.current === next || this.current === "closed") return;
    this.current = next;
    this.emit("state", next);
  }

  private recompute(): void {
    const states = [...this.streams.values()];
    if (states.includes("live") && this.current === "unauthenticated") this.clearUnauthenticated();
    if (this.current === "unauthenticated") return;
    if (states.includes("reconnecting")) this.setState("reconnecting");
    else if (states.includes("live")) this.setState("connected");
  }

  /**
   * Records an epoch seen on the wire and reports a change. `refused` says a stream was refused
   * with EPOCH_CHANGED, which proves a change even when no earlier epoch was recorded.
   */
  noteEpoch(epoch: string, refused = false): void {
    if (epoch === "" || epoch === this.known) return;
    const previousEpoch = this.known;
    this.known = epoch;
    if (previousEpoch !== undefined || refused) {
      this.emit("epoch-changed", { previousEpoch, epoch });
      this.reregisterAll();
    }
  }

  /** Lets close() wait for a stream to finish. */
  adopt(done: Promise<void>): void {
    const settled = done.then(
      () => {},
      () => {},
    );
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
  }

  /**
   * Waits, once per client, for the hub's epoch before the first call goes out: a hub that
   * restarts while that call is on its way is then seen as an epoch change. A hub that does not
   * answer GetServerInfo holds nothing up; while it is silent, calls wait, each no longer than its
   * own deadline or abort allows.
   */
  beforeCall(procedure: string): Promise<void> | undefined {
    if (procedure === SERVER_INFO || this.known !== undefined) return undefined;
    this.firstEpoch ??= this.fetchEpoch(this.closer.signal).then(
      (e) => this.noteEpoch(e),
      () => {},
    );
    return this.firstEpoch;
  }

  /** A call got an answer from the hub: `error` is the hub's refusal, if it refused. */
  noteAnswer(procedure: string, error?: AcbError): void {
    if (error?.code === Code.Unauthenticated) {
      if (!this.refusedStale(error)) this.noteUnauthenticated(error);
      return;
    }
    // Anyone may call GetServerInfo: its answer says nothing about the credential.
    if (procedure === SERVER_INFO && this.current === "unauthenticated") return;
    this.noteReachable();
  }

  /** Whether `error` refused a credential that has been replaced since the call went out. */
  private refusedStale(error: AcbError): boolean {
    const refused = refusedGeneration(error);
    return refused !== undefined && refused !== this.credentialGeneration;
  }

  private noteReachable(): void {
    if (this.current === "unauthenticated") this.clearUnauthenticated();
    if (![...this.streams.values()].includes("reconnecting")) this.setState("connected");
  }

  private noteUnauthenticated(error: AcbError): void {
    if (this.current === "unauthenticated" || this.current === "closed") return;
    this.setState("unauthenticated");
    this.emit("unauthenticated", error);
    // New signing keys usually mean a new hub: GetServerInfo needs no credential, so ask.
    this.learnEpoch();
  }

  private clearUnauthenticated(): void {
    this.unauthenticatedAttempts = 0;
    this.current = "connecting";
    this.recompute();
    if (this.current === "connecting") this.emit("state", "connecting");
  }

  /** The application gave new credentials: whatever waited for them tries again. */
  credentialsChanged(): void {
    this.credentialGeneration++;
    if (this.current === "unauthenticated") this.clearUnauthenticated();
    const waiters = this.credentialWaiters;
    this.credentialWaiters = [];
    for (const w of waiters) w(true);
  }

  /** A session registered again: streams refused for want of a registration try again. */
  registered(): void {
    const waiters = this.registrationWaiters;
    this.registrationWaiters = [];
    for (const w of waiters) w(true);
  }

  private reregisterAll(): void {
    for (const again of this.reregistrations) void again();
  }

  /**
   * Whether a stream or heartbeat refused with `error` should try again, once that can succeed:
   * after new credentials (or, for a credential that may renew itself, after a backoff delay), or
   * after a session re-registered. False, at once, for anything else, and when the client closes.
   */
  retryAfter(error: unknown): Promise<boolean> {
    const e = AcbError.from(error);
    if (this.closer.signal.aborted) return Promise.resolve(false);
    // Refused with a credential replaced since: the new one has not been tried yet.
    if (this.refusedStale(e)) return Promise.resolve(true);
    if (e.code === Code.Unauthenticated && e.isWireError) {
      this.noteUnauthenticated(e);
      return new Promise<boolean>((resolve) => {
        this.credentialWaiters.push(resolve);
        if (this.dynamicCredential()) {
          const delay = backoffDelay(this.unauthenticatedAttempts++, {
            initialDelayMs: 1_000,
            maxDelayMs: 30_000,
          });
          void wait(delay, this.closer.signal).then(() => {
            this.credentialWaiters = this.credentialWaiters.filter((w) => w !== resolve);
            resolve(!this.closer.signal.aborted);
          });
        }
      });
    }
    if (e.reason === "AGENT_NOT_REGISTERED" && this.reregistrations.size > 0) {
      const retry = new Promise<boolean>((resolve) => this.registrationWaiters.push(resolve));
      this.reregisterAll();
      return retry;
    }
    return Promise.resolve(false);
  }

  private learnEpoch(): void {
    this.fetchEpoch(this.closer.signal).then(
      (e) => this.noteEpoch(e),
      () => {}, // Only a hint: the next reconnect or refusal tells again.
    );
  }

  /** Asks the hub for its epoch until it answers (the hub is down while streams reconnect). */
  private probe(): void {
    if (this.probing || this.closer.signal.aborted) return;
    this.probing = true;
    void (async () => {
      for (let attempt = 0; !this.closer.signal.aborted; attempt++) {
        await wait(backoffDelay(attempt, this.backoff), this.closer.signal);
        try {
          this.noteEpoch(await this.fetchEpoch(this.closer.signal));
          break;
        } catch {
          // Still unreachable: try again after the next backoff delay.
        }
      }
      this.probing = false;
    })();
  }

  /** Options for a stream with the monitor's hooks (and the client's close signal) woven in. */
  watch<O extends WatchedStreamOptions>(options: O): O {
    const id = this.nextId++;
    let last: StreamState | undefined;
    return {
      ...options,
      signal: options.signal
        ? AbortSignal.any([options.signal, this.closer.signal])
        : this.closer.signal,
      onStateChange: (state: StreamState) => {
        if (state === "closed") this.streams.delete(id);
        else this.streams.set(id, state);
        // Each stream that goes live checks the epoch: it may have reached a hub that restarted.
        if (state === "live" && last !== "live") this.learnEpoch();
        if (state === "reconnecting") this.probe();
        last = state;
        this.recompute();
        options.onStateChange?.(state);
      },
      onError: (error: unknown) => {
        const e = AcbError.from(error);
        // The hub answered, if only to refuse (a refused credential is reported by retryAfter).
        if (e.isWireError && e.code !== Code.Unauthenticated) this.noteReachable();
        if (e.reason === "EPOCH_CHANGED") {
          const epoch = e.info.hub_epoch;
          if (epoch) this.noteEpoch(epoch, true);
          else this.learnEpoch();
        }
        options.onError?.(error);
      },
      retryAfter: (error: unknown) => this.retryAfter(error),
    };
  }

  async close(): Promise<void> {
    if (this.current === "closed") return;
    this.closer.abort();
    for (const w of this.credentialWaiters.splice(0)) w(false);
    for (const w of this.registrationWaiters.splice(0)) w(false);
    await Promise.all(this.running);
    this.streams.clear();
    this.setState("closed");
  }
}
