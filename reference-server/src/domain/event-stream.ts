import type { Identity } from "../auth/identity.js";
import { Code, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import type { EventLog, EventStreamName } from "../storage/types.js";
import { TENANTS_CHANNEL } from "./channels.js";
import { decodeCursor } from "./cursor.js";

/** What {@link followEvents} yields: a stored event, or the single "caught up, now live" marker. */
export type Followed<T> = { kind: "event"; seq: number; event: T } | { kind: "ready"; seq: number };

const BATCH = 256;

/**
 * For {@link followEvents}: whether the reader's tenant is still the one its credential was issued
 * in, and a way to hear of the changes of that tenant (DeleteTenant announces its own).
 */
export interface TenantCheck {
  current(): Promise<boolean>;
  /** Calls `onChange` whenever a change of the tenant is announced; resolves to the unsubscribe. */
  watch(onChange: () => void): Promise<() => void>;
}

/** The {@link TenantCheck} of `identity`'s tenant, from the hub's tenant records. */
export function tenantStillCurrent(
  hub: Pick<HubContext, "findTenant" | "backend">,
  identity: Identity,
): TenantCheck {
  return {
    current: async () => {
      const tenant = await hub.findTenant(identity.tenantId);
      return tenant !== undefined && tenant.incarnation === identity.tenantIncarnation;
    },
    watch: (onChange) =>
      hub.backend.notifier.subscribe(TENANTS_CHANNEL, (id) => {
        // Stryker disable next-line EqualityOperator,StringLiteral: the hub announces one tenant at a time, never "" (every tenant): waking for more announcements only makes more streams re-check their tenant
        if (id === identity.tenantId || id === "") onChange();
      }),
  };
}

/**
 * Reads one tenant's event stream from a cursor (or from now, for an empty cursor), then follows it
 * live until `signal` aborts. Events are pulled from the log in batches rather than pushed into a
 * per-subscriber queue, so a slow reader costs no memory; a reader that falls behind the log's
 * retention fails with OUT_OF_RANGE instead of silently missing events. The log keeps events as
 * bytes; `decode` turns each into what the reader handles. `tenant` says whether the reader's
 * tenant is still the one its credential was issued in: asked before each read, it ends the
 * stream UNAUTHENTICATED once that tenant is deleted (a tenant created again with the same id
 * writes to a stream of the same name, which the old reader must not follow). A waiting reader
 * also wakes when a change of its tenant is announced: a deleted tenant's stream gets no more
 * events, and the wake-up a store may give at the deletion can come before this node's copy of
 * the tenant record is dropped.
 */
export async function* followEvents<T>(
  log: EventLog,
  tenantId: string,
  stream: EventStreamName,
  cursor: string,
  epoch: string,
  signal: AbortSignal,
  decode: (data: Uint8Array) => T,
  tenant: TenantCheck,
): AsyncGenerator<Followed<T>> {
  const bounds = await log.bounds(tenantId, stream);
  let pos = cursor === "" ? bounds.head : decodeCursor(cursor, epoch);
  if (pos > bounds.head) {
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    throw hubError(Code.OutOfRange, "cursor is ahead of this hub's event stream");
  }
  let ready = false;
  let changed = new AbortController();
  const unwatch = await tenant.watch(() => changed.abort());
  try {
    while (!signal.aborted) {
      // A change heard before this check is seen by it: wait for the next one only.
      // Stryker disable next-line ConditionalExpression: a controller replaced when nothing aborted it is the same; one never replaced after a change makes every later wait return at once, and the stream re-reads its log in a loop (a cost)
      if (changed.signal.aborted) changed = new AbortController();
      if (!(await tenant.current())) {
        throw hubError(
          Code.Unauthenticated,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `tenant "${tenantId}" was deleted; its credentials no longer authenticate`,
        );
      }
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
        // Stryker disable next-line StringLiteral: the readers test for "ready" alone
        yield { kind: "event", seq: e.seq, event: decode(e.data) };
      }
      if (batch.length === BATCH) continue;
      if (!ready) {
        ready = true;
        yield { kind: "ready", seq: pos };
      }
      await log.waitFor(tenantId, stream, pos, AbortSignal.any([signal, changed.signal]));
    }
  } finally {
    // Stryker disable next-line CallExpression: a listener left after the stream ended only aborts a controller nobody waits on (a cost, until the hub stops)
    unwatch();
  }
}
