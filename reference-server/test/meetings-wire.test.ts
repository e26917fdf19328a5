// MeetingService over the wire: a real hub on a real port, time on a ManualClock, streams
// synchronised on READY. Each test provisions its own tenant.

import { randomUUID } from "node:crypto";
import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ErrorInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  WatchMeetingResponse_Kind as Kind,
  MeetingService,
  MeetingState,
  MeetingTurnPolicy,
  type WatchMeetingResponse,
} from "@acb/gen/acb/v1/meetings_pb";
import { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../src/clock.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";

let clock: ManualClock;
let hub: Hub;
let baseUrl: string;
let admin: { admin: Client<typeof AdminService>; auth: Client<typeof AuthService> };

const transportWith = (token: string) =>
  createConnectTransport({
    baseUrl,
    httpVersion: "1.1",
    interceptors: [
      (next) => (req) => {
        req.header.set("Authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  });

beforeAll(async () => {
  clock = new ManualClock();
  hub = await createHub({ clock, logger: silentLogger });
  baseUrl = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  const t = transportWith(await hub.issueAdminToken());
  admin = { admin: createClient(AdminService, t), auth: createClient(AuthService, t) };
});

afterAll(async () => {
  await hub?.close();
});

async function newTenant(): Promise<string> {
  const tenantId = `t${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.admin.createTenant({ tenantId });
  return tenantId;
}

async function meetingsFor(tenantId: string, agentId: string, roles = [Role.AGENT_FULL]) {
  const res = await admin.auth.issueToken({ tenantId, agentId, roles });
  return createClient(MeetingService, transportWith(res.tokens?.accessToken ?? ""));
}

async function failure(call: Promise<unknown>, code: Code): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    expect(Code[e.code], e.message).toBe(Code[code]);
    return e;
  }
  throw new Error(`expected ${Code[code]}, but the call succeeded`);
}

/** Reads a WatchMeeting stream in the background; `untilReady` resolves at READY. */
function watch(stream: AsyncIterable<WatchMeetingResponse>) {
  const seen: WatchMeetingResponse[] = [];
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  const waiters: { n: number; resolve: () => void }[] = [];
  const done = (async () => {
    for await (const e of stream) {
      seen.push(e);
      if (e.kind === Kind.READY) onReady();
      for (const w of [...waiters]) if (seen.length >= w.n) w.resolve();
    }
  })();
  return {
    seen,
    ready,
    done,
    /** Resolves once `n` messages (READY included) have arrived. */
    count: (n: number) =>
      new Promise<void>((resolve) => {
        if (seen.length >= n) resolve();
        else waiters.push({ n, resolve });
      }),
  };
}

const text = (s: string) => ({ contentType: "text/plain", data: new TextEncoder().encode(s) });

describe("MeetingService over the wire", () => {
  it("is advertised and served", async () => {
    const tenantId = await newTenant();
    const res = await admin.auth.issueToken({ tenantId, agentId: "x", roles: [Role.AGENT_FULL] });
    const info = await createClient(
      ServerInfoService,
      transportWith(res.tokens?.accessToken ?? ""),
    ).getServerInfo({});
    expect(info.capabilities).toContain("meetings");
  });

  it("hides meetings from other tenants and from non-participants (NOT_FOUND)", async () => {
    const [home, away] = [await newTenant(), await newTenant()];
    const alice = await meetingsFor(home, "alice");
    await alice.createMeeting({ meetingId: "secret", title: "t", participantIds: ["bob"] });
    // The same agent id in another tenant sees nothing, nor does an outsider of the tenant.
    const foreignBob = await meetingsFor(away, "bob");
    const outsider = await meetingsFor(home, "eve");
    for (const c of [foreignBob, outsider]) {
      await failure(c.getMeeting({ meetingId: "secret" }), Code.NotFound);
      await failure(c.joinMeeting({ meetingId: "secret" }), Code.NotFound);
      await failure(c.getTranscript({ meetingId: "secret" }), Code.NotFound);
      const e = await failure(
        (async () => {
          for await (const _ of c.watchMeeting({ meetingId: "secret" })) break;
        })(),
        Code.NotFound,
      );
      expect(e.message).toContain('meeting "secret" not found');
      expect((await c.listMeetings({})).meetings).toEqual([]);
    }
    // The tenant's admin sees it; a participant sees it in its listing.
    const tenantAdmin = await meetingsFor(home, "root", [Role.ADMIN]);
    expect((await tenantAdmin.getMeeting({ meetingId: "secret" })).meeting?.title).toBe("t");
    const bob = await meetingsFor(home, "bob");
    expect((await bob.listMeetings({})).meetings.map((m) => m.id)).toEqual(["secret"]);
    // The other tenant can use the same id for its own meeting.
    await foreignBob.createMeeting({ meetingId: "secret", title: "mine" });
    expect((await alice.getMeeting({ meetingId: "secret" })).meeting?.title).toBe("t");
  });

  it("refuses a non-holder's Speak with the holder in ErrorInfo", async () => {
    const tenantId = await newTenant();
    const alice = await meetingsFor(tenantId, "alice");
    const bob = await meetingsFor(tenantId, "bob");
    await alice.createMeeting({ meetingId: "m", title: "t", participantIds: ["alice", "bob"] });
    await alice.joinMeeting({ meetingId: "m" });
    await bob.joinMeeting({ meetingId: "m" });
    await failure(bob.startMeeting({ meetingId: "m" }), Code.PermissionDenied);
    const started = await alice.startMeeting({ meetingId: "m" });
    expect(started.meeting?.turnHolderId).toBe("alice");

    const e = await failure(
      bob.speak({ meetingId: "m", content: text("interrupt") }),
      Code.FailedPrecondition,
    );
    const [info] = e.findDetails(ErrorInfoSchema);
    expect(info?.reason).toBe("NOT_TURN_HOLDER");
    expect(info?.metadata).toEqual({ turn_holder_id: "alice", turn_number: "1" });
    const rr = await failure(bob.requestTurn({ meetingId: "m" }), Code.FailedPrecondition);
    expect(rr.findDetails(ErrorInfoSchema)[0]?.reason).toBe("TURN_POLICY");

    const spoke = await alice.speak({ meetingId: "m", content: text("hi"), passTurnAfter: true });
    expect(spoke.entry?.speakerId).toBe("alice");
    expect(spoke.meeting?.turnHolderId).toBe("bob");
    const stale = await failure(
      bob.passTurn({ meetingId: "m", turnNumber: 1n }),
      Code.FailedPrecondition,
    );
    expect(stale.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({ turn_number: "2" });
    await alice.endMeeting({ meetingId: "m" });
    const over = await failure(bob.joinMeeting({ meetingId: "m" }), Code.FailedPrecondition);
    expect(over.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({
      state: "MEETING_STATE_ENDED",
    });
  });

  it("gives a reconnecting watcher and a late joiner every event they missed", async () => {
    const tenantId = await newTenant();
    const alice = await meetingsFor(tenantId, "alice");
    const bob = await meetingsFor(tenantId, "bob");
    const carol = await meetingsFor(tenantId, "carol");
    await alice.createMeeting({
      meetingId: "m",
      title: "t",
      participantIds: ["alice", "bob", "carol"],
      turnTimeout: durationFromMs(10_000),
    });
    await alice.joinMeeting({ meetingId: "m" });
    await bob.joinMeeting({ meetingId: "m" });

    // Bob watches live, then drops the stream after the first events.
    const abort = new AbortController();
    const live = watch(bob.watchMeeting({ meetingId: "m" }, { signal: abort.signal }));
    await live.ready;
    expect(live.seen[0]?.meeting?.participants.map((p) => p.status)).toEqual([2, 2, 1]);
    await alice.startMeeting({ meetingId: "m" });
    await live.count(3); // READY, STARTED (3), TURN_GRANTED (4)
    abort.abort();
    await live.done.catch(() => {});
    const cursor = live.seen.at(-1)?.cursor ?? "";

    // While Bob is away: Alice speaks, her turn passes, Bob's turn times out.
    await alice.speak({ meetingId: "m", content: text("while you were out"), passTurnAfter: true });
    clock.advance(10_000);
    await carol.joinMeeting({ meetingId: "m" }); // also applies the timeout if still overdue

    const resumed = watch(bob.watchMeeting({ meetingId: "m", cursor }));
    await resumed.ready;
    const missed = resumed.seen.slice(0, -1).map((e) => Kind[e.kind]);
    expect(missed).toEqual([
      "SPOKE",
      "TURN_PASSED",
      "TURN_GRANTED",
      "TURN_TIMED_OUT",
      "TURN_GRANTED",
      "JOINED",
    ]);
    const sequences = resumed.seen.map((e) => Number(e.sequence));
    expect(sequences.slice(0, -1)).toEqual(sequences.slice(0, -1).map((_, i) => i + 5));
    expect(resumed.seen.at(-1)?.sequence).toBe(resumed.seen.at(-2)?.sequence);

    // Carol, who joined late, replays the whole meeting from its first event.
    const history = watch(carol.watchMeeting({ meetingId: "m", fromBeginning: true }));
    await history.ready;
    expect(history.seen.map((e) => Number(e.sequence))).toEqual([
      ...Array.from({ length: 10 }, (_, i) => i + 1),
      10,
    ]);
    expect(history.seen[4]?.entry?.speakerId).toBe("alice");

    // The end reaches both live streams, which then close.
    await alice.endMeeting({ meetingId: "m", note: "done" });
    await Promise.all([resumed.done, history.done]);
    expect(resumed.seen.at(-1)?.kind).toBe(Kind.ENDED);
    expect(history.seen.at(-1)?.state).toBe(MeetingState.ENDED);

    // A cursor of another meeting is refused.
    await alice.createMeeting({ meetingId: "other", title: "t" });
    await failure(
      (async () => {
        for await (const _ of alice.watchMeeting({ meetingId: "other", cursor })) break;
      })(),
      Code.InvalidArgument,
    );
    const transcript = await carol.getTranscript({ meetingId: "m" });
    expect(transcript.entries.map((e) => new TextDecoder().decode(e.content?.data))).toEqual([
      "while you were out",
    ]);
  });

  it("validates creation: a moderator exactly for MODERATED meetings", async () => {
    const tenantId = await newTenant();
    const alice = await meetingsFor(tenantId, "alice");
    await failure(
      alice.createMeeting({ title: "t", policy: MeetingTurnPolicy.MODERATED }),
      Code.InvalidArgument,
    );
    const created = await alice.createMeeting({
      title: "t",
      policy: MeetingTurnPolicy.MODERATED,
      moderatorId: "mod",
      participantIds: ["bob"],
    });
    expect(created.meeting?.id).toMatch(/^mtg_[0-9a-z]{26}$/);
    expect(created.meeting?.participants.map((p) => p.agentId)).toEqual(["bob", "alice", "mod"]);
    await failure(
      alice.createMeeting({ meetingId: created.meeting?.id ?? "", title: "again" }),
      Code.AlreadyExists,
    );
  });
});
