// A three-agent meeting on an embedded hub: round-robin turns with a 1 s turn timeout (the
// protocol's minimum). The planner and the reviewer answer when they get the turn; the researcher
// stays silent once, so its turn times out and the hub moves on. Run it with
// `npm run example:meeting` (`npm run demo` runs it after the context demo).

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
  const watches = handles.map(([name, h]) =>
    h.onTurn(async (turn) => {
      if (name === "researcher") {
        say(name, `got turn ${turn.turnNumber} and stays silent…`);
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
    if (e.kind === "turn-granted") say("hub", `turn ${e.turnNumber} → ${e.subjectId}`);
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
