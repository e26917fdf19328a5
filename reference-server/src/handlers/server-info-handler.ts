import type { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Identity, identityKey, isAdmin } from "../auth/identity.js";
import type { HubContext } from "../hub-context.js";

export const PROTOCOL_VERSION = "acb.v1.0";
export const IMPLEMENTATION = "acb-reference-hub";
export const IMPLEMENTATION_VERSION = "0.1.0";

function nodeIdFor(caller: Identity | undefined, nodeId: string): string {
  return caller && isAdmin(caller) ? nodeId : "";
}

export function createServerInfoHandler(
  hub: HubContext,
  capabilities: readonly string[],
): ServiceImpl<typeof ServerInfoService> {
  return {
    getServerInfo(_req, ctx) {
      const described = {
        protocolVersion: PROTOCOL_VERSION,
        implementation: IMPLEMENTATION,
        implementationVersion: IMPLEMENTATION_VERSION,
        hubEpoch: hub.epoch,
        durable: hub.backend.capabilities.durable,
        capabilities: [...capabilities],
      };
      // Anyone may ask (a client whose credential went stale still needs the epoch); the limits
      // are for callers the hub knows.
      const caller = ctx.values.get(identityKey);
      if (caller === undefined) return described;
      const l = hub.limits;
      return {
        ...described,
        // The node id names a host and a process: for admins only.
        nodeId: nodeIdFor(caller, hub.nodeId),
        limits: {
          maxInlinePayloadBytes: BigInt(l.maxInlinePayloadBytes),
          maxRequestBytes: BigInt(l.maxRequestBytes),
          defaultChunkSizeBytes: BigInt(l.defaultChunkSizeBytes),
          maxObjectBytes: BigInt(l.maxObjectBytes),
          maxConcurrentStreamsPerAgent: l.maxConcurrentStreamsPerAgent,
        },
      };
    },
  };
}
