import {
  WatchAgentsResponse_Kind as AgentEventKind,
  AgentStatus,
} from "@acb/gen/acb/v1/registry_pb";
import type { Identity } from "../auth/identity.js";
import { isAdmin } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, hubError, notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type {
  AgentPublicKeyRecord,
  AgentQuery,
  AgentRecord,
  TenantRecord,
} from "../storage/types.js";
import { encodeAgentChange } from "./change-events.js";
import { decodePageToken, encodePageToken, pageSize } from "./cursor.js";

export { type AgentChange, decodeAgentChange } from "./change-events.js";

export interface RegisterInput {
  agentId: string;
  type: string;
  location: string;
  capabilities: string[];
  metadata: Record<string, string>;
  groups: string[];
  takeOver: boolean;
  publicKeys: AgentPublicKeyRecord[];
}

export interface AgentPage {
  agents: { agent: AgentRecord; status: AgentStatus }[];
  nextPageToken: string;
}

/** How many due agents one presence sweep reads at a time. */
const SWEEP_BATCH = 500;

/** Every node sweeps at least this often, whatever moments it knows of. */
const PRESENCE_BACKSTOP_MS = 30_000;

/**
 * Registration, presence and discovery. Presence is derived from lastSeen and the tenant's presence
 * timeout whenever an agent is read. The moment an agent goes OFFLINE is stored with it
 * (AgentRecord.offlineAt, moved by every registration, heartbeat and live stream): one timer, at
 * the earliest stored moment this node knows, announces the due ones in the agents event stream
 * (RegistryStore.listOfflineDue, then markOffline, which lets one node announce each), so any
 * node, or this one after a restart, does it; every node also sweeps at least every 30 s, for
 * moments stored by a node that died before announcing them, and 30 s after a sweep that failed.
 */
export class Registry {
  private sweepTimer: { timer: Timer; at: number } | undefined;
  private closed = false;
  private readonly unregisteredListeners: ((tenantId: string, agentId: string) => Promise<void>)[] =
    [];

  constructor(private readonly hub: HubContext) {}

  statusOf(agent: AgentRecord, tenant: TenantRecord): AgentStatus {
    return this.hub.clock.now() - agent.lastSeen < tenant.settings.presenceTimeoutMs
      ? AgentStatus.ONLINE
      : AgentStatus.OFFLINE;
  }

  private checkSelf(identity: Identity, agentId: string): void {
    if (identity.agentId !== agentId && !isAdmin(identity)) {
      throw hubError(
        Code.PermissionDenied,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `credential of agent "${identity.agentId}" cannot act for agent "${agentId}"`,
      );
    }
  }

  async register(
    identity: Identity,
    input: RegisterInput,
  ): Promise<{ agent: AgentRecord; tenant: TenantRecord }> {
    this.checkSelf(identity, input.agentId);
    checkPublicKeys(input.publicKeys);
    checkGroupsGranted(identity, input.groups);
    const { registry } = this.hub.backend;
    const tenant = await this.hub.tenant(identity.tenantId);
    const now = this.hub.clock.now();
    const existing = await registry.get(identity.tenantId, input.agentId);
    if (existing && !input.takeOver && this.statusOf(existing, tenant) === AgentStatus.ONLINE) {
      throw hubError(
        Code.AlreadyExists,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `agent "${input.agentId}" is already registered and online in tenant "${identity.tenantId}"; set take_over to replace its session`,
        { reason: "AGENT_ONLINE", metadata: { session_id: existing.sessionId } },
      );
    }
    if (!existing && tenant.quotas.maxAgents > 0) {
      const count = await registry.count(identity.tenantId);
      if (count >= tenant.quotas.maxAgents) {
        throw hubError(
          Code.ResourceExhausted,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `tenant "${identity.tenantId}" already has its maximum of ${tenant.quotas.maxAgents} agents`,
          { retryAfterMs: 60_000, limit: "tenant.max_agents" },
        );
      }
    }
    const agent: AgentRecord = {
      tenantId: identity.tenantId,
      id: input.agentId,
      type: input.type,
      location: input.location,
      capabilities: input.capabilities,
      metadata: input.metadata,
      groups: input.groups,
      createdAt: existing?.createdAt ?? now,
      lastSeen: now,
      offlineAt: now + tenant.settings.presenceTimeoutMs,
      // Stryker disable next-line StringLiteral: session ids are opaque to clients, which only pass them back; the prefix is for people reading logs
      sessionId: newId("ses_", now),
      ...(input.publicKeys.length > 0 && { publicKeys: input.publicKeys }),
    };
    await registry.put(agent, this.event(agent, AgentEventKind.REGISTERED, AgentStatus.ONLINE));
    await this.hub.audit({
      identity,
      action: "agent.register",
      target: `agent/${agent.id}`,
      outcome: "success",
      details: { session: agent.sessionId, ...(existing && { replaced: existing.sessionId }) },
    });
    this.scheduleSweep(agent.offlineAt);
    return { agent, tenant };
  }

