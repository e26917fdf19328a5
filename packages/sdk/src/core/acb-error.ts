import { ErrorInfoSchema, RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import type { E2eReason } from "./e2e/errors.js";
import { isRetryable } from "./errors.js";

/**
 * The machine-readable causes (acb.v1.ErrorInfo.reason) the reference hub gives. Another hub may
 * send others, so {@link AcbError.reason} also admits any string; these complete in an editor.
 */
export type KnownReason =
  | "AGENT_NOT_REGISTERED"
  | "AGENT_ONLINE"
  | "CHECKSUM_CONFLICT"
  | "CHECKSUM_MISMATCH"
  | "CHECKSUM_MISSING"
  | "CHUNK_CHECKSUM_MISMATCH"
  | "CHUNK_TOO_LARGE"
  | "CONTEXT_NOT_FOUND"
  | "CONVERSATION_TIMED_OUT"
  | "DRAINING"
  | "EPOCH_CHANGED"
  | "INVALID_MEETING_STATE"
  | "NOT_A_PARTICIPANT"
  | "NOT_JOINED"
  | "NOT_TURN_HOLDER"
  | "OBJECT_CHECKSUM_MISMATCH"
  | "OBJECT_TOO_LARGE"
  | "OFFSET_MISMATCH"
  | "ONE_WAY_CONVERSATION"
  | "PARTICIPANT_UNAVAILABLE"
  | "PAST_TOTAL_SIZE"
  | "REVISION_MISMATCH"
  | "SESSION_REPLACED"
  | "STREAM_REPLACED"
  | "TURN_MISMATCH"
  | "TURN_POLICY"
  | "UPLOAD_ID_MISMATCH"
  | "UPLOAD_INCOMPLETE"
  | "UPLOAD_NOT_FOUND"
  | "UPLOAD_NOT_OPEN";

/** An ErrorInfo reason: one of {@link KnownReason}, an SDK-side {@link E2eReason}, or another hub's own. */
// `string & {}` admits any string yet keeps the known names in editor completions.
export type AcbErrorReason = KnownReason | E2eReason | (string & {});

/**
 * The one error type of the SDK: a ConnectError (so `instanceof ConnectError` and `.code` keep
 * working) with the hub's machine-readable details lifted out: `reason` and `metadata` from an
 * acb.v1.ErrorInfo detail, `retryAfterMs` and `limit` from an acb.v1.RetryInfo detail.
 */
export class AcbError extends ConnectError {
  /** The hub's UPPER_SNAKE_CASE cause (ErrorInfo.reason), e.g. "EPOCH_CHANGED"; undefined without one. */
  readonly reason: AcbErrorReason | undefined;
  /** Extra facts from ErrorInfo.metadata, e.g. `{ current_revision: "7" }`. Empty without one. */
  readonly info: Readonly<Record<string, string>>;
  /** How long to wait before retrying (RetryInfo.retry_delay); undefined when the hub gave no hint. */
  readonly retryAfterMs: number | undefined;
  /** The limit that refused the call (RetryInfo.limit), e.g. "agent.messages_per_minute". */
  readonly limit: string | undefined;

  constructor(source: ConnectError) {
    super(source.rawMessage, source.code, source.metadata, undefined, source.cause);
    this.details = source.details;
    const [info] = source.findDetails(ErrorInfoSchema);
    const [retry] = source.findDetails(RetryInfoSchema);
    this.reason = info?.reason || undefined;
    this.info = { ...(info?.metadata ?? {}) };
    this.retryAfterMs = retry?.retryDelay
      ? Number(retry.retryDelay.seconds) * 1000 + Math.floor(retry.retryDelay.nanos / 1e6)
      : undefined;
    this.limit = retry?.limit || undefined;
    this.isWireError = source.isWireError;
    // Keep the original stack: it shows where the call was made, which is what a reader needs.
    if (source.stack) this.stack = source.stack;
  }

  // ConnectError answers `instanceof` by name (so errors from another copy of connect-es count);
  // AcbError uses the prototype chain, so only real AcbErrors pass `instanceof AcbError`.
  static override [Symbol.hasInstance](v: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(AcbError, v);
  }

  /** Normalises anything thrown (ConnectError, fetch TypeError, AbortError…) into an AcbError. */
  static override from(reason: unknown, code: Code = Code.Unknown): AcbError {
    if (reason instanceof AcbError) return reason;
    return new AcbError(ConnectError.from(reason, code));
  }

  /** Whether trying again later may succeed (network trouble, overload, a draining hub). */
  get retryable(): boolean {
    return isRetryable(this);
  }
}

/** Whether `err` is an {@link AcbError} with the given reason (e.g. "EPOCH_CHANGED"). */
export function hasReason(err: unknown, reason: AcbErrorReason): boolean {
  return AcbError.from(err).reason === reason;
}

/** An error the SDK raises itself (bad arguments, a malformed answer), as an {@link AcbError}. */
export function acbError(code: Code, message: string, cause?: unknown): AcbError {
  return new AcbError(new ConnectError(message, code, undefined, undefined, cause));
}
