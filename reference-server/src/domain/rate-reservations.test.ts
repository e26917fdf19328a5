// Reserving a share of a counter's units per node: exact at the limit, fewer calls to the shared
// counters, and never more admitted than the limit, however many nodes take shares.

import { describe, expect, it } from "vitest";
import { createMemoryRateLimiter } from "../storage/memory/memory-security.js";
import type { RateCharge, RateLimiter } from "../storage/types.js";
import { reservingRateLimiter } from "./rate-reservations.js";

/** The shared counters, counting the calls made to them. */
function sharedCounters() {
  const inner = createMemoryRateLimiter();
  const counted = {
    calls: 0,
    consume(charges: RateCharge[]) {
      counted.calls++;
      return inner.consume(charges);
    },
  };
  return counted;
}

const charge = (limit: number, windowStart = 0, amount = 1, key = "tenant:t:msgs"): RateCharge => ({
  key,
  amount,
  limit,
  windowStart,
  windowEnd: windowStart + 60_000,
});

async function admitted(limiter: RateLimiter, n: number, make: () => RateCharge[]) {
  let ok = 0;
  for (let i = 0; i < n; i++) if ((await limiter.consume(make())).ok) ok++;
  return ok;
}

describe("reservingRateLimiter", () => {
  it("charges a limit under 100 exactly, through any node", async () => {
    const shared = sharedCounters();
    const node = reservingRateLimiter(shared);
    const other = reservingRateLimiter(shared);
    expect(await admitted(node, 3, () => [charge(5)])).toBe(3);
    expect(await admitted(other, 5, () => [charge(5)])).toBe(2);
    const refused = await node.consume([charge(5)]);
    expect(refused).toMatchObject({ ok: false, used: 5, refused: { key: "tenant:t:msgs" } });
    expect(shared.calls).toBe(9);
  });

  it("calls the shared counters about once per 1 % of a large limit", async () => {
    const shared = sharedCounters();
    const node = reservingRateLimiter(shared);
    expect(await admitted(node, 1_000, () => [charge(10_000)])).toBe(1_000);
    // Each call takes the message and a share of 100 more.
    expect(shared.calls).toBeLessThanOrEqual(10);
  });

  it("never admits past the limit across nodes, and refuses at most a share per node early", async () => {
    const shared = sharedCounters();
    const nodes = [reservingRateLimiter(shared), reservingRateLimiter(shared)];
    let ok = 0;
    for (let i = 0; i < 1_200; i++) {
      if ((await (nodes[i % 2] as RateLimiter).consume([charge(1_000)])).ok) ok++;
    }
    expect(ok).toBeLessThanOrEqual(1_000);
    expect(ok).toBeGreaterThanOrEqual(1_000 - 2 * 10);
  });

  it("takes charges of 0 units, with or without a reservation", async () => {
    const shared = sharedCounters();
    const node = reservingRateLimiter(shared);
    expect(await node.consume([charge(10_000, 0, 0)])).toEqual({ ok: true });
    expect(await node.consume([charge(10_000, 0, 1), charge(1_000, 0, 0, "other")])).toEqual({
      ok: true,
    });
    expect(await node.consume([charge(10_000, 0, 0), charge(1_000, 0, 0, "other")])).toEqual({
      ok: true,
    });
  });

  it("charges every counter or none, and lets reservations lapse with their window", async () => {
    const shared = sharedCounters();
    const node = reservingRateLimiter(shared);
    const both = (start: number) => [
      charge(10_000, start),
      charge(200, start, 100, "tenant:t:agent-msgs:a"),
    ];
    expect(await admitted(node, 3, () => both(0))).toBe(2);
    // The tenant counter's share was not lost with the refusal, and is not used for the agent's.
    expect((await node.consume([charge(10_000, 0)])).ok).toBe(true);
    // A new window: the agent may send again, and old reservations do not carry over.
    const callsBefore = shared.calls;
    expect(await admitted(node, 2, () => both(60_000))).toBe(2);
    expect(shared.calls).toBeGreaterThan(callsBefore);
  });
});