  async heartbeat(identity: Identity, agentId: string, sessionId: string): Promise<TenantRecord> {
    this.checkSelf(identity, agentId);
    const tenant = await this.hub.tenant(identity.tenantId);
    const before = await this.hub.backend.registry.get(identity.tenantId, agentId);
    // Stryker disable next-line StringLiteral: an error text; the protocol fixes codes, not message texts
    if (!before) throw notFound("agent", agentId);
    if (sessionId !== "" && before.sessionId !== sessionId) {
      throw hubError(
        Code.FailedPrecondition,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `session "${sessionId}" of agent "${agentId}" was replaced by a newer registration; register again`,
        { reason: "SESSION_REPLACED" },
      );
    }
    const agent = await this.hub.backend.registry.touch(
      identity.tenantId,
      agentId,
      this.hub.clock.now(),
      this.cameOnline(tenant),
      tenant.settings.presenceTimeoutMs,
    );
    // Stryker disable next-line StringLiteral: an error text; the protocol fixes codes, not message texts
    if (!agent) throw notFound("agent", agentId);
    this.scheduleSweep(agent.offlineAt);
    return tenant;
  }

  async unregister(identity: Identity, agentId: string): Promise<void> {
    this.checkSelf(identity, agentId);
    const tenant = await this.hub.tenant(identity.tenantId);
    // The agent's queues, dead letters and topic subscriptions go in the same step.
    const removed = await this.hub.backend.registry.delete(identity.tenantId, agentId, (r) =>
      this.event(r, AgentEventKind.UNREGISTERED, this.statusOf(r, tenant)),
    );
    // Stryker disable next-line StringLiteral: an error text; the protocol fixes codes, not message texts
    if (!removed) throw notFound("agent", agentId);
    await this.hub.audit({
      identity,
      action: "agent.unregister",
      target: `agent/${agentId}`,
      outcome: "success",
    });
    for (const listener of this.unregisteredListeners) await listener(identity.tenantId, agentId);
  }

  /** Runs `listener` after an agent is unregistered (to end its streams). */
  onUnregistered(listener: (tenantId: string, agentId: string) => Promise<void>): void {
    this.unregisteredListeners.push(listener);
  }

  /**
   * Marks a registered agent as seen now because it holds a live stream (a heartbeat without a
   * session check); emits ONLINE when it had gone offline.
   */
  async touchLive(tenantId: string, agentId: string): Promise<void> {
    const tenant = await this.hub.findTenant(tenantId);
    if (!tenant) return;
    const agent = await this.hub.backend.registry.touch(
      tenantId,
      agentId,
      this.hub.clock.now(),
      this.cameOnline(tenant),
      tenant.settings.presenceTimeoutMs,
    );
    if (!agent) return;
    this.scheduleSweep(agent.offlineAt);
  }

  async get(
    identity: Identity,
    agentId: string,
  ): Promise<{ agent: AgentRecord; status: AgentStatus }> {
    const tenant = await this.hub.tenant(identity.tenantId);
    const agent = await this.hub.backend.registry.get(identity.tenantId, agentId);
    // Stryker disable next-line StringLiteral: an error text; the protocol fixes codes, not message texts
    if (!agent) throw notFound("agent", agentId);
    return { agent, status: this.statusOf(agent, tenant) };
  }

  /** Lists or discovers agents; `status` UNSPECIFIED matches every status. */
  async list(
    identity: Identity,
    query: AgentQuery,
    status: AgentStatus,
    size: number,
    token: string,
  ): Promise<AgentPage> {
    const tenant = await this.hub.tenant(identity.tenantId);
    const onlineSince = this.hub.clock.now() - tenant.settings.presenceTimeoutMs;
    const q: AgentQuery = { ...query };
    if (status === AgentStatus.ONLINE) q.seenSince = onlineSince + 1;
    if (status === AgentStatus.OFFLINE) q.seenBefore = onlineSince + 1;
    if (status === AgentStatus.UNKNOWN) return { agents: [], nextPageToken: "" };
    const limit = pageSize(size);
    const found = await this.hub.backend.registry.list(
      identity.tenantId,
      q,
      decodePageToken(token),
      limit + 1,
    );
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    return {
      agents: page.map((agent) => ({ agent, status: this.statusOf(agent, tenant) })),
      nextPageToken: found.length > limit && last ? encodePageToken(last.id) : "",
    };
  }

  /** Announces the offline moments that passed while no node watched, and arms the timer. */
  async resume(): Promise<void> {
    await this.sweep();
  }

  /** Stops the presence timer (hub shutdown). */
  // Stryker disable all: hub shutdown; nothing is served after it
  close(): void {
    this.closed = true;
    this.sweepTimer?.timer.cancel();
    this.sweepTimer = undefined;
  }
  // Stryker restore all

