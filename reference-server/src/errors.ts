import { ErrorInfoSchema, RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

export { Code, ConnectError };

/** Extra facts attached to a hub error as Connect error details. */
export interface HubErrorOptions {
  /** Stable UPPER_SNAKE_CASE reason, sent as an acb.v1.ErrorInfo detail. */
  reason?: string;
  /** Facts about the error (current revision, current turn holder, ...), sent with the reason. */
  metadata?: Record<string, string>;
  /** Suggested wait before retrying, sent as an acb.v1.RetryInfo detail. */
  retryAfterMs?: number;
  /** The limit that refused the call, sent in RetryInfo. */
  limit?: string;
  /** The underlying error, kept for logs. */
  cause?: unknown;
}

/**
 * Creates the one kind of error the hub raises: a ConnectError with a precise message and, where
 * useful, machine-readable details. Codes map 1:1 to the wire.
 */
export function hubError(code: Code, message: string, options: HubErrorOptions = {}): ConnectError {
  const details = [];
  if (options.reason !== undefined) {
    details.push({
      desc: ErrorInfoSchema,
      value: create(ErrorInfoSchema, { reason: options.reason, metadata: options.metadata ?? {} }),
    });
  }
  if (options.retryAfterMs !== undefined) {
    details.push({
      desc: RetryInfoSchema,
      value: create(RetryInfoSchema, {
        retryDelay: durationFromMs(options.retryAfterMs),
        limit: options.limit ?? "",
      }),
    });
  }
  return new ConnectError(message, code, undefined, details, options.cause);
}

/** NOT_FOUND worded the same whether the object is missing, another tenant's, or not visible. */
export function notFound(kind: string, id: string): ConnectError {
  return hubError(Code.NotFound, `${kind} "${id}" not found`);
}
