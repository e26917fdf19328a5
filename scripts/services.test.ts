// The Kafka broker that `npm run services -- up` provisions answers the Kafka protocol: an
// ApiVersions request (the first call every client makes) lists Produce and Fetch. Speaking the
// protocol directly keeps this check free of any client library.

import { connect } from "node:net";
import { describe, expect, it } from "vitest";

const brokers = process.env.ACB_TEST_KAFKA_BROKERS;
if (brokers === undefined) {
  const message = "ACB_TEST_KAFKA_BROKERS is not set (npm run services -- up prints it)";
  if (process.env.ACB_REQUIRE_SERVICES === "1") {
    throw new Error(`${message}; a missing service is a failure with ACB_REQUIRE_SERVICES=1`);
  }
  console.warn(`skipping the Kafka provisioning test: ${message}`);
}

/** Sends ApiVersions v0 and returns (errorCode, api keys) from the response. */
function apiVersions(
  host: string,
  port: number,
): Promise<{ errorCode: number; apiKeys: number[] }> {
  const clientId = Buffer.from("acb-services-test");
  // Request header v1: api_key INT16, api_version INT16, correlation_id INT32, client_id STRING.
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
  body.writeInt16BE(18, 0); // ApiVersions
  body.writeInt16BE(0, 2);
  body.writeInt32BE(7, 4);
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const frame = Buffer.alloc(4 + body.length);
  frame.writeInt32BE(body.length, 0);
  body.copy(frame, 4);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer from the broker in 10 s")));
    socket.on("error", reject);
    socket.on("connect", () => socket.write(frame));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
      socket.end();
      // Response: correlation_id INT32, error_code INT16, [api_key INT16, min INT16, max INT16].
      const correlationId = received.readInt32BE(4);
      if (correlationId !== 7) return reject(new Error(`correlation id ${correlationId}, want 7`));
      const errorCode = received.readInt16BE(8);
      const count = received.readInt32BE(10);
      const apiKeys: number[] = [];
      for (let i = 0; i < count; i++) apiKeys.push(received.readInt16BE(14 + i * 6));
      resolve({ errorCode, apiKeys });
    });
  });
}

describe.runIf(brokers !== undefined)("the provisioned Kafka broker", () => {
  it("answers ApiVersions with Produce and Fetch", async () => {
    const [host = "", port = ""] = (brokers ?? "").split(",")[0]?.split(":") ?? [];
    const { errorCode, apiKeys } = await apiVersions(host, Number(port));
    expect(errorCode).toBe(0);
    expect(apiKeys).toContain(0); // Produce
    expect(apiKeys).toContain(1); // Fetch
  });
});
