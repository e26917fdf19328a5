// TEST-ONLY fault injection. Each fault breaks one guarantee of the protocol, so the conformance
// suite can prove it notices (conformance/test/teeth.test.ts). They are injected from outside the
// rules: a wrapping backend (storage/faulty/) for what storage keeps, an interceptor
// (server/fault-interceptor.ts) for what a request is checked against; domain/ has no test code.
// Faults are off unless createHub gets `faults` (or `acb-hub dev --fault NAME`), and createHub
// refuses them in production mode.

/** The faults the reference hub can inject, each named after the guarantee it breaks. */
export const hubFaults = [
  /** Never delivers one message in ten (acknowledges it silently instead). */
  "drop-deliveries",
  /** Ignores idempotency keys: a retried Send is stored and delivered again. */
  "ignore-idempotency",
  /** Never returns a delivery whose ack deadline passed: unacknowledged messages are lost. */
  "never-redeliver",
  /** Accepts a chunk whose bytes do not match its SHA-256. */
  "accept-corrupt-chunk",
  /** Lets a participant who does not hold the turn speak in a meeting. */
  "non-holder-speaks",
  /** Serves one GetContext per tenant from another tenant's context of that id. */
  "cross-tenant-leak",
  /** Adds 100 ms before every batch of deliveries. */
  "slow-delivery",
] as const;

export type HubFault = (typeof hubFaults)[number];

export function isHubFault(name: string): name is HubFault {
  return (hubFaults as readonly string[]).includes(name);
}
