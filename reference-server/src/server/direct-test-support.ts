// What the comparison tests of the direct paths share (direct-streams.test.ts,
// direct-unary.test.ts): how a reason reads, a handler that waits for its signal, and a handler
// failure with details and metadata.

import { Code, ConnectError, hubError } from "../errors.js";

/** A reason as the tests compare it: code and message, or the error's name, code and message. */
export function describeReason(reason: unknown): string {
  if (reason instanceof ConnectError) return `${Code[reason.code]}: ${reason.rawMessage}`;
  if (reason instanceof Error) {
    const code = (reason as { code?: unknown }).code;
    return `${reason.name}${code === undefined ? "" : ` (${String(code)})`}: ${reason.message}`;
  }
  return String(reason);
}

/** Waits for the signal, then throws its reason, as the hub's handlers do. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** A handler failure with details (ErrorInfo, RetryInfo) and metadata. */
export function failure(): ConnectError {
  const e = hubError(Code.Unavailable, "the stub's backend is unavailable", {
    reason: "BACKEND_UNAVAILABLE",
    metadata: { backend: "stub" },
    retryAfterMs: 1500,
    limit: "stub",
  });
  e.metadata.set("x-error-metadata", "from the handler");
  return e;
}
