import type { Notifier, RegistryStore } from "../storage/types.js";
import { AGENTS_GONE_CHANNEL, TENANTS_CHANNEL } from "./channels.js";

/** How long a node trusts that an agent it found registered still is, unless told sooner. */
export const KNOWN_AGENT_TTL_MS = 1_000;
const MAX_ENTRIES = 100_000;

/**
 * The agents this node found registered, for the recipient check of each send (one registry read
 * per message otherwise). An unregistered agent is announced on the Notifier
 * ({@link KnownAgents.gone}) and every node forgets it when it hears so; a deleted tenant's agents
 * are forgotten with its tenant announcement; an entry is also kept at most `ttlMs`, which bounds
 * it if an announcement is lost. Agents not found are never remembered.
 *
 * An entry in the last quarter of its life answers at once and is read again beside the send
 * (refresh ahead): an agent that keeps getting messages is read once per ¾ `ttlMs` or so, and no
 * send to it waits for that read. Without it, every message that found its recipient's entry
 * expired waited a registry read: at 1,000 messages a second to 50 agents, one in twenty.
 */
export class KnownAgents {
  private readonly tenants = new Map<string, Map<string, number>>();
  private size = 0;
  /** Registry reads under way, shared by the sends that need the same agent meanwhile. */
  private readonly reading = new Map<string, { generation: number; read: Promise<boolean> }>();
  /** Bumped by every change heard: a read that began before one is not kept. */
  private generation = 0;
  private readonly unsubscribes: (() => void)[] = [];

  constructor(
    private readonly registry: Pick<RegistryStore, "get">,
    private readonly notifier: Notifier,
    private readonly ttlMs = KNOWN_AGENT_TTL_MS,
  ) {}

  /** Starts hearing of agents unregistered and tenants changed through any node. */
  async start(): Promise<void> {
    this.unsubscribes.push(
      // Stryker disable all: on one node gone() has dropped the agent before it announces it (the announcement is for the other nodes), and gone() writes no payload the catch would meet
      await this.notifier.subscribe(AGENTS_GONE_CHANNEL, (payload) => {
        try {
          const [tenantId, agentId] = JSON.parse(payload) as [string, string];
          this.drop(tenantId, agentId);
        } catch {
          this.drop(""); // not ours to read (a wake-up after a lost connection): forget all
        }
      }),
      // Stryker restore all
      await this.notifier.subscribe(TENANTS_CHANNEL, (tenantId) => this.drop(tenantId)),
    );
  }

  // Stryker disable all: hub shutdown; nothing is served after it
  stop(): void {
    for (const u of this.unsubscribes.splice(0)) u();
    this.drop("");
  }
  // Stryker restore all

  /** Whether the agent is registered, from this node's knowledge when it is fresh enough. */
  async exists(tenantId: string, agentId: string): Promise<boolean> {
    const now = performance.now();
    const until = this.tenants.get(tenantId)?.get(agentId);
    // Stryker disable next-line EqualityOperator,LogicalOperator: a present entry answers what a registry read would (on one node an Unregister or DeleteTenant drops it first; the TTL bounds lost announcements between nodes)
    if (until !== undefined && until > now) {
      // Stryker disable next-line all: refreshing ahead only saves a send the wait for a registry read
      if (until - now < this.ttlMs / 4) this.refresh(tenantId, agentId, now);
      return true;
    }
    return this.read(tenantId, agentId, now);
  }

  /**
   * Reads the agent again beside the send that found its entry aging (shared with a read under
   * way; an error leaves the entry to age).
   */
  // Stryker disable all: refreshing ahead only saves a send the wait for a registry read
  private refresh(tenantId: string, agentId: string, now: number): void {
    this.read(tenantId, agentId, now).catch(() => undefined);
  }
  // Stryker restore all

  /** Reads the agent in the registry and remembers it when found and nothing changed meanwhile. */
  private async read(tenantId: string, agentId: string, now: number): Promise<boolean> {
    // Sends that miss together share one read, unless a change was heard since it began.
    const key = `${tenantId}\u0000${agentId}`;
    const pending = this.reading.get(key);
    if (pending && pending.generation === this.generation) return pending.read;
    const generation = this.generation;
    const read = this.registry.get(tenantId, agentId).then((r) => r !== undefined);
    // Stryker disable next-line ObjectLiteral: an entry that matches no generation is never shared: one registry read more
    this.reading.set(key, { generation, read });
    let found: boolean;
    try {
      found = await read;
    } finally {
      if (this.reading.get(key)?.read === read) this.reading.delete(key);
    }
    if (found && generation === this.generation) {
      // Stryker disable next-line all: the bound only caps memory; a dropped entry is read again
      if (this.size >= MAX_ENTRIES) this.drop("");
      let agents = this.tenants.get(tenantId);
      if (!agents) {
        agents = new Map();
        // Stryker disable next-line all: an entry not kept is read again from the registry
        this.tenants.set(tenantId, agents);
      }
      // Stryker disable next-line all: the count only feeds the MAX_ENTRIES bound
      if (!agents.has(agentId)) this.size++;
      // Stryker disable next-line all: an entry born expired is read again from the registry
      agents.set(agentId, now + this.ttlMs);
    } else if (
      // Stryker disable next-line ConditionalExpression,LogicalOperator,BooleanLiteral: on one node the entry of an agent not found was dropped by its Unregister or DeleteTenant already; dropping it here or more often only costs reads
      !found &&
      this.tenants.get(tenantId)?.delete(agentId)
    ) {
      // Stryker disable next-line all: the count only feeds the MAX_ENTRIES bound
      this.size--; // a refresh found it gone (an announcement that never came)
    }
    return found;
  }

  /** Forgets the agent here at once and tells every node to (after it was unregistered). */
  async gone(tenantId: string, agentId: string): Promise<void> {
    // Stryker disable next-line all: on one node the announcement below drops the agent here as well
    this.drop(tenantId, agentId);
    await this.notifier
      .publish(
        AGENTS_GONE_CHANNEL,
        // Stryker disable next-line all: the agent is dropped on this node already; the payload is for the other nodes
        JSON.stringify([tenantId, agentId]),
      )
      .catch(() => undefined);
  }

  /** Forgets one agent, every agent of a tenant (no agent), or everything (no tenant). */
  private drop(tenantId: string, agentId?: string): void {
    // Stryker disable all: a new generation only stops keeping reads begun before the change (a race); forgetting everything ("") happens only at shutdown, on an unreadable announcement and at MAX_ENTRIES
    this.generation++;
    if (tenantId === "") {
      this.tenants.clear();
      this.size = 0;
      return;
    }
    // Stryker restore all
    const agents = this.tenants.get(tenantId);
    if (!agents) return;
    if (agentId === undefined) {
      // Stryker disable next-line all: the count only feeds the MAX_ENTRIES bound
      this.size -= agents.size;
      this.tenants.delete(tenantId);
    } else if (agents.delete(agentId)) {
      // Stryker disable next-line all: the count only feeds the MAX_ENTRIES bound
      this.size--;
    }
  }
}
