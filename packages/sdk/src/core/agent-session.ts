import type { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { type Client, Code } from "@connectrpc/connect";
import { AcbError, acbError } from "./acb-error.js";
import { backoffDelay, wait } from "./backoff.js";
import { type CallOptions, callOptions } from "./call-options.js";
import type { AgentPublicKeyInfo } from "./e2e/keys.js";
import { type AgentInfo, agentInfo } from "./records.js";

/** What an agent announces when it registers. */
export interface RegisterOptions {
  /** The agent's id; must match the credential's subject. Default: the credential's subject. */
  id?: string;
  /** The kind of agent, e.g. "ml" or "rpa". */
  type: string;
  /** Physical or logical location. Default "". */
  location?: string;
  /** What the agent can do; discovery matches on these. Default []. */
  capabilities?: string[];
  /** Free-form labels. Default {}. */
  metadata?: Record<string, string>;
  /**
   * Groups to show in the registry. Membership (GROUP-scoped contexts) is granted by the
   * credential (IssueToken, CreateApiKey); naming a group it does not grant is PERMISSION_DENIED.
   * Default [].
   */
  groups?: string[];
  /**
   * End-to-end encryption public keys to publish, current first. Default: the client's keys
   * (AcbClientOptions.e2e.keys); [] publishes none.
   */
  publicKeys?: AgentPublicKeyInfo[];
  /**
   * Replace a registration of the same id that is still online. Default false, except when this
   * client registered the id before: its own earlier session is replaced.
   */
  takeOver?: boolean;
  /** Send heartbeats automatically at the interval the hub asks for. Default true. */
  heartbeat?: boolean;
  /**
   * Register again, by itself, when the hub forgot the agent (a new hub epoch, or a heartbeat
   * answered NOT_FOUND), and hold the client's delivery streams until it has. Default true; with
   * false, the session stops its heartbeats and reports the loss to `onError` instead.
   */
  reregister?: boolean;
  /** Called after each automatic re-registration, with the agent as the hub registered it again. */
  onReregistered?: (agent: AgentInfo) => void;
  /**
   * Called when a heartbeat or re-registration fails (the session keeps trying, except after
   * SESSION_REPLACED: another registration of the agent took over, and heartbeats stop).
   */
  onError?: (error: unknown) => void;
}

/** A registered agent that keeps itself online. */
export interface AgentSession {
  /** The agent as the hub (last) registered it. */
  readonly agent: AgentInfo;
  readonly sessionId: string;
  /** Heartbeats sent successfully so far. */
  readonly heartbeats: number;
  /** Whether this session still heartbeats and re-registers (false once stopped or replaced). */
  readonly active: boolean;
  /** Stops the automatic heartbeats (the agent goes OFFLINE after the presence timeout). */
  stopHeartbeats(): void;
  /** Stops heartbeats and removes the agent from the registry. */
  unregister(): Promise<void>;
}

/** What a session needs from its client. */
export interface SessionHooks {
  /** Aborted when the client closes: the session stops. */
  signal: AbortSignal;
  /** Waits until a refusal can be retried (new credentials); false when it cannot. */
  retryAfter(error: unknown): Promise<boolean>;
  /** Re-registration handlers of the client's sessions (the client runs them on a new epoch). */
  reregistrations: Set<() => Promise<void>>;
  /** Tells the client a session registered again (streams waiting for it resume). */
  registered(): void;
}

export async function registerAgent(
  registry: Client<typeof RegistryService>,
  agentId: string,
  options: RegisterOptions & CallOptions,
  hooks: SessionHooks,
): Promise<AgentSession> {
  const request = {
    agentId,
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
  if (!res.agent) throw acbError(Code.Internal, "hub answered Register without an agent");
  let agent = agentInfo(res.agent);
  let sessionId = res.agent.sessionId;
  let intervalMs = durationMs(res.heartbeatInterval) ?? 10_000;
  let heartbeats = 0;
  const stop = new AbortController();
  const stopOnClose = () => stop.abort();
  hooks.signal.addEventListener("abort", stopOnClose, { once: true });
  stop.signal.addEventListener("abort", () => {
    hooks.signal.removeEventListener("abort", stopOnClose);
    hooks.reregistrations.delete(reregister);
  });
  const report = (err: unknown) => options.onError?.(AcbError.from(err));

  // One re-registration at a time: a new epoch and a heartbeat's NOT_FOUND often come together.
  let again: Promise<void> | undefined;
  function reregister(): Promise<void> {
    again ??= (async () => {
      for (let attempt = 0; !stop.signal.aborted; attempt++) {
        try {
          const r = await registry.register(
            { ...request, takeOver: true },
            { signal: stop.signal },
          );
          if (!r.agent) throw acbError(Code.Internal, "hub answered Register without an agent");
          agent = agentInfo(r.agent);
          sessionId = r.agent.sessionId;
          intervalMs = durationMs(r.heartbeatInterval) ?? intervalMs;
          hooks.registered();
          options.onReregistered?.(agent);
          return;
        } catch (err) {
          if (stop.signal.aborted) return;
          if (AcbError.from(err).code === Code.Unauthenticated) {
            if (!(await hooks.retryAfter(err))) return;
          } else {
            report(err);
            await wait(backoffDelay(attempt, { maxDelayMs: intervalMs }), stop.signal);
          }
        }
      }
    })().finally(() => {
      again = undefined;
    });
    return again;
  }
  if (options.reregister ?? true) hooks.reregistrations.add(reregister);

  async function beat(): Promise<void> {
    let failures = 0;
    while (!stop.signal.aborted) {
      await wait(
        failures === 0 ? intervalMs : Math.min(intervalMs, backoffDelay(failures)),
        stop.signal,
      );
      if (stop.signal.aborted) return;
      try {
        await again;
        const hb = await registry.heartbeat({ agentId, sessionId }, { signal: stop.signal });
        intervalMs = durationMs(hb.heartbeatInterval) ?? intervalMs;
        heartbeats++;
        failures = 0;
      } catch (err) {
        if (stop.signal.aborted) return;
        const e = AcbError.from(err);
        if (e.code === Code.Unauthenticated) {
          // The client reports it once ("unauthenticated"); wait for credentials, then go on.
          if (!(await hooks.retryAfter(e))) return;
        } else if (e.code === Code.NotFound && (options.reregister ?? true)) {
          // The hub forgot us (it restarted without state): register again under a new session.
          await reregister();
        } else if (e.code === Code.NotFound || e.reason === "SESSION_REPLACED") {
          // Nothing this session can cure by retrying: say so once and stop.
          report(e);
          stop.abort();
        } else {
          failures++;
          report(e);
        }
      }
    }
  }
  if (options.heartbeat ?? true) {
    beat().catch(report);
  }
  return {
    get agent() {
      return agent;
    },
    get sessionId() {
      return sessionId;
    },
    get heartbeats() {
      return heartbeats;
    },
    get active() {
      return !stop.signal.aborted;
    },
    stopHeartbeats() {
      stop.abort();
    },
    async unregister() {
      stop.abort();
      await registry.unregister({ agentId });
    },
  };
}

function durationMs(d: { seconds: bigint; nanos: number } | undefined): number | undefined {
  return d === undefined ? undefined : Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}
