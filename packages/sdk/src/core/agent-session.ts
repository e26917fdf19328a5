import type { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { backoffDelay, wait } from "./backoff.js";
import { type CallOptions, callOptions } from "./call-options.js";
import type { AgentPublicKeyInfo } from "./e2e/keys.js";
import { type AgentInfo, agentInfo } from "./records.js";

/** What an agent announces when it registers. */
export interface RegisterOptions {
  /** The agent's id; must match the credential's subject. */
  id: string;
  /** The kind of agent, e.g. "ml" or "rpa". */
  type: string;
  /** Physical or logical location. Default "". */
  location?: string;
  /** What the agent can do; discovery matches on these. Default []. */
  capabilities?: string[];
  /** Free-form labels. Default {}. */
  metadata?: Record<string, string>;
  /** Groups the agent belongs to (GROUP-scoped contexts). Default []. */
  groups?: string[];
  /**
   * End-to-end encryption public keys to publish, current first. Default: the client's keys
   * (AcbClientOptions.e2e.keys); [] publishes none.
   */
  publicKeys?: AgentPublicKeyInfo[];
  /** Replace a registration of the same id that is still online. Default false. */
  takeOver?: boolean;
  /** Send heartbeats automatically at the interval the hub asks for. Default true. */
  heartbeat?: boolean;
  /** Called when a heartbeat fails (the session keeps trying). */
  onError?: (error: unknown) => void;
}

/** A registered agent that keeps itself online. */
export interface AgentSession {
  /** The agent as the hub registered it. */
  readonly agent: AgentInfo;
  readonly sessionId: string;
  /** Heartbeats sent successfully so far. */
  readonly heartbeats: number;
  /** Stops the automatic heartbeats (the agent goes OFFLINE after the presence timeout). */
  stopHeartbeats(): void;
  /** Stops heartbeats and removes the agent from the registry. */
  unregister(): Promise<void>;
}

export async function registerAgent(
  registry: Client<typeof RegistryService>,
  options: RegisterOptions & CallOptions,
): Promise<AgentSession> {
  const request = {
    agentId: options.id,
    type: options.type,
    location: options.location ?? "",
    capabilities: options.capabilities ?? [],
    metadata: options.metadata ?? {},
    groups: options.groups ?? [],
    publicKeys: options.publicKeys ?? [],
  };
  const res = await registry.register(
    { ...request, takeOver: options.takeOver ?? false },
    callOptions(options),
  );
  if (!res.agent) throw new ConnectError("hub answered Register without an agent", Code.Internal);
  let sessionId = res.agent.sessionId;
  let intervalMs = durationMs(res.heartbeatInterval) ?? 10_000;
  let heartbeats = 0;
  const stop = new AbortController();

  async function beat(): Promise<void> {
    let failures = 0;
    while (!stop.signal.aborted) {
      await wait(
        failures === 0 ? intervalMs : Math.min(intervalMs, backoffDelay(failures)),
        stop.signal,
      );
      if (stop.signal.aborted) return;
      try {
        const hb = await registry.heartbeat(
          { agentId: options.id, sessionId },
          { signal: stop.signal },
        );
        intervalMs = durationMs(hb.heartbeatInterval) ?? intervalMs;
        heartbeats++;
        failures = 0;
      } catch (err) {
        if (stop.signal.aborted) return;
        failures++;
        const code = ConnectError.from(err).code;
        // The hub forgot us (it restarted without state): register again under a new session.
        if (code === Code.NotFound) {
          try {
            const again = await registry.register({ ...request, takeOver: true });
            sessionId = again.agent?.sessionId ?? sessionId;
          } catch (regErr) {
            options.onError?.(regErr);
          }
        } else {
          options.onError?.(err);
        }
      }
    }
  }
  if (options.heartbeat ?? true) {
    beat().catch((err: unknown) => options.onError?.(err));
  }
  return {
    agent: agentInfo(res.agent),
    get sessionId() {
      return sessionId;
    },
    get heartbeats() {
      return heartbeats;
    },
    stopHeartbeats() {
      stop.abort();
    },
    async unregister() {
      stop.abort();
      await registry.unregister({ agentId: options.id });
    },
  };
}

function durationMs(d: { seconds: bigint; nanos: number } | undefined): number | undefined {
  return d === undefined ? undefined : Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}
