import {
  AckRequestSchema,
  MessagingService,
  SendRequestSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createValidation } from "./validation-interceptor.js";

const send = MessagingService.method.send;

/** Runs one unary Send request through the interceptor; what the handler would have got. */
async function call(
  interceptor: ReturnType<typeof createValidation>["interceptor"],
  message: unknown,
) {
  const next = interceptor(async (req) => ({ message: req.message }) as unknown as UnaryResponse);
  return next({ stream: false, method: send, message } as unknown as UnaryRequest);
}

describe("request validation", () => {
  it("prepares each request type once, in the background, and still validates after", async () => {
    const v = createValidation();
    const { done } = v.prepare([SendRequestSchema, AckRequestSchema, SendRequestSchema]);
    expect(await done).toBe(2);
    const valid = create(SendRequestSchema, {
      target: { case: "recipientId", value: "bob" },
      kind: "k",
    });
    expect((await call(v.interceptor, valid)).message).toBe(valid);
    const invalid = create(SendRequestSchema, { kind: "k" });
    const refused = await call(v.interceptor, invalid).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it("stops preparing when cancelled", async () => {
    const v = createValidation();
    const all = MessagingService.methods.map((m) => m.input);
    const preparing = v.prepare(all);
    preparing.cancel();
    expect(await preparing.done).toBe(0);
    const some = v.prepare(all);
    // Cancelled after its first step: fewer than all were prepared.
    await new Promise<void>((resolve) => setImmediate(resolve));
    some.cancel();
    const n = await some.done;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(all.length);
  });
});
