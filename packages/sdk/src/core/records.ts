import { type Context, ContextScope } from "@acb/gen/acb/v1/contexts_pb";
import type { Agent } from "@acb/gen/acb/v1/registry_pb";
import { AgentStatus } from "@acb/gen/acb/v1/registry_pb";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { autoCodec, type PayloadCodec } from "./payload-codec.js";

/** Presence of an agent as the SDK reports it. */
export type AgentPresence = "online" | "offline" | "unknown";

/** A registered agent. */
export interface AgentInfo {
  id: string;
  type: string;
  location: string;
  capabilities: string[];
  metadata: Record<string, string>;
  groups: string[];
  status: AgentPresence;
  lastSeen: Date | undefined;
  createdAt: Date | undefined;
}

/** Who may access a context. */
export type ContextScopeName = "public" | "private" | "group" | "shared";

/** A context as read from the hub, with its value decoded. */
export interface SharedContext<T = unknown> {
  id: string;
  type: string;
  ownerId: string;
  /** The decoded value (undefined for large contexts kept in a blob store; stream those). */
  value: T;
  contentType: string;
  metadata: Record<string, string>;
  /** Increases by one on every update; pass it as expectedRevision for compare-and-set. */
  revision: number;
  schemaVersion: string;
  scope: ContextScopeName;
  allowedIds: string[];
  /** SHA-256 of the value's bytes, lower-case hex, computed by the hub. */
  sha256: string;
  size: number;
  createdAt: Date | undefined;
  updatedAt: Date | undefined;
  expiresAt: Date | undefined;
}

const presence: Record<AgentStatus, AgentPresence> = {
  [AgentStatus.UNSPECIFIED]: "unknown",
  [AgentStatus.ONLINE]: "online",
  [AgentStatus.OFFLINE]: "offline",
  [AgentStatus.UNKNOWN]: "unknown",
};

export const scopeNames: Record<ContextScope, ContextScopeName> = {
  [ContextScope.UNSPECIFIED]: "public",
  [ContextScope.PUBLIC]: "public",
  [ContextScope.PRIVATE]: "private",
  [ContextScope.GROUP]: "group",
  [ContextScope.SHARED]: "shared",
};

export const scopeValues: Record<ContextScopeName, ContextScope> = {
  public: ContextScope.PUBLIC,
  private: ContextScope.PRIVATE,
  group: ContextScope.GROUP,
  shared: ContextScope.SHARED,
};

export function presenceValue(p: AgentPresence | undefined): AgentStatus {
  if (p === "online") return AgentStatus.ONLINE;
  if (p === "offline") return AgentStatus.OFFLINE;
  if (p === "unknown") return AgentStatus.UNKNOWN;
  return AgentStatus.UNSPECIFIED;
}

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

export function agentInfo(a: Agent): AgentInfo {
  return {
    id: a.id,
    type: a.type,
    location: a.location,
    capabilities: a.capabilities,
    metadata: a.metadata,
    groups: a.groups,
    status: presence[a.status],
    lastSeen: a.lastSeen && timestampDate(a.lastSeen),
    createdAt: a.createdAt && timestampDate(a.createdAt),
  };
}

export function sharedContext<T>(
  c: Context,
  codec: PayloadCodec<T> = autoCodec as PayloadCodec<T>,
): SharedContext<T> {
  const contentType = c.payload?.contentType ?? "";
  const inline = c.payload !== undefined && c.storageRef === undefined;
  return {
    id: c.id,
    type: c.type,
    ownerId: c.ownerId,
    value: (inline && c.payload ? codec.decode(c.payload.data, contentType) : undefined) as T,
    contentType,
    metadata: c.metadata,
    revision: Number(c.revision),
    schemaVersion: c.schemaVersion,
    scope: scopeNames[c.access?.scope ?? ContextScope.UNSPECIFIED],
    allowedIds: c.access?.allowedIds ?? [],
    sha256: toHex(c.sha256),
    size: Number(c.size),
    createdAt: c.createdAt && timestampDate(c.createdAt),
    updatedAt: c.updatedAt && timestampDate(c.updatedAt),
    expiresAt: c.expiresAt && timestampDate(c.expiresAt),
  };
}
