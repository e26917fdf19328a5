import { Code, ConnectError } from "@connectrpc/connect";

export { Code, ConnectError };

/** Codes after which retrying the same stream cannot succeed. */
const terminalCodes = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.DataLoss,
]);

/** Whether a live stream that failed with `err` should reconnect (network trouble, a draining hub). */
export function isRetryable(err: unknown): boolean {
  return !terminalCodes.has(ConnectError.from(err).code);
}
