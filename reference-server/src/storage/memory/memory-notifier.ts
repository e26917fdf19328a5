import type { Notifier } from "../types.js";

/**
 * Wake-ups within one process: the memory backend serves one hub process, so every writer and
 * every reader are here. Listeners run synchronously inside publish and must not throw.
 */
export function createMemoryNotifier(): Notifier {
  const channels = new Map<string, Set<(payload: string) => void>>();
  return {
    // Stryker disable next-line BooleanLiteral: an unreliable notifier only makes idle streams also re-read their queues every notificationPollMs, a cost
    reliable: true,
    // Stryker disable next-line StringLiteral: every publish without a payload is a plain wake-up whose listeners ignore it (inbox, request and conversation channels)
    async publish(channel, payload = "") {
      const listeners = channels.get(channel);
      if (!listeners) return;
      for (const l of [...listeners]) l(payload);
    },
    async subscribe(channel, listener) {
      let listeners = channels.get(channel);
      if (!listeners) {
        listeners = new Set();
        channels.set(channel, listeners);
      }
      // A wrapper, so the same function subscribed twice is two subscriptions.
      const entry = (payload: string) => listener(payload);
      listeners.add(entry);
      // Stryker disable next-line BlockStatement: a listener left behind belongs to a stream or a call that ended, and a wake-up only marks its own finished state (a leak, not a behaviour)
      return () => {
        // Stryker disable next-line CallExpression: as above
        listeners.delete(entry);
        // Stryker disable next-line CallExpression: an empty set left in the map is memory only
        if (listeners.size === 0 && channels.get(channel) === listeners) channels.delete(channel);
      };
    },
  };
}
