import type { Message } from "@bufbuild/protobuf";
import { createContextKey } from "@connectrpc/connect";

/**
 * Hands a streaming handler's keepalive to the transport: `everyMs` after the stream last wrote
 * anything (and again every `everyMs` while it stays silent), the transport writes `message`.
 */
export type IdleKeepalive = (everyMs: number, message: Message) => void;

/**
 * Set by a transport that writes keepalives itself (the direct stream path,
 * server/direct-streams.ts) before it calls the handler. A handler that finds it hands its
 * keepalive over and sends none of its own, so an idle stream is not woken through every layer
 * between the handler and the socket for each one (each wake-up leaves new waits behind, which
 * live long enough to be promoted by the collector). Unset on the protocol library's path, where
 * the handler sends its keepalives itself.
 */
export const idleKeepaliveKey = createContextKey<IdleKeepalive | undefined>(undefined, {
  description: "the transport's idle keepalive",
});
