// A Receive stream as a case uses it: opened and READY before the case sends, deliveries taken
// one by one with a bound, acknowledged explicitly.

import type { ReceiveResponse } from "@acb/gen/acb/v1/messaging_pb";
import { type Delivery, ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import { CaseFailure } from "./case.js";
import type { CaseContext, TestAgent } from "./harness.js";
import type { StreamReader } from "./wire.js";

export class Inbox {
  private readonly pendingAcks: string[] = [];
  /** The first failure of a background Ack (see {@link ackSoon}). */
  ackError: unknown;
  private constructor(
    private readonly agent: TestAgent,
    private readonly reader: StreamReader<ReceiveResponse>,
    private readonly waitMs: number,
  ) {}

  /** Opens the agent's Receive stream and waits for its READY marker. */
  static async open(t: CaseContext, agent: TestAgent, maxInFlight = 1000): Promise<Inbox> {
    const reader = t.stream((signal) => agent.messaging.receive({ maxInFlight }, { signal }));
    await reader.waitFor(
      (r) => r.kind === ReceiveResponse_Kind.READY,
      `Receive READY of ${agent.id}`,
      t.settings.waitMs,
    );
    return new Inbox(agent, reader, t.settings.waitMs);
  }

  /** The next delivery (keepalives skipped). */
  async next(what: string): Promise<Delivery> {
    const r = await this.reader.waitFor(
      (x) => x.kind === ReceiveResponse_Kind.DELIVERY,
      what,
      this.waitMs,
    );
    if (!r.delivery?.message) throw new CaseFailure(`${what}: a DELIVERY item without a message`);
    return r.delivery;
  }

  /** Deliveries until one matches `until` (included), acknowledging each. */
  async collectUntil(until: (d: Delivery) => boolean, what: string): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (;;) {
      let d: Delivery;
      try {
        d = await this.next(what);
      } catch (err) {
        if (err instanceof CaseFailure) {
          throw new CaseFailure(
            `${err.message} (after ${out.length} deliveries: ${describe(out)})`,
          );
        }
        throw err;
      }
      out.push(d);
      await this.ack(d);
      if (until(d)) return out;
    }
  }

  /** `count` deliveries, acknowledging each. */
  async collect(count: number, what: string): Promise<Delivery[]> {
    const out: Delivery[] = [];
    while (out.length < count) {
      try {
        out.push(await this.next(what));
      } catch (err) {
        if (err instanceof CaseFailure)
          throw new CaseFailure(`${err.message}; got ${out.length} of ${count}`);
        throw err;
      }
      await this.ack(out[out.length - 1] as Delivery);
    }
    return out;
  }

  /**
   * Acknowledges in the background, batching what arrives within a few ms into one Ack call (as
   * SDKs do), so acks do not double the load a latency measurement puts on the hub.
   */
  ackSoon(d: Delivery): void {
    this.pendingAcks.push(d.deliveryId);
    if (this.pendingAcks.length === 1) {
      setTimeout(() => {
        const ids = this.pendingAcks.splice(0);
        this.agent.messaging.ack({ deliveryIds: ids }).catch((err: unknown) => {
          this.ackError ??= err;
        });
      }, 5);
    }
  }

  async ack(...deliveries: Delivery[]): Promise<void> {
    await this.agent.messaging.ack({ deliveryIds: deliveries.map((d) => d.deliveryId) });
  }

  close(): void {
    this.reader.close();
  }
}

function describe(ds: Delivery[]): string {
  const shown = ds.slice(-5).map((d) => `${d.message?.kind}#${d.attempt}`);
  return `${ds.length > 5 ? "…, " : ""}${shown.join(", ")}`;
}

export const text = (s: string) => ({
  contentType: "text/plain",
  data: new TextEncoder().encode(s),
});
