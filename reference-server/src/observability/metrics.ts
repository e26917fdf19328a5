import { monitorEventLoopDelay } from "node:perf_hooks";
import { Counter, Gauge, Registry } from "prom-client";
import type { Backend } from "../storage/types.js";
import { CountingHistogram } from "./counting-histogram.js";

/** Options of {@link createHubMetrics}. */
export interface HubMetricsOptions {
  /**
   * Label series by tenant (`tenant_id`). Off by default: with many tenants the series count grows
   * with them, so an operator turns it on knowingly. Default false.
   */
  tenantLabel?: boolean;
  /**
   * Label the per-agent series (`acb_agent_*`) by agent id. Off by default (unbounded
   * cardinality); without it those series count all agents together. Default false.
   */
  agentLabel?: boolean;
}

/** Latency buckets (seconds) from 0.5 ms to 10 s: a bus's sends are fast, deliveries may wait. */
const latencyBuckets = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * The hub's Prometheus metrics (names from seed 000's "Monitoring & Observability"). Labels are
 * bounded: message type, operation, gRPC code, procedure, direction; tenant and agent ids only
 * when configured, message ids never.
 */
export class HubMetrics {
  readonly registry = new Registry();
  private readonly tenantLabel: boolean;
  private readonly agentLabel: boolean;
  private readonly messages: Counter;
  private readonly latency: CountingHistogram;
  private readonly errors: Counter;
  private readonly rpcDuration: CountingHistogram;
  private readonly agentSent: Counter;
  private readonly agentReceived: Counter;
  private readonly bandwidth: Counter;
  /** Live Receive streams per tenant on this node (agent ids are counted, never exported). */
  private readonly receivers = new Map<string, Map<string, number>>();
  private backend: Backend | undefined;
  /** The event loop's delay, sampled every 10 ms; reset at each scrape. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(options: HubMetricsOptions = {}) {
    this.tenantLabel = options.tenantLabel ?? false;
    this.agentLabel = options.agentLabel ?? false;
    const t = this.tenantLabel ? ["tenant_id"] : [];
    const a = this.agentLabel ? ["agent_id"] : [];
    const registers = [this.registry];
    this.messages = new Counter({
      name: "acb_messages_total",
      help: "Messages accepted (durable) by the hub, by message type.",
      labelNames: ["type", ...t],
      registers,
    });
    this.latency = new CountingHistogram(
      "acb_message_latency_seconds",
      'Message latency: "send" from request to durable acknowledgement, "deliver" from acceptance to delivery on a Receive stream.',
      ["operation"],
      latencyBuckets,
      this.registry,
    );
    this.errors = new Counter({
      name: "acb_errors_total",
      help: "RPCs that ended with an error, by Connect code (type) and procedure (operation).",
      labelNames: ["type", "operation"],
      registers,
    });
    this.rpcDuration = new CountingHistogram(
      "acb_rpc_duration_seconds",
      "Duration of unary RPCs by procedure and Connect code (ok for success).",
      ["operation", "code"],
      latencyBuckets,
      this.registry,
    );
    const receivers = this.receivers;
    const tenantLabel = this.tenantLabel;
    new Gauge({
      name: "acb_active_agents",
      help: "Agents with at least one live Receive stream on this node.",
      labelNames: t,
      registers,
      collect() {
        this.reset();
        if (!tenantLabel) {
          let n = 0;
          for (const agents of receivers.values()) n += agents.size;
          this.set(n);
          return;
        }
        for (const [tenant, agents] of receivers) this.set({ tenant_id: tenant }, agents.size);
      },
    });
    const loopDelay = this.loopDelay;
    loopDelay.enable();
    new Gauge({
      name: "acb_event_loop_delay_seconds",
      help: "How late the event loop ran its timers since the previous scrape: stat p50, p99 or max.",
      labelNames: ["stat"],
      registers,
      collect() {
        this.reset();
        // Nanoseconds; no sample yet (a scrape right after the last one) reads as 0.
        const ns = (v: number) => (Number.isFinite(v) && loopDelay.count > 0 ? v / 1e9 : 0);
        this.set({ stat: "p50" }, ns(loopDelay.percentile(50)));
        this.set({ stat: "p99" }, ns(loopDelay.percentile(99)));
        this.set({ stat: "max" }, ns(loopDelay.max));
        loopDelay.reset();
      },
    });
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory of the hub's process.",
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    const self = this;
    new Gauge({
      name: "acb_context_storage_bytes",
      help: "Bytes of context values stored, as metered for storage quotas.",
      labelNames: t,
      registers,
      async collect() {
        this.reset();
        const backend = self.backend;
        if (!backend) return;
        let total = 0;
        let after = "";
        for (;;) {
          const page = await backend.tenants.list(after, 100);
          for (const tenant of page) {
            const bytes = await backend.usage.storageBytes(tenant.id);
            if (tenantLabel) this.set({ tenant_id: tenant.id }, bytes);
            total += bytes;
          }
          if (page.length < 100) break;
          after = page[page.length - 1]?.id ?? "";
        }
        if (!tenantLabel) this.set(total);
      },
    });
    this.agentSent = new Counter({
      name: "acb_agent_messages_sent_total",
      help: "Messages sent by agents (by agent only when agent labels are configured).",
      labelNames: [...a, ...t],
      registers,
    });
    this.agentReceived = new Counter({
      name: "acb_agent_messages_received_total",
      help: "Messages delivered to agents (by agent only when agent labels are configured).",
      labelNames: [...a, ...t],
      registers,
    });
    this.bandwidth = new Counter({
      // The seed's acb_agent_bandwidth_bytes, with the _total suffix Prometheus gives counters.
      name: "acb_agent_bandwidth_bytes_total",
      help: "Message payload bytes sent (out of agents, to the hub: direction=in) and delivered (direction=out).",
      labelNames: ["direction", ...a, ...t],
      registers,
    });
  }

  /** Stops sampling the event loop (the hub closed). */
  close(): void {
    this.loopDelay.disable();
  }

