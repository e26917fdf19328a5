import {
  type RegistryService,
  WatchAgentsResponse_Kind,
  WatchAgentsResponseSchema,
} from "@acb/gen/acb/v1/registry_pb";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { encodeCursor } from "../domain/cursor.js";
import { followEvents, tenantStillCurrent } from "../domain/event-stream.js";
import { type AgentChange, decodeAgentChange, type Registry } from "../domain/registry.js";
import type { HubContext } from "../hub-context.js";
import { agentToProto, callerOf, ts } from "./convert.js";

export function createRegistryHandler(
  hub: HubContext,
  registry: Registry,
): ServiceImpl<typeof RegistryService> {
  return {
    async register(req, ctx) {
      const { agent, tenant } = await registry.register(callerOf(ctx), {
        agentId: req.agentId,
        type: req.type,
        location: req.location,
        capabilities: req.capabilities,
        metadata: req.metadata,
        groups: req.groups,
        takeOver: req.takeOver,
        publicKeys: req.publicKeys.map((k) => ({
          keyId: k.keyId,
          kemId: k.kemId,
          publicKey: Buffer.from(k.publicKey).toString("base64url"),
        })),
      });
      return {
        agent: agentToProto(agent, registry.statusOf(agent, tenant)),
        heartbeatInterval: durationFromMs(tenant.settings.heartbeatIntervalMs),
        presenceTimeout: durationFromMs(tenant.settings.presenceTimeoutMs),
      };
    },
    async heartbeat(req, ctx) {
      const tenant = await registry.heartbeat(callerOf(ctx), req.agentId, req.sessionId);
      return { status: 1, heartbeatInterval: durationFromMs(tenant.settings.heartbeatIntervalMs) };
    },
    async unregister(req, ctx) {
      await registry.unregister(callerOf(ctx), req.agentId);
      return {};
    },
    async getAgent(req, ctx) {
      const { agent, status } = await registry.get(callerOf(ctx), req.agentId);
      return { agent: agentToProto(agent, status) };
    },
    async listAgents(req, ctx) {
      const page = await registry.list(callerOf(ctx), {}, req.status, req.pageSize, req.pageToken);
      return {
        agents: page.agents.map(({ agent, status }) => agentToProto(agent, status)),
        nextPageToken: page.nextPageToken,
      };
    },
    async discover(req, ctx) {
      const page = await registry.list(
        callerOf(ctx),
        {
          ...(req.capabilities.length > 0 && { capabilities: req.capabilities }),
          ...(req.type !== "" && { type: req.type }),
          ...(req.location !== "" && { location: req.location }),
          ...(Object.keys(req.metadata).length > 0 && { metadata: req.metadata }),
        },
        req.status,
        req.pageSize,
        req.pageToken,
      );
      return {
        agents: page.agents.map(({ agent, status }) => agentToProto(agent, status)),
        nextPageToken: page.nextPageToken,
      };
    },
    async *watchAgents(req, ctx) {
      const caller = callerOf(ctx);
      const events = followEvents<AgentChange>(
        hub.backend.events,
        caller.tenantId,
        "agents",
        req.cursor,
        hub.epoch,
        ctx.signal,
        decodeAgentChange,
        tenantStillCurrent(hub, caller),
      );
      for await (const item of events) {
        const cursor = encodeCursor(hub.epoch, item.seq);
        if (item.kind === "ready") {
          yield create(WatchAgentsResponseSchema, { kind: WatchAgentsResponse_Kind.READY, cursor });
          continue;
        }
        const { kind, agent, status, time } = item.event;
        yield create(WatchAgentsResponseSchema, {
          kind,
          agent: agentToProto(agent, status),
          cursor,
          time: ts(time),
        });
      }
    },
  };
}
