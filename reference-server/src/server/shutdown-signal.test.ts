import { Code, ConnectError } from "@connectrpc/connect";
import { createLinkedAbortController } from "@connectrpc/connect/protocol";
import { describe, expect, it } from "vitest";
import { ShutdownSignal } from "./shutdown-signal.js";

describe("ShutdownSignal", () => {
  it("is linked by the protocol library like an AbortSignal, and unlinked when a call ends", () => {
    const shutdown = new ShutdownSignal();
    const calls = Array.from({ length: 3 }, () => new AbortController());
    const linked = calls.map((call) =>
      createLinkedAbortController(call.signal, shutdown.asAbortSignal()),
    );
    expect(shutdown.listenerCount).toBe(3);

    // A call that ends (its request signal aborts) leaves no listener behind.
    calls[0]?.abort(new Error("client went away"));
    expect(linked[0]?.signal.aborted).toBe(true);
    expect(shutdown.listenerCount).toBe(2);

    // Shutting down aborts every call still linked, with the shutdown's reason.
    const reason = new ConnectError("the hub is draining", Code.Unavailable);
    shutdown.abort(reason);
    expect(shutdown.aborted).toBe(true);
    expect(shutdown.reason).toBe(reason);
    expect(shutdown.listenerCount).toBe(0);
    for (const c of linked.slice(1)) {
      expect(c.signal.aborted).toBe(true);
      expect(c.signal.reason).toBe(reason);
    }
    expect(linked[0]?.signal.reason).toEqual(new Error("client went away"));
  });

  it("links a call started after the shutdown as aborted at once", () => {
    const shutdown = new ShutdownSignal();
    shutdown.abort("stopping");
    const linked = createLinkedAbortController(
      new AbortController().signal,
      shutdown.asAbortSignal(),
    );
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe("stopping");
    expect(shutdown.listenerCount).toBe(0);
  });

  it("calls onabort, function and object listeners once, and ignores other event types", () => {
    const shutdown = new ShutdownSignal();
    const seen: string[] = [];
    shutdown.onabort = function (event) {
      seen.push(`onabort:${event.type}:${this === shutdown}`);
    };
    shutdown.addEventListener("abort", function (this: ShutdownSignal) {
      seen.push(`fn:${this === shutdown}`);
    });
    shutdown.addEventListener("abort", { handleEvent: (e: Event) => seen.push(`obj:${e.type}`) });
    shutdown.addEventListener("other", () => seen.push("other"));
    const removed = () => seen.push("removed");
    shutdown.addEventListener("abort", removed);
    shutdown.removeEventListener("abort", removed);
    shutdown.abort();
    shutdown.abort();
    expect(seen).toEqual(["onabort:abort:true", "fn:true", "obj:abort"]);
    expect(() => shutdown.throwIfAborted()).toThrow(DOMException);
  });
});
