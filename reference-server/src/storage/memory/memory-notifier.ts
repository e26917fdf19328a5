import type { Notifier } from "../types.js";

/**
 * Wake-ups within one process: the memory backend serves one hub process, so every writer and
 * every reader are here. Listeners run synchronously inside publish and must not throw.
 */
export function createMemoryNotifier(): Notifier {
  const channels = new Map<string, Set<(payload: string) => void>>();
  return {
    reliable: true,
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
      return () => {
        listeners.delete(entry);
        if (listeners.size === 0 && channels.get(channel) === listeners) channels.delete(channel);
      };
    },
  };
}
