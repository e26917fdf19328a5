import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  DirectContext,
  type DirectContextInit,
  directContextKey,
  handlerContextOf,
} from "./direct-common.js";

function init(extra: Partial<DirectContextInit> = {}): DirectContextInit {
  return {
    service: MessagingService,
    method: MessagingService.method.receive,
    protocolName: "connect",
    url: "http://localhost/acb.v1.MessagingService/Receive",
    requestHeader: new Headers({ "content-type": "application/connect+proto" }),
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    contextValues: createContextValues(),
    ...extra,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("DirectContext", () => {
  it("aborts its signal with DEADLINE_EXCEEDED when the timeout passes, and tells the time left", () => {
    vi.useFakeTimers();
    const c = new DirectContext(init({ timeoutMs: 1_000 }));
    expect(c.timeoutMs()).toBe(1_000);
    vi.advanceTimersByTime(400);
    expect(c.timeoutMs()).toBe(600);
    expect(c.signal.aborted).toBe(false);
    vi.advanceTimersByTime(600);
    expect(c.signal.aborted).toBe(true);
    const reason = ConnectError.from(c.signal.reason);
    expect(reason.code).toBe(Code.DeadlineExceeded);
    expect(reason.rawMessage).toBe("the operation timed out");
  });

  it("is aborted from the start by a timeout of zero, and has no time left without one", () => {
    expect(ConnectError.from(new DirectContext(init({ timeoutMs: 0 })).signal.reason).code).toBe(
      Code.DeadlineExceeded,
    );
    expect(new DirectContext(init()).timeoutMs()).toBeUndefined();
  });

  it("aborts with the shutdown signal's reason, already aborted or later", () => {
    const early = new AbortController();
    early.abort(new ConnectError("draining", Code.Unavailable));
    expect(new DirectContext(init({ shutdownSignal: early.signal })).signal.reason).toBe(
      early.signal.reason,
    );
    const later = new AbortController();
    const c = new DirectContext(init({ shutdownSignal: later.signal }));
    expect(c.signal.aborted).toBe(false);
    later.abort(new ConnectError("draining", Code.Unavailable));
    expect(c.signal.reason).toBe(later.signal.reason);
  });

  it("abort() keeps the first reason, stops the deadline and stops listening to the shutdown signal", () => {
    vi.useFakeTimers();
    const shutdown = new AbortController();
    const c = new DirectContext(init({ shutdownSignal: shutdown.signal, timeoutMs: 1_000 }));
    const first = new Error("first");
    c.abort(first);
    c.abort(new Error("second"));
    expect(c.signal.reason).toBe(first);
    expect(vi.getTimerCount()).toBe(0);
    const listened = vi.fn();
    c.signal.addEventListener("abort", listened);
    shutdown.abort(new Error("later"));
    expect(listened).not.toHaveBeenCalled();
    expect(c.signal.reason).toBe(first);
  });
});

describe("handlerContextOf", () => {
  it("is the call's own context when the interceptors passed everything on, else a merged copy", () => {
    const c = new DirectContext(init());
    c.values.set(directContextKey, c);
    const same = {
      service: c.service,
      header: c.requestHeader,
      signal: c.signal,
      contextValues: c.values,
    };
    expect(handlerContextOf(same)).toBe(c);
    const header = new Headers({ "x-other": "1" });
    const merged = handlerContextOf({ ...same, header });
    expect(merged).not.toBe(c);
    expect(merged.requestHeader).toBe(header);
    expect(merged.signal).toBe(c.signal);
    expect(merged.timeoutMs()).toBeUndefined();
    expect(merged.url).toBe(c.url);
  });
});
