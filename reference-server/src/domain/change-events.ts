// Change events as the event log keeps them: protobuf bytes of the acb.v1 stream messages
// (SubscribeContextsResponse, WatchAgentsResponse without their cursor), so any backend stores
// them as plain bytes and every node decodes the same thing.

import {
  SubscribeContextsResponse_Kind as ContextEventKind,
  ContextSchema,
  SubscribeContextsResponseSchema,
} from "@acb/gen/acb/v1/contexts_pb";
import {
  WatchAgentsResponse_Kind as AgentEventKind,
  AgentSchema,
  type AgentStatus,
  WatchAgentsResponseSchema,
} from "@acb/gen/acb/v1/registry_pb";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { AgentRecord, ContextRecord } from "../storage/types.js";

/** An entry of the per-tenant "contexts" event stream. */
export interface ContextChange {
  kind: ContextEventKind;
  context: ContextRecord;
  time: number;
}

/** An entry of the per-tenant "agents" event stream. */
export interface AgentChange {
  kind: AgentEventKind;
  agent: AgentRecord;
  status: AgentStatus;
  time: number;
}

const ms = (t: Timestamp | undefined) => (t === undefined ? 0 : timestampMs(t));

export function encodeContextChange(change: ContextChange): Uint8Array {
  const c = change.context;
  return toBinary(
    SubscribeContextsResponseSchema,
    create(SubscribeContextsResponseSchema, {
      kind: change.kind,
      time: timestampFromMs(change.time),
      context: create(ContextSchema, {
        id: c.id,
        type: c.type,
        ownerId: c.ownerId,
        tenantId: c.tenantId,
        // The content type is kept with a stored value too, so the event round-trips the record.
        payload: { contentType: c.contentType, data: c.data },
        ...(c.storageRef && { storageRef: { ...c.storageRef, size: BigInt(c.storageRef.size) } }),
        metadata: c.metadata,
        revision: BigInt(c.revision),
        schemaVersion: c.schemaVersion,
        access: { scope: c.scope, allowedIds: c.allowedIds },
        sha256: c.sha256,
        size: BigInt(c.size),
        createdAt: timestampFromMs(c.createdAt),
        updatedAt: timestampFromMs(c.updatedAt),
        ...(c.expiresAt !== undefined && { expiresAt: timestampFromMs(c.expiresAt) }),
      }),
    }),
  );
}

export function decodeContextChange(data: Uint8Array): ContextChange {
  const m = fromBinary(SubscribeContextsResponseSchema, data);
  const c = m.context ?? create(ContextSchema);
  const context: ContextRecord = {
    tenantId: c.tenantId,
    id: c.id,
    type: c.type,
    ownerId: c.ownerId,
    // Stryker disable next-line OptionalChaining,StringLiteral: encodeContextChange always writes payload and access; the fallback is for an event without them, which the hub never writes
    contentType: c.payload?.contentType ?? "",
    // Stryker disable next-line OptionalChaining: as above
    data: c.payload?.data ?? new Uint8Array(),
    ...(c.storageRef && {
      storageRef: {
        backend: c.storageRef.backend,
        bucket: c.storageRef.bucket,
        key: c.storageRef.key,
        size: Number(c.storageRef.size),
      },
    }),
    metadata: { ...c.metadata },
    revision: Number(c.revision),
    schemaVersion: c.schemaVersion,
    // Stryker disable next-line OptionalChaining: as above
    scope: c.access?.scope ?? 0,
    // Stryker disable next-line OptionalChaining,ArrayDeclaration: as above
    allowedIds: [...(c.access?.allowedIds ?? [])],
    sha256: c.sha256,
    size: Number(c.size),
    createdAt: ms(c.createdAt),
    updatedAt: ms(c.updatedAt),
    ...(c.expiresAt && { expiresAt: ms(c.expiresAt) }),
  };
  return { kind: m.kind, context, time: ms(m.time) };
}

export function encodeAgentChange(change: AgentChange): Uint8Array {
  const a = change.agent;
  return toBinary(
    WatchAgentsResponseSchema,
    create(WatchAgentsResponseSchema, {
      kind: change.kind,
      time: timestampFromMs(change.time),
      agent: create(AgentSchema, {
        id: a.id,
        type: a.type,
        location: a.location,
        capabilities: a.capabilities,
        metadata: a.metadata,
        groups: a.groups,
        status: change.status,
        tenantId: a.tenantId,
        createdAt: timestampFromMs(a.createdAt),
        lastSeen: timestampFromMs(a.lastSeen),
        sessionId: a.sessionId,
      }),
    }),
  );
}

export function decodeAgentChange(data: Uint8Array): AgentChange {
  const m = fromBinary(WatchAgentsResponseSchema, data);
  const a = m.agent ?? create(AgentSchema);
  return {
    kind: m.kind,
    status: a.status,
    time: ms(m.time),
    agent: {
      tenantId: a.tenantId,
      id: a.id,
      type: a.type,
      location: a.location,
      capabilities: [...a.capabilities],
      metadata: { ...a.metadata },
      groups: [...a.groups],
      createdAt: ms(a.createdAt),
      lastSeen: ms(a.lastSeen),
      sessionId: a.sessionId,
    },
  };
}

export { AgentEventKind, ContextEventKind };
