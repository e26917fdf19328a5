import { Code, hubError } from "../errors.js";

/**
 * Cursors are opaque to clients; inside they name the hub epoch and a position in one event stream,
 * so a cursor from before a state reset is recognised instead of silently skipping events.
 */
export function encodeCursor(epoch: string, seq: number): string {
  return `c1.${epoch}.${seq.toString(36)}`;
}

/** Returns the position after which to resume, or throws the documented error. */
export function decodeCursor(cursor: string, epoch: string): number {
  const m = /^c1\.([A-Za-z0-9_-]+)\.([0-9a-z]+)$/.exec(cursor);
  if (!m?.[1] || !m[2]) throw malformedCursor(cursor);
  if (m[1] !== epoch) {
    throw hubError(
      Code.FailedPrecondition,
      "cursor belongs to another hub epoch: the hub lost its state since it was issued",
      {
        reason: "EPOCH_CHANGED",
        metadata: { hub_epoch: epoch },
      },
    );
  }
  return Number.parseInt(m[2], 36);
}

/** Page tokens carry the last id of the previous page. */
export function encodePageToken(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString("base64url");
}

export function decodePageToken(token: string): string {
  if (token === "") return "";
  try {
    // Destructuring throws on null, and reads nothing of other primitives or of arrays.
    const { after } = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as {
      after?: unknown;
    };
    if (typeof after === "string") return after;
  } catch {
    // fall through to the error below
  }
  throw malformedToken();
}

/** The error for a cursor the hub did not issue (tenant streams and meetings alike). */
export function malformedCursor(cursor: string) {
  // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
  return hubError(Code.InvalidArgument, `cursor "${cursor}" is malformed`);
}

/** The error for a page_token the hub did not issue (every List RPC). */
export function malformedToken() {
  // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
  return hubError(Code.InvalidArgument, "page_token is malformed: pass next_page_token unchanged");
}

export function pageSize(requested: number): number {
  return requested > 0 ? Math.min(requested, 1000) : 100;
}
