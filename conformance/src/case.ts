// What a conformance case is: a stable id, an RFC 2119 level, the profile it belongs to, the proto
// element whose comment states the rule, and the check itself.

import type { CaseContext } from "./harness.js";

/**
 * RFC 2119 level. A failed MUST fails the run; a failed SHOULD is a warning; a MAY case runs only
 * when the hub declares the capability it needs, and then fails the run like a MUST (a hub that
 * declares a capability must deliver it).
 */
export type Level = "MUST" | "SHOULD" | "MAY";

/** The profiles, in the order they run. */
export const profiles = [
  "registry",
  "contexts",
  "delivery",
  "request-reply",
  "streaming",
  "meetings",
  "security",
  "latency",
  "durability",
  "cluster",
] as const;

export type Profile = (typeof profiles)[number];

export function isProfile(name: string): name is Profile {
  return (profiles as readonly string[]).includes(name);
}

/** One conformance case. */
export interface ConformanceCase {
  /** Stable id, "<area>.<rule>", e.g. "delivery.offline-recipient". */
  readonly id: string;
  readonly level: Level;
  readonly profile: Profile;
  /** One line: the rule the case checks. */
  readonly description: string;
  /** The proto element whose comment states the rule, e.g. "acb.v1.MessagingService.Receive". */
  readonly spec: string;
  /**
   * The ids of the rules the case checks, as tagged in the proto comments (`[acb:<id>]`);
   * docs/conformance-coverage.md maps every rule to its cases.
   */
  readonly rules: readonly string[];
  /** Capabilities (GetServerInfo.capabilities) the case needs; it is skipped when one is missing. */
  readonly requires?: readonly string[];
  /** Overrides the run's per-case timeout. */
  readonly timeoutMs?: number;
  /** Throws (e.g. {@link CaseFailure}) when the hub breaks the rule. */
  run(t: CaseContext): Promise<void>;
}

/** A broken rule, with a message that says what was expected and what the hub did. */
export class CaseFailure extends Error {
  override name = "CaseFailure";
}

/** Thrown by a case that cannot apply to this hub (e.g. no --restart-cmd). */
export class CaseSkipped extends Error {
  override name = "CaseSkipped";
}

/** Fails the case with `message` unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CaseFailure(message);
}
