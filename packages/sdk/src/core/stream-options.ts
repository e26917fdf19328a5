import type { BackoffOptions } from "./backoff.js";

/** Where a live stream stands. */
export type StreamState = "connecting" | "live" | "reconnecting" | "closed";

/**
 * The options every live stream takes (`receive()`, `messages()`, `subscribe()`,
 * `contexts.watch()`, `meeting.events()`): each reconnects by itself with backoff and resumes.
 */
export interface StreamOptions {
  /** Reconnect backoff. Default: 100 ms doubling up to 10 s, with full jitter. */
  backoff?: BackoffOptions;
  /** Called on every state change of the stream. Default: none. */
  onStateChange?: (state: StreamState) => void;
  /**
   * Called with failures the stream survives (a handler that threw, a failed ack) and with the
   * error that ends it for good. Default: none.
   */
  onError?: (error: unknown) => void;
  /** Closes the stream when aborted. Default: it runs until closed (or the client is). */
  signal?: AbortSignal;
}

/**
 * What the client adds to a stream's options: a way to wait out a refusal that the application
 * or the SDK can cure (new credentials, a re-registration) instead of ending the stream.
 */
export interface WatchedStreamOptions extends StreamOptions {
  /** Resolves true when a stream refused with `error` should try again, false when it should end. */
  retryAfter?: (error: unknown) => Promise<boolean>;
}
