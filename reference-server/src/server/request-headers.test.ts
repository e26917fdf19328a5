import { describe, expect, it } from "vitest";
import { headerPairs } from "./direct-common.js";
import { RequestHeaders } from "./request-headers.js";

/** Node's header object of a request, as node:http2 makes it. */
function nodeHeaders(): NodeJS.Dict<string | string[]> {
  return {
    ":method": "POST",
    ":path": "/acb.v1.MessagingService/Receive",
    "content-type": "application/connect+proto",
    authorization: "Bearer abc",
    "x-correlation-id": "c-1",
    "set-cookie": ["a=1", "b=2"],
    "x-repeated": ["one", "two"],
    "x-padded": " spaced\t",
    cookie: "a=1; b=2",
  };
}

describe("RequestHeaders", () => {
  const names = [
    "content-type",
    "Content-Type",
    "authorization",
    "x-correlation-id",
    "set-cookie",
    "x-repeated",
    "x-padded",
    "cookie",
    "x-absent",
    "traceparent",
  ];

  it("answers get() and has() as a Headers copy of Node's object does", () => {
    const view = new RequestHeaders(nodeHeaders());
    const copy = new Headers(headerPairs(nodeHeaders()));
    for (const name of names) {
      expect(view.get(name), name).toBe(copy.get(name));
      expect(view.has(name), name).toBe(copy.has(name));
    }
  });

  it("refuses invalid names as Headers does (pseudo-headers are not headers)", () => {
    const view = new RequestHeaders(nodeHeaders());
    expect(() => view.get(":path")).toThrow(TypeError);
    expect(() => new Headers().get(":path")).toThrow(TypeError);
    expect(() => view.has("bad name")).toThrow(TypeError);
  });

  it("iterates, and takes changes, as the copy does", () => {
    const view = new RequestHeaders(nodeHeaders());
    const copy = new Headers(headerPairs(nodeHeaders()));
    expect([...view]).toEqual([...copy]);
    expect([...view.keys()]).toEqual([...copy.keys()]);
    expect([...view.values()]).toEqual([...copy.values()]);
    expect(view.getSetCookie()).toEqual(["a=1", "b=2"]);
    const seen: [string, string][] = [];
    view.forEach((value, key, parent) => {
      expect(parent).toBe(view);
      seen.push([key, value]);
    });
    expect(seen).toEqual([...copy.entries()]);
    view.set("content-type", "application/grpc");
    view.append("x-repeated", "three");
    view.delete("authorization");
    expect(view.get("content-type")).toBe("application/grpc");
    expect(view.get("x-repeated")).toBe("one, two, three");
    expect(view.has("authorization")).toBe(false);
    expect(new Headers(view).get("x-repeated")).toBe("one, two, three");
  });

  it("does not change Node's object", () => {
    const node = nodeHeaders();
    const view = new RequestHeaders(node);
    view.set("x-new", "1");
    view.delete("authorization");
    expect(node).toEqual(nodeHeaders());
  });
});
