import { Code, hubError } from "../errors.js";

// Meeting cursors and page tokens are opaque to clients. A cursor names the hub epoch (as
// cursor.ts does for tenant streams) and the meeting, so a cursor of another meeting is refused
// instead of being read as a position in this one.

const b64 = (s: string) => Buffer.from(s).toString("base64url");

export function encodeMeetingCursor(epoch: string, meetingId: string, seq: number): string {
  return `m1.${epoch}.${b64(meetingId)}.${seq.toString(36)}`;
}

/** The sequence after which to resume, or the documented error. */
export function decodeMeetingCursor(cursor: string, epoch: string, meetingId: string): number {
  const m = /^m1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([0-9a-z]+)$/.exec(cursor);
  if (!m?.[1] || !m[2] || !m[3]) {
    throw hubError(Code.InvalidArgument, `cursor "${cursor}" is malformed`);
  }
  if (m[2] !== b64(meetingId)) {
    throw hubError(Code.InvalidArgument, `cursor belongs to another meeting, not "${meetingId}"`);
  }
  if (m[1] !== epoch) {
    throw hubError(
      Code.FailedPrecondition,
      "cursor belongs to another hub epoch: the hub lost its state since it was issued",
      { reason: "EPOCH_CHANGED", metadata: { hub_epoch: epoch } },
    );
  }
  return Number.parseInt(m[3], 36);
}

/**
 * A page token carrying a position plus the query it belongs to, so a token reused with another
 * query (or another meeting's transcript) is INVALID_ARGUMENT rather than a silently wrong page.
 */
export function encodeToken(query: string, position: unknown): string {
  return b64(JSON.stringify({ q: query, p: position }));
}

export function decodeToken(token: string, query: string): unknown {
  if (token === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === "object" && "q" in parsed && "p" in parsed) {
    if (parsed.q === query) return parsed.p;
    throw hubError(Code.InvalidArgument, "page_token belongs to another query");
  }
  throw hubError(Code.InvalidArgument, "page_token is malformed: pass next_page_token unchanged");
}
