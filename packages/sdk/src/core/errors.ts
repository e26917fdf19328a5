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
  const e = ConnectError.from(err);
  // A stream cut mid-way (the hub's socket closed under it) is reported by connect-es as a local
  // protocol error with code INVALID_ARGUMENT ("missing EndStreamResponse"); it was the network,
  // not the request, so it is worth another attempt. The hub's own INVALID_ARGUMENT is a wire error.
  if (!e.isWireError && e.rawMessage.startsWith("protocol error")) return true;
  return !terminalCodes.has(e.code);
}
