import { randomBytes } from "node:crypto";

/**
 * A Kafka cluster id: 16 random bytes in URL-safe base64 without padding, as `kafka-storage.sh
 * random-uuid` prints, and like it never starting with "-" (the storage tool's argument parser
 * would take such an id for an option: one format in 64 failed so).
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}
