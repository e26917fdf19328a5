import { AcbError } from "./acb-error.js";
import { type BackoffOptions, backoffDelay, wait } from "./backoff.js";
import type { StreamState } from "./subscription.js";

/**
 * The client's connection as its live streams see it:
 * - "connecting": nothing has reached the hub yet;
 * - "connected": the last call or stream reached the hub, and no stream is waiting to reconnect;
 * - "reconnecting": a live stream lost the hub and is retrying (with jittered backoff);
 * - "closed": `client.close()` was called.
 */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "closed";

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
   * "EPOCH_CHANGED"; the application re-creates what it needs (registration, contexts,
   * subscriptions) instead of silently carrying on against a hub that forgot it.
   */
  "epoch-changed": EpochChange;
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
  /** Closes every live stream opened through this client (subscriptions, receivers, meeting events). */
  close(): Promise<void>;
}

/** What a stream's options must look like for the monitor to follow it. */
export interface WatchableOptions {
  onStateChange?: (state: StreamState) => void;
  onError?: (error: unknown) => void;
  signal?: AbortSignal;
}

/**
 * Follows the client's streams and calls: derives the connection state, learns the hub epoch
 * (GetServerInfo when a stream first goes live and after every reconnect) and reports a change.
 */
export class ConnectionMonitor implements ClientConnection {
  private current: ConnectionState = "connecting";
  private known: string | undefined;
  private readonly listeners = new Map<keyof ClientEvents, Set<(v: never) => void>>();
  private readonly streams = new Map<number, StreamState>();
  private nextId = 0;
  private probing = false;
  private readonly closer = new AbortController();
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly fetchEpoch: (signal: AbortSignal) => Promise<string>,
    private readonly backoff: BackoffOptions = {},
  ) {}

  get state(): ConnectionState {
    return this.current;
  }

  get epoch(): string | undefined {
    return this.known;
  }

  /** Aborted by close(): every stream opened through the client listens to it. */
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

  /** A unary call reached the hub. */
  noteReachable(): void {
    if (![...this.streams.values()].includes("reconnecting")) {
      this.setState("connected");
    }
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
      this.noteReachable();
    })();
  }

  /** Options for a stream with the monitor's hooks (and the client's close signal) woven in. */
  watch<O extends WatchableOptions>(options: O): O {
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
        if (state === "live" && (this.known === undefined || last === "reconnecting")) {
          this.learnEpoch();
        }
        if (state === "reconnecting") this.probe();
        last = state;
        this.recompute();
        options.onStateChange?.(state);
      },
      onError: (error: unknown) => {
        const e = AcbError.from(error);
        if (e.isWireError) this.noteReachable(); // The hub answered, if only to refuse.
        if (e.reason === "EPOCH_CHANGED") {
          const epoch = e.info.hub_epoch;
          if (epoch) this.noteEpoch(epoch, true);
          else this.learnEpoch();
        }
        options.onError?.(error);
      },
    };
  }

  async close(): Promise<void> {
    if (this.current === "closed") return;
    this.closer.abort();
    await Promise.all(this.running);
    this.streams.clear();
    this.setState("closed");
  }
}
