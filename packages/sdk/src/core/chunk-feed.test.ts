import { expect, it } from "vitest";
import { ChunkFeed } from "./chunk-feed.js";
import { webSha256 } from "./sha256.js";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);

it("resumes without a gap while the failed batch's generator is still being pulled", async () => {
  // Four chunks of 4 bytes. Batch A sends chunk 0, then its stream fails; the retry (batch B)
  // starts at the verified offset 0 while A's transport pulls one more chunk from A.
  const feed = new ChunkFeed(bytes(16), 16, 4, webSha256, webSha256.create());
  const a = feed.from(0);
  expect((await a.next()).value?.offset).toBe(0);
  const b = feed.from(0);
  expect((await b.next()).value?.offset).toBe(0);
  expect((await a.next()).value?.offset).toBe(4); // read by the stale generator
  const rest: number[] = [];
  for await (const chunk of b) rest.push(chunk.offset);
  expect(rest).toEqual([4, 8, 12]);
});

it("refuses to resume where no kept chunk begins", async () => {
  const feed = new ChunkFeed(bytes(16), 16, 4, webSha256, webSha256.create());
  const a = feed.from(0);
  await a.next();
  await a.next();
  await expect(feed.from(2).next()).rejects.toThrow("cannot resume at offset 2");
});
