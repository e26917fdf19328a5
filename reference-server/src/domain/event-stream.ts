import { Code, hubError } from "../errors.js";
import type { EventLog, EventStreamName } from "../storage/types.js";
import { decodeCursor } from "./cursor.js";

/** What {@link followEvents} yields: a stored event, or the single "caught up, now live" marker. */
export type Followed<T> = { kind: "event"; seq: number; event: T } | { kind: "ready"; seq: number };

const BATCH = 256;

/**
 * Reads one tenant's event stream from a cursor (or from now, for an empty cursor), then follows it
 * live until `signal` aborts. Events are pulled from the log in batches rather than pushed into a
 * per-subscriber queue, so a slow reader costs no memory; a reader that falls behind the log's
 * retention fails with OUT_OF_RANGE instead of silently missing events. The log keeps events as
 * bytes; `decode` turns each into what the reader handles.
 */
export async function* followEvents<T>(
  log: EventLog,
  tenantId: string,
  stream: EventStreamName,
  cursor: string,
  epoch: string,
  signal: AbortSignal,
  decode: (data: Uint8Array) => T,
): AsyncGenerator<Followed<T>> {
  const bounds = await log.bounds(tenantId, stream);
  let pos = cursor === "" ? bounds.head : decodeCursor(cursor, epoch);
  if (pos > bounds.head) {
    throw hubError(Code.OutOfRange, "cursor is ahead of this hub's event stream");
  }
  let ready = false;
  while (!signal.aborted) {
    const { oldest } = await log.bounds(tenantId, stream);
    if (pos < oldest - 1) {
      throw hubError(
        Code.OutOfRange,
        `cursor is older than the hub's retained changes (oldest retained position ${oldest}); resubscribe without a cursor and re-read current state`,
      );
    }
    const batch = await log.read(tenantId, stream, pos, BATCH);
    for (const e of batch) {
      pos = e.seq;
      yield { kind: "event", seq: e.seq, event: decode(e.data) };
    }
    if (batch.length === BATCH) continue;
    if (!ready) {
      ready = true;
      yield { kind: "ready", seq: pos };
    }
    await log.waitFor(tenantId, stream, pos, signal);
  }
}
