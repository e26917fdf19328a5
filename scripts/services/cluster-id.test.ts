import { describe, expect, it } from "vitest";
import { newClusterId } from "./cluster-id.ts";

describe("newClusterId", () => {
  it("is 16 bytes of URL-safe base64 that never starts with a dash", () => {
    // One random id in 64 starts with "-": 10,000 of them would include some.
    for (let i = 0; i < 10_000; i++) {
      const id = newClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, "base64url")).toHaveLength(16);
    }
  });
});