  /** The backend whose stored bytes `acb_context_storage_bytes` reports. */
  attach(backend: Backend): void {
    this.backend = backend;
  }

  private labels(tenantId: string, agentId?: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.tenantLabel) out["tenant_id"] = tenantId;
    if (this.agentLabel && agentId !== undefined) out["agent_id"] = agentId;
    return out;
  }

  /** A unary RPC ended: `code` is "ok" or the Connect code name. */
  rpcEnded(procedure: string, code: string, seconds: number, streaming: boolean): void {
    if (!streaming) this.rpcDuration.labels(procedure, code).observe(seconds);
    if (code !== "ok") this.errors.inc({ type: code, operation: procedure });
  }

  /**
   * A message was accepted (durable) for `tenantId` from `agentId`; or `count` messages of one
   * type together (a batch), `bytes` their payloads' total.
   */
  messageSent(
    tenantId: string,
    agentId: string,
    type: string,
    bytes: number,
    seconds: number,
    count = 1,
  ): void {
    this.messages.inc({ type, ...(this.tenantLabel && { tenant_id: tenantId }) }, count);
    this.latency.labels("send").observe(seconds, count);
    this.agentSent.inc(this.labels(tenantId, agentId), count);
    this.bandwidth.inc({ direction: "in", ...this.labels(tenantId, agentId) }, bytes);
  }

  /**
   * Messages went out on a Receive stream together: `ages` holds, per message, the seconds since
   * the hub accepted it; `bytes` their payloads' total. The counters are updated once per batch.
   */
  messagesDelivered(
    tenantId: string,
    agentId: string,
    ages: readonly number[],
    bytes: number,
  ): void {
    const deliver = this.latency.labels("deliver");
    for (const age of ages) deliver.observe(Math.max(0, age));
    const labels = this.labels(tenantId, agentId);
    this.agentReceived.inc(labels, ages.length);
    this.bandwidth.inc({ direction: "out", ...labels }, bytes);
  }

  /** A Receive stream opened; call the returned function when it ends. */
  receiverOpened(tenantId: string, agentId: string): () => void {
    const agents = this.receivers.get(tenantId) ?? new Map<string, number>();
    this.receivers.set(tenantId, agents);
    agents.set(agentId, (agents.get(agentId) ?? 0) + 1);
    return () => {
      const n = (agents.get(agentId) ?? 1) - 1;
      if (n > 0) agents.set(agentId, n);
      else agents.delete(agentId);
      if (agents.size === 0) this.receivers.delete(tenantId);
    };
  }

  /** The Prometheus text exposition of every metric. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

export function createHubMetrics(options: HubMetricsOptions = {}): HubMetrics {
  return new HubMetrics(options);
}
