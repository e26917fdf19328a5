import { ErrorInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import { AcbError } from "../acb-error.js";

/**
 * Why an end-to-end encrypted payload could not be written or read (AcbError.reason):
 * - E2E_NO_KEY: the reader holds no private key for any recipient of the payload;
 * - E2E_WRONG_KEY: a key with the recipient's key id failed to open the content key (a different
 *   key under that id, or a damaged wrapped key);
 * - E2E_TAMPERED: the content failed authentication: a changed, truncated, extended or reordered
 *   payload, or a changed header;
 * - E2E_MALFORMED: not an encrypted payload of a known format;
 * - E2E_NO_RECIPIENT_KEY: a recipient of a write has published no key this SDK can use.
 */
export type E2eReason =
  | "E2E_NO_KEY"
  | "E2E_WRONG_KEY"
  | "E2E_TAMPERED"
  | "E2E_MALFORMED"
  | "E2E_NO_RECIPIENT_KEY";

const codes: Record<E2eReason, Code> = {
  E2E_NO_KEY: Code.FailedPrecondition,
  E2E_WRONG_KEY: Code.DataLoss,
  E2E_TAMPERED: Code.DataLoss,
  E2E_MALFORMED: Code.DataLoss,
  E2E_NO_RECIPIENT_KEY: Code.FailedPrecondition,
};

/** An AcbError with an E2E_* reason (raised locally: the hub never sees the keys). */
export function e2eError(
  reason: E2eReason,
  message: string,
  metadata: Record<string, string> = {},
): AcbError {
  return new AcbError(
    new ConnectError(message, codes[reason], undefined, [
      { desc: ErrorInfoSchema, value: { reason, metadata } },
    ]),
  );
}

/** Whether `err` is one of the E2E_* errors. */
export function isE2eError(err: unknown): err is AcbError & { reason: E2eReason } {
  return err instanceof AcbError && err.reason !== undefined && err.reason in codes;
}
