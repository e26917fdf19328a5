// The SDK's meetings API against a real hub on a ManualClock. Waiting is always on events from
// the hub (an events() iterator or a turn handler), never on sleeps.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  Code,
  ConnectError,
  createClient,
  type MeetingEvent,
  type MeetingHandle,
  type StreamState,
} from "../src/node.js";
import { startTestBed, type TestBed } from "./harness.js";
import { startTcpProxy } from "./tcp-proxy.js";

/** Pulls events from an iterator until one matches; returns everything pulled. */
async function until<T>(
  events: AsyncIterator<MeetingEvent<T>>,
  match: (e: MeetingEvent<T>) => boolean,
): Promise<MeetingEvent<T>[]> {
  const pulled: MeetingEvent<T>[] = [];
  for (;;) {
    const next = await events.next();
    if (next.done) throw new Error(`events ended before a match; got ${pulled.map((e) => e.kind)}`);
    pulled.push(next.value);
    if (match(next.value)) return pulled;
  }
}

describe("meetings through the SDK", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed();
  });
  afterEach(async () => {
    await bed.close();
  });

  const clientFor = async (agentId: string, baseUrl = bed.listener.url) =>
    createClient({ baseUrl, token: await bed.tokenFor(agentId) });

  it("runs a round-robin meeting with turn handlers, a timeout and a transcript", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    const carol = await clientFor("carol");
    const meeting = await alice.meetings.create({
      id: "standup",
      title: "Stand-up",
      participants: ["alice", "bob", "carol"],
      turnTimeoutMs: 1_000,
    });
    expect(meeting.latest?.state).toBe("scheduled");
    const handles: Record<string, MeetingHandle> = {
      alice: meeting,
      bob: bob.meetings.open("standup"),
      carol: carol.meetings.open("standup"),
    };
    for (const h of Object.values(handles)) await h.join();

    // Alice and Carol answer when they get the turn; Bob never does, so his turn times out.
    const turns: string[] = [];
    const watches = [
      handles.alice?.onTurn(async (turn) => {
        turns.push(`alice#${turn.turnNumber}`);
        await turn.speak({ status: "done: protocol" }, { pass: true });
      }),
      handles.bob?.onTurn((turn) => {
        turns.push(`bob#${turn.turnNumber}`);
      }),
      handles.carol?.onTurn(async (turn) => {
        turns.push(`carol#${turn.turnNumber}`);
        await turn.speak({ status: "blocked on review" }, { pass: true });
      }),
    ];
    await Promise.all(watches.map((w) => w?.ready));

    const observer = meeting.events<{ status: string }>()[Symbol.asyncIterator]();
    await until(observer, (e) => e.kind === "ready");
    await meeting.start();
    const toBob = await until(observer, (e) => e.kind === "turn-granted" && e.subjectId === "bob");
    expect(toBob.map((e) => e.kind)).toEqual([
      "started",
      "turn-granted",
      "spoke",
      "turn-passed",
      "turn-granted",
    ]);
    expect(toBob[2]?.entry?.content).toEqual({ status: "done: protocol" });

    bed.clock.advance(1_000);
    const afterBob = await until(
      observer,
      (e) => e.kind === "turn-granted" && e.subjectId === "alice",
    );
    expect(afterBob.map((e) => `${e.kind}:${e.subjectId || e.actorId}`)).toEqual([
      "turn-timed-out:bob",
      "turn-granted:carol",
      "spoke:carol",
      "turn-passed:carol",
      "turn-granted:alice",
    ]);
    await until(observer, (e) => e.kind === "turn-granted" && e.subjectId === "bob");
    await meeting.end("thanks");
    await until(observer, (e) => e.kind === "ended");
    expect((await observer.next()).done).toBe(true);
    await Promise.all(watches.map((w) => w?.done));

    expect(turns).toEqual(["alice#1", "bob#2", "carol#3", "alice#4", "bob#5"]);
    const said = [];
    for await (const entry of carol.meetings.open("standup").transcript()) said.push(entry);
    expect(said.map((e) => [e.speakerId, e.turnNumber, e.content])).toEqual([
      ["alice", 1, { status: "done: protocol" }],
      ["carol", 3, { status: "blocked on review" }],
      ["alice", 4, { status: "done: protocol" }],
    ]);
    const info = await bob.meetings.get("standup");
    expect(info).toMatchObject({ state: "ended", endReason: "requested", endNote: "thanks" });
  });

  it("resumes events() after a dropped connection without missing or repeating one", async () => {
    const proxy = await startTcpProxy(bed.listener.port);
    const alice = await clientFor("alice");
    const bob = await clientFor("bob", proxy.url);
    const meeting = await alice.meetings.create({ title: "t", participants: ["bob"], id: "m" });
    await meeting.join();
    const states: StreamState[] = [];
    let wentDown: () => void = () => {};
    const down = new Promise<void>((r) => {
      wentDown = r;
    });
    const events = bob.meetings
      .open("m")
      .events({
        fromBeginning: true,
        backoff: { initialDelayMs: 5, maxDelayMs: 20 },
        onStateChange: (s) => {
          states.push(s);
          if (s === "reconnecting") wentDown();
        },
      })
      [Symbol.asyncIterator]();
    expect((await until(events, (e) => e.kind === "ready")).map((e) => e.kind)).toEqual([
      "joined",
      "ready",
    ]);

    proxy.cut();
    // The iterator notices the cut only while it reads: keep a read pending across the outage.
    const pending = until(events, (e) => e.kind === "ready");
    await down;
    await meeting.start();
    await meeting.speak("while bob was away", { pass: true });
    proxy.restore();

    const replayed = await pending;
    expect(replayed.map((e) => e.kind)).toEqual([
      "started",
      "turn-granted",
      "spoke",
      "turn-passed",
      "turn-granted",
      "ready",
    ]);
    expect(replayed.map((e) => e.sequence)).toEqual([2, 3, 4, 5, 6, 6]);
    expect(replayed[2]?.entry?.content).toBe("while bob was away");
    expect(states).toEqual(["connecting", "live", "reconnecting", "live"]);
    await events.return?.(undefined);
    expect(states.at(-1)).toBe("closed");
    await proxy.close();
  });

  it("supports moderated and free-for-all meetings, and refuses a non-holder", async () => {
    const mod = await clientFor("mod");
    const ann = await clientFor("ann");
    const ben = await clientFor("ben");
    const board = await mod.meetings.create({
      title: "Board",
      policy: "moderated",
      moderator: "mod",
      participants: ["ann", "ben"],
    });
    const asAnn = ann.meetings.open(board.id);
    const asBen = ben.meetings.open(board.id);
    for (const h of [board, asAnn, asBen]) await h.join();
    await board.start();
    expect(await asBen.requestTurn()).toMatchObject({ granted: false, position: 1 });
    expect((await board.grant("ben")).turnHolderId).toBe("ben");
    const refused = await asAnn.speak("me!").catch((err: unknown) => ConnectError.from(err));
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((refused as ConnectError).message).toContain('"ben" does');

    const open = await ann.meetings.create({
      title: "Open floor",
      policy: "free-for-all",
      participants: ["ben"],
    });
    await open.join();
    await ben.meetings.open(open.id).join();
    await open.start();
    expect((await open.requestTurn()).granted).toBe(true);
    expect(await ben.meetings.open(open.id).requestTurn()).toMatchObject({
      granted: false,
      position: 1,
    });
    expect((await open.pass()).turnHolderId).toBe("ben");
    const mine: string[] = [];
    for await (const m of ann.meetings.list({ state: "active" })) mine.push(m.title);
    expect(mine.sort()).toEqual(["Board", "Open floor"]);
  });
});