  /** The change event of a registry write (stored by the write itself, in the same step). */
  private event(agent: AgentRecord, kind: AgentEventKind, status: AgentStatus): Uint8Array {
    return encodeAgentChange({ kind, agent, status, time: this.hub.clock.now() });
  }

  /** For touch: an ONLINE event when the agent had been OFFLINE before this touch. */
  private cameOnline(tenant: TenantRecord) {
    return (before: AgentRecord, after: AgentRecord) =>
      this.statusOf(before, tenant) === AgentStatus.ONLINE
        ? undefined
        : this.event(after, AgentEventKind.STATUS_CHANGED, AgentStatus.ONLINE);
  }

  /** Announces every stored offline moment that is due, then arms the timer for the earliest left. */
  private async sweep(): Promise<void> {
    const store = this.hub.backend.registry;
    for (;;) {
      const due = await store.listOfflineDue(this.hub.clock.now(), SWEEP_BATCH);
      for (const agent of due) {
        // Stryker disable next-line ConditionalExpression: listOfflineDue returns only agents with an offline moment
        if (agent.offlineAt === undefined) continue;
        const event = this.event(agent, AgentEventKind.STATUS_CHANGED, AgentStatus.OFFLINE);
        await store.markOffline(agent.tenantId, agent.id, agent.offlineAt, event);
      }
      if (due.length < SWEEP_BATCH) break;
    }
    const [next] = await store.listOfflineDue(Number.MAX_SAFE_INTEGER, 1);
    // Also again after the backstop interval: the node that armed a moment stored since (on its
    // own registration or heartbeat) may be gone.
    const backstop = this.hub.clock.now() + PRESENCE_BACKSTOP_MS;
    this.scheduleSweep(Math.min(next?.offlineAt ?? backstop, backstop));
  }

  /** Keeps one timer armed for the earliest offline moment this node knows of. */
  private scheduleSweep(at: number | undefined): void {
    // Stryker disable next-line LogicalOperator: every caller passes a moment, and `closed` is set only at hub shutdown, after which nothing is served: `&&` answers as `||` does
    if (at === undefined || this.closed) return;
    if (this.sweepTimer && this.sweepTimer.at <= at) return;
    this.sweepTimer?.timer.cancel();
    const timer = this.hub.clock.setTimer(Math.max(0, at - this.hub.clock.now()), () => {
      this.sweepTimer = undefined;
      // Stryker disable next-line ArrowFunction,BlockStatement: a sweep fails only when its store does, which no call over the wire can make happen
      this.sweep().catch((err: unknown) => {
        // Stryker disable next-line all: a log line
        this.hub.logger.log("error", "presence sweep failed", { err });
        // Again after the backstop interval: a store that was away (Redis, PostgreSQL) may be
        // back, and no registration or heartbeat may come to arm the timer.
        // Stryker disable next-line all: as above, a failed sweep only
        this.scheduleSweep(this.hub.clock.now() + PRESENCE_BACKSTOP_MS);
      });
    });
    this.sweepTimer = { timer, at };
  }
}

/** Serialised public-key length per RFC 9180 KEM id. */
const publicKeyLength: Record<number, number> = { 16: 65, 32: 32 };

/** Distinct key ids, and a public key of the length its KEM serialises to. */
function checkPublicKeys(keys: AgentPublicKeyRecord[]): void {
  const seen = new Set<string>();
  keys.forEach((key, i) => {
    if (seen.has(key.keyId)) {
      throw hubError(
        Code.InvalidArgument,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `public_keys[${i}].key_id: "${key.keyId}" appears more than once`,
      );
    }
    seen.add(key.keyId);
    const length = Buffer.from(key.publicKey, "base64url").length;
    if (length !== publicKeyLength[key.kemId]) {
      throw hubError(
        Code.InvalidArgument,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `public_keys[${i}].public_key: ${length} bytes, KEM ${key.kemId} keys are ${publicKeyLength[key.kemId]} bytes`,
      );
    }
  });
}

/**
 * Registering cannot join a group: the groups an agent shows must be ones its credential grants
 * (admins, who issue credentials, may register any).
 */
function checkGroupsGranted(identity: Identity, groups: readonly string[]): void {
  if (isAdmin(identity)) return;
  // Stryker disable next-line ArrayDeclaration: every identity the hub makes (tokens, API keys) has its list of groups
  const granted = new Set(identity.groups ?? []);
  const ungranted = groups.filter((g) => !granted.has(g));
  if (ungranted.length > 0) {
    throw hubError(
      Code.PermissionDenied,
      // Stryker disable next-line all: an error message; the protocol fixes codes, not message texts
      `agent "${identity.agentId}" may not register groups its credential does not grant: ${ungranted.map((g) => `"${g}"`).join(", ")} (groups are granted by IssueToken or CreateApiKey)`,
    );
  }
}
