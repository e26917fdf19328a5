// The Notifier channels the hub publishes on (storage/types.ts Notifier). A notification only
// says "look again": readers re-read the store, and still poll on a bounded interval.

/** New deliveries (or freed flow-control slots) for an agent's Receive stream. */
// Stryker disable next-line all: one channel for every inbox only wakes more streams, each of which re-reads its own queue
export const inboxChannel = (tenantId: string, agentId: string) => `inbox:${tenantId}:${agentId}`;

/**
 * An agent's live Receive stream: payload "stream:<id>" when a new stream opened (older ones, on
 * any node, end), "unregistered" when the agent was unregistered.
 */
export const receiverChannel = (tenantId: string, agentId: string) =>
  `receiver:${tenantId}:${agentId}`;

// Stryker disable all: one channel for every Request (or conversation) only wakes more waiting Requests, each of which re-reads its own reply and conversation; the two names below are shared by their one publisher and their subscribers
/** A reply was stored for the waiting Request call `requestId`. */
export const requestChannel = (tenantId: string, requestId: string) =>
  `request:${tenantId}:${requestId}`;

/** A conversation ended (closed or timed out). */
export const conversationChannel = (tenantId: string, conversationId: string) =>
  `conversation:${tenantId}:${conversationId}`;

/** A tenant record changed or was deleted: payload its id ("" for every tenant). */
export const TENANTS_CHANNEL = "tenants";

/** An agent was unregistered: payload JSON [tenantId, agentId]. */
export const AGENTS_GONE_CHANNEL = "agents-gone";
// Stryker restore all
