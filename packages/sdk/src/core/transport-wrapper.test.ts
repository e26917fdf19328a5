import { MessagingService, ReceiveRequestSchema } from "@acb/gen/acb/v1/messaging_pb";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type Transport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AcbError } from "./acb-error.js";
import { refusedGeneration, wrapTransport } from "./transport-wrapper.js";

/** A transport whose streams answer the given steps: a value, or an error to throw. */
function streamOf(
  steps: (unknown | Error)[],
  seen: { returned: number; started: number },
): Transport {
  return {
    unary: () => Promise.reject(new Error("not used")),
    stream: async (method) =>
      ({
        stream: true,
        service: method.parent,
        method,
        header: new Headers(),
        trailer: new Headers(),
        message: {
          [Symbol.asyncIterator]() {
            seen.started++;
            let i = 0;
            return {
              next: async () => {
                if (i >= steps.length) return { done: true, value: "end" };
                const step = steps[i++];
                if (step instanceof Error) throw step;
                return { done: false, value: step };
              },
              return: async (value: unknown) => {
                seen.returned++;
                return { done: true, value };
              },
            };
          },
        },
      }) as never,
  };
}

const open = (transport: Transport) =>
  wrapTransport(transport, { credentialGeneration: () => 7 }).stream(
    MessagingService.method.receive,
    undefined,
    undefined,
    undefined,
    (async function* () {
      yield create(ReceiveRequestSchema);
    })(),
    createContextValues(),
  );

describe("wrapTransport's streams", () => {
  it("pass every message on, end when the stream ends, and start the stream at the first step", async () => {
    const seen = { returned: 0, started: 0 };
    const res = await open(streamOf(["a", "b"], seen));
    expect(seen.started).toBe(0);
    const got: unknown[] = [];
    for await (const m of res.message) got.push(m);
    expect(got).toEqual(["a", "b"]);
    expect(await res.message[Symbol.asyncIterator]().next()).toEqual({
      done: true,
      value: undefined,
    });
  });

  it("turn a failure into an AcbError remembering the credential it refused, then end", async () => {
    const seen = { returned: 0, started: 0 };
    // As the protocol library makes it from the hub's answer.
    const refused = Object.assign(new ConnectError("token expired", Code.Unauthenticated), {
      isWireError: true,
    });
    const res = await open(streamOf(["a", refused, "never"], seen));
    const it = res.message[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ done: false, value: "a" });
    const err = await it.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AcbError);
    expect((err as AcbError).code).toBe(Code.Unauthenticated);
    expect(refusedGeneration(err)).toBe(7);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it("pass return on to the stream (a consumer that stops early)", async () => {
    const seen = { returned: 0, started: 0 };
    const res = await open(streamOf(["a", "b", "c"], seen));
    for await (const m of res.message) if ((m as unknown) === "a") break;
    expect(seen.returned).toBe(1);
    expect(await res.message[Symbol.asyncIterator]().next()).toEqual({
      done: true,
      value: undefined,
    });
  });
});
