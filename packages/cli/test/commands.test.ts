// The commands against a running hub, as an operator uses them: tenants, tokens and API keys,
// agents, messages (send, request, tail), dead letters, a meeting's events, usage and audit.

import { createHub, type Hub, type Listener, silentLogger } from "@acb/hub";
import { createClient } from "@acb/sdk/node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { acb } from "./io.js";

let hub: Hub;
let listener: Listener;
let admin: string[];
const as = (token: string) => ["--url", listener.url, "--token", token];
const tokens: Record<string, string> = {};

beforeAll(async () => {
  hub = await createHub({ mode: "dev", logger: silentLogger });
  listener = await hub.listen({ host: "127.0.0.1", port: 0 });
  admin = as(await hub.issueAdminToken());
  expect((await acb(["tenant", "create", "ops", ...admin])).code).toBe(0);
  for (const [agent, role] of [
    ["operator", "admin"],
    ["alice", "agent-full"],
    ["bob", "agent-full"],
  ] as const) {
    const r = await acb([
      "token",
      "issue",
      agent,
      "--tenant",
      "ops",
      "--role",
      role,
      "--json",
      ...admin,
    ]);
    expect(r.code, r.stderr).toBe(0);
    tokens[agent] = (JSON.parse(r.stdout) as { accessToken: string }).accessToken;
  }
}, 60_000);

afterAll(async () => {
  await hub?.close();
});

it("creates, lists and revokes API keys, and a key works as a credential", async () => {
  const created = await acb([
    "apikey",
    "create",
    "carol",
    "--name",
    "batch",
    "--json",
    ...as(tokens["operator"] ?? ""),
  ]);
  expect(created.code, created.stderr).toBe(0);
  const key = JSON.parse(created.stdout) as { id: string; secret: string };
  const listed = await acb(["apikey", "list", "--json", ...as(tokens["operator"] ?? "")]);
  expect(JSON.parse(listed.stdout)).toContainEqual(
    expect.objectContaining({
      id: key.id,
      agentId: "carol",
      roles: ["agent-full"],
      description: "batch",
    }),
  );
  const put = await acb(["context", "put", "note", "--value", '{"a":1}', ...as(key.secret)]);
  expect(put.code, put.stderr).toBe(0);
  const read = await acb(["context", "get", put.stdout.trim(), ...as(key.secret)]);
  expect(read.stdout).toBe('{"a":1}');
  expect((await acb(["apikey", "revoke", key.id, ...as(tokens["operator"] ?? "")])).code).toBe(0);
  const refused = await acb(["agents", "list", ...as(key.secret)]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("the hub refused the credential from --token");
});

it("sends, tails and requests messages; lists agents", async () => {
  const bob = createClient({ baseUrl: listener.url, token: tokens["bob"] ?? "" });
  try {
    // Wait for the tail's registration (an event of the registry), then send to it.
    const watch = bob.services.registry.watchAgents({});
    const tail = acb([
      "tail",
      "--register",
      "--count",
      "1",
      "--json",
      ...as(tokens["alice"] ?? ""),
    ]);
    for await (const e of watch) if (e.agent?.id === "alice") break;
    const sent = await acb(["send", "alice", "note", '{"n":1}', ...as(tokens["bob"] ?? "")]);
    expect(sent.code, sent.stderr).toBe(0);
    const tailed = await tail;
    expect(tailed.code, tailed.stderr).toBe(0);
    expect(JSON.parse(tailed.stdout)).toMatchObject({ from: "bob", kind: "note", value: { n: 1 } });

    await bob.register({ type: "planner" });
    const listed = await acb(["agents", "list", "--json", ...as(tokens["operator"] ?? "")]);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id: "bob", status: "online" }),
    ]);

    const answering = (async () => {
      for await (const m of bob.messages()) {
        if (m.type === "query") {
          await m.reply({ plan: `for ${JSON.stringify(m.value)}` });
          break;
        }
      }
    })();
    const asked = await acb([
      "request",
      "bob",
      "plan",
      '"x"',
      "--json",
      ...as(tokens["alice"] ?? ""),
    ]);
    expect(asked.code, asked.stderr).toBe(0);
    expect(JSON.parse(asked.stdout)).toMatchObject({ from: "bob", value: { plan: 'for "x"' } });
    await answering;
  } finally {
    await bob.close();
  }
  const unregistered = await acb(["tail", ...as(tokens["alice"] ?? "")]);
  expect(unregistered.code).toBe(1);
  expect(unregistered.stderr).toContain("acb tail --register registers it");
});

it("prints a meeting's events until it ends", async () => {
  const alice = createClient({ baseUrl: listener.url, token: tokens["alice"] ?? "" });
  try {
    const meeting = await alice.meetings.create({ title: "sync", participants: ["alice"] });
    await meeting.join();
    await meeting.start();
    await meeting.speak({ said: "hello" });
    await meeting.end("done");
    const watched = await acb([
      "meeting",
      "watch",
      meeting.id,
      "--json",
      ...as(tokens["alice"] ?? ""),
    ]);
    expect(watched.code, watched.stderr).toBe(0);
    const kinds = watched.stdout
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { kind: string }).kind);
    expect(kinds).toContain("spoke");
    expect(kinds.at(-1)).toBe("ended");
  } finally {
    await alice.close();
  }
});

it("lists and replays dead letters, shows usage and exports the audit log", async () => {
  const alice = createClient({ baseUrl: listener.url, token: tokens["alice"] ?? "" });
  try {
    await alice.register({ type: "worker" });
    await alice.sendTo("alice", "job", { n: 2 });
    for await (const m of alice.messages({ manualAck: true })) {
      await m.nack({ deadLetter: true, error: "cannot do it" });
      break;
    }
  } finally {
    await alice.close();
  }
  const op = as(tokens["operator"] ?? "");
  const dls = await acb(["dead-letters", "list", "--agent", "*", "--json", ...op]);
  expect(dls.code, dls.stderr).toBe(0);
  const [dl] = JSON.parse(dls.stdout) as { id: string; kind: string; lastError: string }[];
  expect(dl).toMatchObject({ kind: "job", lastError: "cannot do it" });
  const replayed = await acb(["dead-letters", "replay", dl?.id ?? "", "--json", ...op]);
  expect(JSON.parse(replayed.stdout)).toEqual({ replayed: 1, notFound: [] });
  const neither = await acb(["dead-letters", "replay", ...op]);
  expect(neither.code).toBe(2);

  const usage = await acb(["usage", "--json", ...op]);
  expect((JSON.parse(usage.stdout) as { messages: number }).messages).toBeGreaterThan(0);
  const audit = await acb(["audit", "export", ...op]);
  expect(audit.code, audit.stderr).toBe(0);
  expect(audit.stdout).toContain('"action":"apikey.create"');
  const platform = await acb(["usage", ...admin]);
  expect(platform.code).toBe(2);
  expect(platform.stderr).toContain("say which tenant with --tenant");
});
