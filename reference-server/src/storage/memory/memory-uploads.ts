import type { UploadSessionRecord, UploadSessionStore } from "../types.js";
import { TenantMap, type TenantScoped } from "./tenant-map.js";

const OPEN = 1;
const CREATE = 1;

/** Upload sessions in process memory; each method is one synchronous step. */
export function createMemoryUploadSessionStore(): UploadSessionStore & TenantScoped {
  const sessions = new TenantMap<UploadSessionRecord>();
  /** tenant + context id → id of the OPEN CREATE session reserving it. */
  const reserved = new Map<string, string>();
  const rkey = (s: { tenantId: string; contextId: string }) => `${s.tenantId}\u0000${s.contextId}`;
  const unreserve = (s: UploadSessionRecord) => {
    if (reserved.get(rkey(s)) === s.id) reserved.delete(rkey(s));
  };
  /** Bytes staged by OPEN sessions, per tenant and in all; kept with every write. */
  const staged = new Map<string, number>();
  let stagedAll = 0;
  const count = (s: UploadSessionRecord | undefined, sign: 1 | -1) => {
    if (!s || s.state !== OPEN || s.verifiedOffset === 0) return;
    const left = (staged.get(s.tenantId) ?? 0) + sign * s.verifiedOffset;
    if (left > 0) staged.set(s.tenantId, left);
    else staged.delete(s.tenantId);
    stagedAll += sign * s.verifiedOffset;
  };
  return {
    async create(session) {
      if (sessions.get(session.tenantId, session.id)) return false;
      if (session.mode === CREATE) {
        if (reserved.has(rkey(session))) return false;
        reserved.set(rkey(session), session.id);
      }
      sessions.set(session.tenantId, session.id, structuredClone(session));
      // Stryker disable next-line CallExpression: a session begins with nothing verified, which count() skips
      count(session, 1);
      return true;
    },
    async get(tenantId, id) {
      const s = sessions.get(tenantId, id);
      // Stryker disable next-line LogicalOperator: the stored record itself instead of a copy: its readers never change it, they store a new one with replace
      return s && structuredClone(s);
    },
    async replace(next, expectedVersion) {
      const current = sessions.get(next.tenantId, next.id);
      if (!current || current.version !== expectedVersion) return false;
      sessions.set(next.tenantId, next.id, structuredClone(next));
      count(current, -1);
      count(next, 1);
      if (next.state !== OPEN) unreserve(current);
      return true;
    },
    async reservedBy(tenantId, contextId) {
      return reserved.get(rkey({ tenantId, contextId }));
    },
    async listDue(dueBy, limit) {
      const due: UploadSessionRecord[] = [];
      for (const s of sessions.allValues()) if (s.wakeAt <= dueBy) due.push(s);
      return due
        .sort((a, b) => a.wakeAt - b.wakeAt)
        .slice(0, limit)
        .map((s) => structuredClone(s));
    },
    async stagedBytes(tenantId) {
      return { tenant: staged.get(tenantId) ?? 0, all: stagedAll };
    },
    async delete(tenantId, id) {
      const s = sessions.delete(tenantId, id);
      if (s) unreserve(s);
      count(s, -1);
    },
    deleteTenant(tenantId) {
      for (const s of [...sessions.values(tenantId)]) {
        unreserve(s);
        count(s, -1);
      }
      sessions.deleteTenant(tenantId);
    },
  };
}
