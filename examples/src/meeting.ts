// A three-agent meeting on an embedded hub: round-robin turns with a 1 s turn timeout (the
// protocol's minimum). The planner and the reviewer answer when they get the turn; the researcher
// stays silent once, so its turn times out and the hub moves on. Run it with
// `./dev example meeting` (`./dev demo` runs it after the context demo).
//
// The lines come out in causal order: an observer prints the meeting's events in the hub's order,
// and an agent's own line about a turn waits until the observer has printed that turn's grant
// (the agent's stream and the observer's stream are two connections, either may be first).

import { createHub, silentLogger } from "@acb/hub";
import { AdminService, AuthService, createClient, type MeetingHandle, Role } from "@acb/sdk/node";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

const say = (who: string, what: string) => process.stdout.write(`${who.padEnd(10)} ${what}\n`);

/** What the agents say: typed content, sent as JSON. */
interface Remark {
  topic: string;
  text: string;
}

/** One-shot signals by key: wait(k) resolves once open(k) is called, before or after. */
function latches<K>() {
  const all = new Map<K, { opened: Promise<void>; open: () => void }>();
  const of = (key: K) => {
    let latch = all.get(key);
    if (!latch) {
      let open = () => {};
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      latch = { opened, open };
      all.set(key, latch);
    }
    return latch;
  };
  return { wait: (key: K) => of(key).opened, open: (key: K) => of(key).open() };
}

async function main(): Promise<void> {
  const hub = await createHub({ logger: silentLogger });
  const listener = await hub.listen({ host: "127.0.0.1", port: 0 });
  say("hub", `listening on ${listener.url}`);

  const admin = createConnectTransport({
    baseUrl: listener.url,
    httpVersion: "2",
    interceptors: [
      (next) => async (req) => {
        req.header.set("Authorization", `Bearer ${await hub.issueAdminToken()}`);
        return next(req);
      },
    ],
  });
  await createConnectClient(AdminService, admin).createTenant({ tenantId: "demo" });
  const auth = createConnectClient(AuthService, admin);
  const clientFor = async (agentId: string) =>
    createClient({
      baseUrl: listener.url,
      token:
        (await auth.issueToken({ tenantId: "demo", agentId, roles: [Role.AGENT_FULL] })).tokens
          ?.accessToken ?? "",
    });
  const names = ["planner", "researcher", "reviewer"] as const;
  const [planner, researcher, reviewer] = await Promise.all(names.map(clientFor));
  if (!planner || !researcher || !reviewer) throw new Error("missing client");

  // The planner creates the meeting; everyone opens it and joins.
  const meeting = await planner.meetings.create({
    id: "design-review",
    title: "Design review",
    agenda: ["storage seam", "timeouts"],
    participants: [...names],
    policy: "round-robin",
    turnTimeoutMs: 1_000,
    maxDurationMs: 60_000,
  });
  const handles: [string, MeetingHandle][] = [
    ["planner", meeting],
    ["researcher", researcher.meetings.open(meeting.id)],
    ["reviewer", reviewer.meetings.open(meeting.id)],
  ];
  for (const [name, h] of handles) {
    await h.join();
    say(name, `joined "${meeting.latest?.title}"`);
  }

  // Each agent reacts to its own turns. The researcher is "thinking" on its first turn and says
  // nothing, so the hub times that turn out after 1 s and gives the turn to the next agent.
  const lines: Record<string, string> = {
    planner: "Let's keep one MeetingStore with compare-and-set.",
    reviewer: "Agreed; the transition table is tested against the docs.",
  };
  // Turn numbers whose grant the observer has printed, and silent turns the researcher announced.
  const grantPrinted = latches<number>();
  const silenceSaid = latches<number>();
  const watches = handles.map(([name, h]) =>
    h.onTurn(async (turn) => {
      if (name === "researcher") {
        await grantPrinted.wait(turn.turnNumber);
        say(name, `got turn ${turn.turnNumber} and stays silent…`);
        silenceSaid.open(turn.turnNumber);
        return;
      }
      if (name === "planner" && turn.turnNumber > 1) {
        // The planner's second turn closes the meeting with a decision.
        await turn.speak<Remark>({ topic: "timeouts", text: "Decided: deadlines in the store." });
        await h.end("decision recorded");
        return;
      }
      await turn.speak<Remark>({ topic: "storage seam", text: lines[name] ?? "" }, { pass: true });
    }),
  );
  await Promise.all(watches.map((w) => w.ready));

  // An observer prints the meeting's events, replayed from the first, so none is missed however
  // fast the agents are.
  const events = meeting.events<Remark>({ fromBeginning: true });
  await meeting.start();
  for await (const e of events) {
    if (e.kind === "turn-granted") {
      say("hub", `turn ${e.turnNumber} → ${e.subjectId}`);
      grantPrinted.open(e.turnNumber);
      // The researcher's line about this turn comes before whatever follows it (its timeout).
      if (e.subjectId === "researcher") await silenceSaid.wait(e.turnNumber);
    }
    if (e.kind === "spoke") say(e.actorId, `“${e.entry?.content.text}”`);
    if (e.kind === "turn-timed-out") say("hub", `${e.subjectId}'s turn timed out`);
    if (e.kind === "ended") {
      say("hub", `meeting ended (${e.endReason})`);
      break;
    }
  }
  await Promise.all(watches.map((w) => w.done));

  let entries = 0;
  for await (const _ of meeting.transcript<Remark>()) entries++;
  say("planner", `transcript has ${entries} entries`);
  await hub.close();
}

main().catch((err: unknown) => {
  process.stderr.write(
    `meeting example failed: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
