import { Code, hubError } from "../errors.js";
import { malformedCursor, malformedToken } from "./cursor.js";

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
  if (!m) throw malformedCursor(cursor);
  // The three groups match one character or more.
  const [, cursorEpoch, meeting, seq] = m as unknown as [string, string, string, string];
  if (meeting !== b64(meetingId)) {
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    throw hubError(Code.InvalidArgument, `cursor belongs to another meeting, not "${meetingId}"`);
  }
  if (cursorEpoch !== epoch) {
    throw hubError(
      Code.FailedPrecondition,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      "cursor belongs to another hub epoch: the hub lost its state since it was issued",
      { reason: "EPOCH_CHANGED", metadata: { hub_epoch: epoch } },
    );
  }
  return Number.parseInt(seq, 36);
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
    // Stryker disable next-line BlockStatement: parsed is still undefined when JSON.parse throws
  } catch {
    parsed = undefined;
  }
  // A token without its query ("q") belongs to no query: refused below as another query's.
  if (parsed && typeof parsed === "object" && "p" in parsed) {
    if ((parsed as { q?: unknown }).q === query) return parsed.p;
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    throw hubError(Code.InvalidArgument, "page_token belongs to another query");
  }
  throw malformedToken();
}
