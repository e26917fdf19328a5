import type {
  MeetingEventRecord,
  MeetingListPosition,
  MeetingRecord,
  MeetingStore,
} from "../types.js";
import { TenantMap, type TenantScoped } from "./tenant-map.js";

interface Entry {
  meeting: MeetingRecord;
  events: MeetingEventRecord[];
  waiters: Set<() => void>;
}

/** Newest first: createdAt descending, then id descending. */
function newerFirst(a: MeetingListPosition, b: MeetingListPosition): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Meetings in process memory. Every method runs to completion without awaiting in between, so
 * the compare-and-set in update() is atomic within the process; a shared backend gets the same
 * guarantee from a transaction.
 */
export function createMemoryMeetingStore(): MeetingStore & TenantScoped {
  const meetings = new TenantMap<Entry>();

  const wake = (entry: Entry) => {
    const waiters = [...entry.waiters];
    // Stryker disable next-line all: each waiter removes itself when called (done, below)
    entry.waiters.clear();
    for (const w of waiters) w();
  };

  return {
    async create(meeting) {
      if (meetings.get(meeting.tenantId, meeting.id)) return false;
      meetings.set(meeting.tenantId, meeting.id, {
        meeting: structuredClone(meeting),
        events: [],
        waiters: new Set(),
      });
      return true;
    },
    async tenantsHolding(id, limit) {
      return meetings.tenantsWith(id, limit);
    },
    async get(tenantId, id) {
      const entry = meetings.get(tenantId, id);
      return entry && structuredClone(entry.meeting);
    },
    async update(next, expectedVersion, events) {
      const entry = meetings.get(next.tenantId, next.id);
      if (!entry || entry.meeting.version !== expectedVersion) {
        // Stryker disable next-line all: the service reads the meeting again after a conflict, never current
        return { ok: false, current: entry && structuredClone(entry.meeting) };
      }
      entry.meeting = structuredClone(next);
      for (const e of events) entry.events.push(structuredClone(e));
      // The service writes only with events; waking on none would only make watchers wait again.
      wake(entry);
      return { ok: true };
    },
    async readEvents(tenantId, meetingId, afterSeq, limit) {
      const entry = meetings.get(tenantId, meetingId);
      if (!entry) return [];
      // Sequences start at 1 with no gaps, so the event with seq n sits at index n - 1.
      return entry.events.slice(afterSeq, afterSeq + limit).map((e) => structuredClone(e));
    },
    waitForEvents(tenantId, meetingId, afterSeq, signal) {
      const entry = meetings.get(tenantId, meetingId);
      if (!entry || entry.events.length > afterSeq || signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          // Stryker disable next-line all: a waiter called again only resolves a settled promise
          entry.waiters.delete(done);
          // Stryker disable next-line all: as above
          signal.removeEventListener("abort", done);
          resolve();
        };
        entry.waiters.add(done);
        // Stryker disable next-line ObjectLiteral,BooleanLiteral,StringLiteral: as above; an abort not heard leaves the watch parked until the meeting's next event, after its RPC ended
        signal.addEventListener("abort", done, { once: true });
      });
    },
    async list(tenantId, query, after, limit) {
      const found: MeetingRecord[] = [];
      for (const { meeting } of meetings.values(tenantId)) {
        if (query.state !== undefined && meeting.state !== query.state) continue;
        const ids = new Set(meeting.participants.map((p) => p.agentId));
        if (query.participantIds && !query.participantIds.every((id) => ids.has(id))) continue;
        if (after && newerFirst(after, meeting) >= 0) continue;
        found.push(meeting);
      }
      found.sort(newerFirst);
      // Stryker disable next-line MethodExpression: the service asks for one more than a page and cuts the page itself
      return found.slice(0, limit).map((m) => structuredClone(m));
    },
    // Stryker disable all: only Meetings.resume() reads the due meetings, as the hub starts, when a memory store is empty
    async listDue(dueBy, limit) {
      const due: MeetingRecord[] = [];
      for (const { meeting } of meetings.allValues()) {
        if (meeting.wakeAt !== undefined && meeting.wakeAt <= dueBy) due.push(meeting);
      }
      return due
        .sort((a, b) => (a.wakeAt ?? 0) - (b.wakeAt ?? 0))
        .slice(0, limit)
        .map((m) => structuredClone(m));
    },
    // Stryker disable all: no hub code deletes one meeting (they go with their tenant); the storage suite tests it
    async delete(tenantId, id) {
      const entry = meetings.delete(tenantId, id);
      if (entry) wake(entry);
      return entry !== undefined;
    },
    // Stryker restore all
    deleteTenant(tenantId) {
      for (const entry of [...meetings.values(tenantId)]) wake(entry);
      meetings.deleteTenant(tenantId);
    },
  };
}
