import type { MessagingService, SendStreamRequest } from "@acb/gen/acb/v1/messaging_pb";
import type { Client } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SendStreamChannel } from "./send-stream.js";

/** A MessagingService client whose SendStream answers each ack at once and notes when it ends. */
function answering() {
  const calls: { ended: boolean }[] = [];
  const client = {
    sendStream(requests: AsyncIterable<SendStreamRequest>) {
      const call = { ended: false };
      calls.push(call);
      return (async function* () {
        for await (const req of requests) {
          yield { ref: req.ref, result: { case: "ack", value: { results: [] } } };
        }
        call.ended = true;
      })();
    },
  } as unknown as Client<typeof MessagingService>;
  return { client, calls };
}

describe("SendStreamChannel: the stream closes after a quiet spell", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("closes 2 s after its last answer, not earlier, and opens a new stream for the next item", async () => {
    const { client, calls } = answering();
    const channel = new SendStreamChannel(client);
    await channel.ack(["a"]);
    await vi.advanceTimersByTimeAsync(1_500);
    await channel.ack(["b"]); // answered at 1.5 s: the stream is quiet from there
    await vi.advanceTimersByTimeAsync(1_000); // 2.5 s: the first timer found it quiet for 1 s only
    expect(calls).toHaveLength(1);
    expect(calls[0]?.ended).toBe(false);
    await vi.advanceTimersByTimeAsync(999); // 3.499 s
    expect(calls[0]?.ended).toBe(false);
    await vi.advanceTimersByTimeAsync(1); // 3.5 s: 2 s after the last answer
    expect(calls[0]?.ended).toBe(true);
    await channel.ack(["c"]);
    expect(calls).toHaveLength(2);
    expect(calls[1]?.ended).toBe(false);
  });

  it("stays open while items keep coming", async () => {
    const { client, calls } = answering();
    const channel = new SendStreamChannel(client);
    for (let i = 0; i < 20; i++) {
      await channel.ack([`d${i}`]);
      await vi.advanceTimersByTimeAsync(500);
    }
    expect(calls).toHaveLength(1);
    expect(calls[0]?.ended).toBe(false);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(calls[0]?.ended).toBe(true);
  });
});
