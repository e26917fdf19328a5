// Records and small tools the per-store files of the shared backend suite build their cases from.
// Each test works in tenants (and token hashes, families) with fresh random ids, so the suite can
// run against a shared durable backend (one PostgreSQL schema, one Redis prefix) without
// collisions.

import { randomUUID } from "node:crypto";
import type {
  AgentRecord,
  Backend,
  ContextRecord,
  ConversationRecord,
  MessageRecord,
  RefreshTokenRecord,
  TenantRecord,
} from "../types.js";

/**
 * Runs a mutation of a record handed out by a store. Stores may return copies or frozen records;
 * writing to a frozen one throws a TypeError, which counts as "the store did not change".
 */
export function attemptMutation(mutate: () => unknown): void {
  try {
    mutate();
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
}

/** A fresh id for one test: lowercase letters and digits, valid as a tenant id. */
export const fresh = (prefix = "t") => `${prefix}${randomUUID().replaceAll("-", "")}`;

/** Byte arrays compared by content, whatever class the backend returns (Uint8Array, Buffer). */
export const bytes = (b: Uint8Array | undefined) => (b === undefined ? undefined : Array.from(b));

/** A context record with its byte fields made comparable with toEqual. */
export function comparable(c: ContextRecord | undefined) {
  return c && { ...c, data: bytes(c.data), sha256: bytes(c.sha256) };
}

export function tenantRecord(id: string, overrides: Partial<TenantRecord> = {}): TenantRecord {
  return {
    id,
    displayName: `Tenant ${id}`,
    tier: 1,
    quotas: {
      maxAgents: 3,
      tenantMessagesPerMinute: 0,
      agentMessagesPerMinute: 1000,
      tenantBytesPerMinute: 0,
      agentBytesPerMinute: 100 * 1024 * 1024,
      agentConcurrentStreams: 10,
      storageBytes: 1024 * 1024 * 1024,
      messagesPerMonth: 10_000,
    },
    settings: {
      ackDeadlineMs: 30_000,
      maxDeliveryAttempts: 5,
      dedupeWindowMs: 86_400_000,
      heartbeatIntervalMs: 10_000,
      presenceTimeoutMs: 30_000,
      defaultMessageTtlMs: 604_800_000,
    },
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

export function agentRecord(
  tenantId: string,
  id: string,
  overrides: Partial<AgentRecord> = {},
): AgentRecord {
  return {
    tenantId,
    id,
    type: "ml",
    location: "eu/west",
    capabilities: [],
    metadata: {},
    groups: [],
    createdAt: 1_000,
    lastSeen: 1_000,
    sessionId: `ses-${id}`,
    ...overrides,
  };
}

export function contextRecord(
  tenantId: string,
  id: string,
  overrides: Partial<ContextRecord> = {},
): ContextRecord {
  const data = new TextEncoder().encode(`value of ${id}`);
  return {
    tenantId,
    id,
    type: "note",
    ownerId: "owner-1",
    contentType: "text/plain",
    data,
    metadata: {},
    revision: 1,
    schemaVersion: "1",
    scope: 1,
    allowedIds: [],
    sha256: new Uint8Array(32).fill(7),
    size: data.length,
    createdAt: 1_000,
    updatedAt: 1_000,
    ...overrides,
  };
}

export function refreshToken(
  tenantId: string,
  familyId: string,
  overrides: Partial<RefreshTokenRecord> = {},
): RefreshTokenRecord {
  return {
    hash: fresh("h"),
    familyId,
    tenantId,
    agentId: "agent-1",
    roles: [2, 3],
    expiresAt: 2_000_000_000_000,
    ...overrides,
  };
}

/**
 * An event as a backend stores it: opaque bytes. The suite encodes JSON (the hub encodes protobuf;
 * a backend never looks inside).
 */
export const ev = (value: unknown = "event"): Uint8Array =>
  new TextEncoder().encode(JSON.stringify(value));

/** The value an {@link ev} encoded. */
export const unev = (data: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(data));

export function messageRecord(
  tenantId: string,
  id: string,
  overrides: Partial<MessageRecord> = {},
): MessageRecord {
  return {
    tenantId,
    id,
    senderId: "sender",
    target: { kind: "agent", recipientId: "rcpt" },
    type: 1,
    kind: "",
    contentType: "text/plain",
    data: new TextEncoder().encode(`body of ${id}`),
    contextId: "",
    correlationId: "",
    replyTo: "",
    conversationId: "",
    idempotencyKey: "",
    metadata: {},
    headers: {},
    createdAt: 1_000,
    expiresAt: 4_000_000_000_000,
    ...overrides,
  };
}

export function conversationRecord(
  tenantId: string,
  id: string,
  overrides: Partial<ConversationRecord> = {},
): ConversationRecord {
  return {
    tenantId,
    id,
    mode: 2,
    initiatorId: "a",
    participants: ["a", "b"],
    state: 1,
    subject: "",
    metadata: {},
    timeoutMs: undefined,
    timeoutAt: undefined,
    createdAt: 1_000,
    updatedAt: 1_000,
    endedAt: undefined,
    closedBy: "",
    closeReason: "",
    messageCount: 0,
    version: 1,
    ...overrides,
  };
}

/**
 * Deletes a tenant through Backend.deleteTenant (creating its record first when the test wrote
 * only records of other stores).
 */
export async function deleteTenant(backend: Backend, tenantId: string): Promise<void> {
  await backend.tenants.create(tenantRecord(tenantId));
  if (!(await backend.deleteTenant(tenantId))) throw new Error(`tenant ${tenantId} not deleted`);
}
