import { type Context, ContextSchema } from "@acb/gen/acb/v1/contexts_pb";
import { type Agent, AgentSchema, type AgentStatus } from "@acb/gen/acb/v1/registry_pb";
import { create } from "@bufbuild/protobuf";
import {
  type Duration,
  type Timestamp,
  timestampFromMs,
  timestampMs,
} from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { type Identity, identityKey } from "../auth/identity.js";
import { Code, hubError } from "../errors.js";
import type { AgentRecord, ContextRecord } from "../storage/types.js";

export const ts = (ms: number): Timestamp => timestampFromMs(ms);
export const tsOpt = (ms: number | undefined): Timestamp | undefined =>
  ms === undefined ? undefined : ts(ms);
export const msOf = (t: Timestamp | undefined): number | undefined =>
  t === undefined ? undefined : timestampMs(t);

/** Duration to milliseconds; undefined stays undefined. */
export function durationMs(d: Duration | undefined): number | undefined {
  if (d === undefined) return undefined;
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}

/** The caller's identity; the auth interceptor guarantees it on every authenticated RPC. */
export function callerOf(ctx: HandlerContext): Identity {
  const identity = ctx.values.get(identityKey);
  if (!identity) throw hubError(Code.Unauthenticated, "no caller identity on an authenticated RPC");
  return identity;
}

export function agentToProto(a: AgentRecord, status: AgentStatus): Agent {
  return create(AgentSchema, {
    id: a.id,
    type: a.type,
    location: a.location,
    capabilities: a.capabilities,
    metadata: a.metadata,
    groups: a.groups,
    status,
    tenantId: a.tenantId,
    createdAt: ts(a.createdAt),
    lastSeen: ts(a.lastSeen),
    sessionId: a.sessionId,
    publicKeys: (a.publicKeys ?? []).map((k) => ({
      keyId: k.keyId,
      kemId: k.kemId,
      publicKey: Buffer.from(k.publicKey, "base64url"),
    })),
  });
}

export function contextToProto(c: ContextRecord, omitPayload = false): Context {
  return create(ContextSchema, {
    id: c.id,
    type: c.type,
    ownerId: c.ownerId,
    tenantId: c.tenantId,
    ...(!c.storageRef && {
      payload: { contentType: c.contentType, data: omitPayload ? new Uint8Array() : c.data },
    }),
    ...(c.storageRef && { storageRef: { ...c.storageRef, size: BigInt(c.storageRef.size) } }),
    metadata: c.metadata,
    revision: BigInt(c.revision),
    schemaVersion: c.schemaVersion,
    access: { scope: c.scope, allowedIds: c.allowedIds },
    sha256: c.sha256,
    size: BigInt(c.size),
    createdAt: ts(c.createdAt),
    updatedAt: ts(c.updatedAt),
    ...(c.expiresAt !== undefined && { expiresAt: ts(c.expiresAt) }),
  });
}
