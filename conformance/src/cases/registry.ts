// Registry profile: registration, discovery, presence.

import {
  type Agent,
  WatchAgentsResponse_Kind as AgentKind,
  AgentSchema,
  AgentStatus,
} from "@acb/gen/acb/v1/registry_pb";
import { toJson } from "@bufbuild/protobuf";
import { type ConformanceCase, check } from "../case.js";
import type { TestAgent } from "../harness.js";
import { Code, expectCode } from "../wire.js";

const requires = ["registry"];

export const registryCases: ConformanceCase[] = [
  {
    id: "registry.register-get",
    level: "MUST",
    profile: "registry",
    description: "A registered agent reads back as registered, ONLINE, in the caller's tenant",
    spec: "acb.v1.RegistryService.Register",
    rules: ["registry.register-get"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("reg-a", {
        registration: { capabilities: ["summarise"], location: "eu", metadata: { team: "x" } },
      });
      const { agent } = await a.registry.getAgent({ agentId: "reg-a" });
      check(agent, "GetAgent returned no agent");
      check(agent.id === "reg-a", `GetAgent returned id "${agent.id}"`);
      check(agent.tenantId === tenant.id, `tenant_id is "${agent.tenantId}", not "${tenant.id}"`);
      check(
        agent.status === AgentStatus.ONLINE,
        `status is ${AgentStatus[agent.status]}, not ONLINE`,
      );
      check(agent.capabilities.includes("summarise"), "capabilities were not kept");
      check(agent.metadata.team === "x", "metadata was not kept");
      await expectCode(
        a.registry.getAgent({ agentId: "nobody-here" }),
        Code.NotFound,
        "GetAgent of an unknown id",
      );
    },
  },
  {
    id: "registry.duplicate-online",
    level: "MUST",
    profile: "registry",
    description:
      "Registering an id ONLINE under another session is ALREADY_EXISTS unless take_over",
    spec: "acb.v1.RegistryService.Register",
    rules: ["registry.duplicate-online"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("dup-a");
      await expectCode(
        a.registry.register({ agentId: "dup-a", type: "conformance" }),
        Code.AlreadyExists,
        "a second Register of an ONLINE agent",
      );
      const taken = await a.registry.register({
        agentId: "dup-a",
        type: "conformance",
        takeOver: true,
      });
      check(
        taken.agent?.status === AgentStatus.ONLINE,
        "take_over did not register the agent ONLINE",
      );
    },
  },
  {
    id: "registry.discover",
    level: "MUST",
    profile: "registry",
    description: "Discover returns exactly the agents with the requested capability",
    spec: "acb.v1.RegistryService.Discover",
    rules: ["registry.discover"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("disc-a", {
        registration: { capabilities: ["translate", "ocr"] },
      });
      await tenant.agent("disc-b", { registration: { capabilities: ["ocr"] } });
      await tenant.agent("disc-c", { registration: { capabilities: ["plan"] } });
      const found = await a.registry.discover({ capabilities: ["ocr"] });
      const ids = found.agents.map((x) => x.id).sort();
      check(ids.join(",") === "disc-a,disc-b", `Discover(ocr) returned [${ids.join(", ")}]`);
      const both = await a.registry.discover({ capabilities: ["ocr", "translate"] });
      check(
        both.agents.map((x) => x.id).join(",") === "disc-a",
        `Discover(ocr, translate) returned [${both.agents.map((x) => x.id).join(", ")}]`,
      );
    },
  },
  {
    id: "registry.discover-filters",
    level: "MUST",
    profile: "registry",
    description:
      "Discover by type, by exact and by prefix location, by metadata and by all at once returns exactly the matching agents",
    spec: "acb.v1.DiscoverRequest",
    rules: ["registry.discover"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const agents = [
        { id: "f-1", type: "robot", location: "eu/paris", metadata: { tier: "gold" } },
        { id: "f-2", type: "robot", location: "eu/berlin", metadata: { tier: "silver" } },
        { id: "f-3", type: "human", location: "eu", metadata: { tier: "gold" } },
        { id: "f-4", type: "human", location: "us/nyc", metadata: { tier: "gold", x: "1" } },
      ];
      let caller: TestAgent | undefined;
      for (const a of agents) {
        const agent = await tenant.agent(a.id, { register: false });
        await agent.registry.register({
          agentId: a.id,
          type: a.type,
          location: a.location,
          metadata: a.metadata,
        });
        caller ??= agent;
      }
      if (!caller) throw new Error("no agent");
      const c = caller;
      const expect = async (
        q: Parameters<TestAgent["registry"]["discover"]>[0],
        ids: string[],
        what: string,
      ) => {
        const found = (await c.registry.discover(q)).agents.map((x) => x.id).sort();
        check(
          found.join(",") === ids.join(","),
          `Discover by ${what} returned [${found.join(", ")}], not [${ids.join(", ")}]`,
        );
      };
      await expect({ type: "robot" }, ["f-1", "f-2"], "type");
      await expect({ location: "eu" }, ["f-3"], "exact location");
      await expect({ location: "eu/" }, ["f-1", "f-2"], "location prefix");
      await expect({ metadata: { tier: "gold" } }, ["f-1", "f-3", "f-4"], "metadata");
      await expect({ metadata: { tier: "gold", x: "1" } }, ["f-4"], "two metadata pairs");
      await expect(
        { type: "human", metadata: { tier: "gold" }, location: "us/" },
        ["f-4"],
        "all at once",
      );
    },
  },
  {
    id: "registry.presence-timeout",
    level: "MUST",
    profile: "registry",
    description:
      "An agent without heartbeats goes OFFLINE after the presence timeout (WatchAgents says so)",
    spec: "acb.v1.RegistryService.WatchAgents",
    rules: ["registry.presence-timeout", "registry.watch", "registry.status-filter"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ presenceTimeoutMs: 300, heartbeatIntervalMs: 100 });
      const watcher = await tenant.agent("pres-w", { register: false });
      const watch = t.stream((signal) => watcher.registry.watchAgents({}, { signal }));
      await watch.waitFor(
        (e) => e.kind === AgentKind.READY,
        "WatchAgents READY",
        t.settings.waitMs,
      );
      const registering = Date.now();
      const a = await tenant.agent("pres-a");
      // A heartbeat while ONLINE changes no status: the next event of pres-a is its OFFLINE
      // (unless the heartbeat came after the timeout, as it may on a loaded machine).
      await a.registry.heartbeat({ agentId: "pres-a" });
      const withinTimeout = Date.now() - registering < 300;
      await watch.waitFor(
        (e) => e.kind === AgentKind.REGISTERED && e.agent?.id === "pres-a",
        "REGISTERED event of pres-a",
        t.settings.waitMs,
      );
      const next = await watch.waitFor(
        (e) => e.agent?.id === "pres-a",
        "pres-a going OFFLINE after a 300 ms presence timeout",
        t.settings.waitMs,
      );
      const wentOffline =
        next.kind === AgentKind.STATUS_CHANGED && next.agent?.status === AgentStatus.OFFLINE;
      check(
        wentOffline || !withinTimeout,
        `after REGISTERED and a heartbeat of an ONLINE agent came ${AgentKind[next.kind]} ${AgentStatus[next.agent?.status ?? 0]}, not STATUS_CHANGED OFFLINE`,
      );
      if (!wentOffline) {
        await watch.waitFor(
          (e) =>
            e.kind === AgentKind.STATUS_CHANGED &&
            e.agent?.id === "pres-a" &&
            e.agent.status === AgentStatus.OFFLINE,
          "pres-a going OFFLINE after a 300 ms presence timeout",
          t.settings.waitMs,
        );
      }
      const { agent } = await watcher.registry.getAgent({ agentId: "pres-a" });
      check(
        agent?.status === AgentStatus.OFFLINE,
        `GetAgent says ${AgentStatus[agent?.status ?? 0]}, not OFFLINE`,
      );
      const offline = await watcher.registry.listAgents({ status: AgentStatus.OFFLINE });
      const found = await watcher.registry.discover({ status: AgentStatus.OFFLINE });
      check(
        offline.agents.some((x) => x.id === "pres-a") &&
          found.agents.some((x) => x.id === "pres-a"),
        "ListAgents or Discover with status OFFLINE does not list an OFFLINE agent",
      );
      const online = await watcher.registry.listAgents({ status: AgentStatus.ONLINE });
      check(
        !online.agents.some((x) => x.id === "pres-a"),
        "ListAgents with status ONLINE lists an OFFLINE agent",
      );
      // An OFFLINE agent may register again without take_over.
      const again = await a.registry.register({ agentId: "pres-a", type: "conformance" });
      check(
        again.agent?.status === AgentStatus.ONLINE,
        "a Register of an OFFLINE agent did not bring it back ONLINE",
      );
      await watch.waitFor(
        (e) => e.kind === AgentKind.REGISTERED && e.agent?.id === "pres-a",
        "REGISTERED event of pres-a registering again",
        t.settings.waitMs,
      );
      await watch.waitFor(
        (e) =>
          e.kind === AgentKind.STATUS_CHANGED &&
          e.agent?.id === "pres-a" &&
          e.agent.status === AgentStatus.OFFLINE,
        "pres-a going OFFLINE again",
        t.settings.waitMs,
      );
      const beat = await a.registry.heartbeat({ agentId: "pres-a" });
      check(beat.status === AgentStatus.ONLINE, "a heartbeat did not bring the agent back ONLINE");
    },
  },
  {
    id: "registry.unregister",
    level: "MUST",
    profile: "registry",
    description: "An unregistered agent is NOT_FOUND afterwards",
    spec: "acb.v1.RegistryService.Unregister",
    rules: ["registry.unregister", "registry.watch"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("unreg-a");
      const b = await tenant.agent("unreg-b");
      const watch = t.stream((signal) => b.registry.watchAgents({}, { signal }));
      await watch.waitFor(
        (e) => e.kind === AgentKind.READY,
        "WatchAgents READY",
        t.settings.waitMs,
      );
      await expectCode(
        a.registry.unregister({ agentId: "unreg-b" }),
        Code.PermissionDenied,
        "Unregister of another agent id",
      );
      await a.registry.unregister({ agentId: "unreg-a" });
      const gone = await watch.waitFor(
        (e) => e.kind !== AgentKind.READY,
        "UNREGISTERED event of unreg-a",
        t.settings.waitMs,
      );
      check(
        gone.kind === AgentKind.UNREGISTERED && gone.agent?.id === "unreg-a",
        `the event after Unregister is ${AgentKind[gone.kind]} of ${gone.agent?.id}, not UNREGISTERED of unreg-a`,
      );
      await expectCode(
        a.registry.getAgent({ agentId: "unreg-a" }),
        Code.NotFound,
        "GetAgent after Unregister",
      );
      await expectCode(
        a.registry.unregister({ agentId: "unreg-a" }),
        Code.NotFound,
        "a second Unregister",
      );
      await b.registry.getAgent({ agentId: "unreg-b" });
      await expectCode(
        a.registry.heartbeat({ agentId: "unreg-a" }),
        Code.NotFound,
        "Heartbeat after Unregister",
      );
    },
  },
  {
    id: "registry.watch-events",
    level: "MUST",
    profile: "registry",
    description:
      "A REGISTERED event carries the agent as GetAgent reads it after the Register; UNREGISTERED the agent as it was",
    spec: "acb.v1.WatchAgentsResponse.agent",
    rules: ["registry.watch-events", "registry.watch"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ heartbeatIntervalMs: 4_000, presenceTimeoutMs: 20_000 });
      const watcher = await tenant.agent("wev-w", { register: false });
      const a = await tenant.agent("wev-a", {
        register: false,
        registration: { groups: ["wev-g"] },
      });
      const stream = t.stream((signal) => watcher.registry.watchAgents({}, { signal }));
      await stream.waitFor(
        (e) => e.kind === AgentKind.READY,
        "WatchAgents READY",
        t.settings.waitMs,
      );
      const same = async (kind: AgentKind, want: Agent | undefined, what: string) => {
        const e = await stream.waitFor(
          (x) => x.agent?.id === "wev-a",
          `the ${AgentKind[kind]} event ${what}`,
          t.settings.waitMs,
        );
        check(
          e.kind === kind,
          `${what}: the next event is ${AgentKind[e.kind]}, not ${AgentKind[kind]}`,
        );
        check(want && e.agent, `${what}: no agent to compare`);
        // last_seen moves with every heartbeat and status is the event's own: compared apart.
        const got = toJson(AgentSchema, e.agent) as Record<string, unknown>;
        const read = toJson(AgentSchema, want) as Record<string, unknown>;
        const keys = [...new Set([...Object.keys(got), ...Object.keys(read)])].filter(
          (k) => k !== "lastSeen" && k !== "status",
        );
        const wrong = keys.filter((k) => JSON.stringify(got[k]) !== JSON.stringify(read[k]));
        check(
          wrong.length === 0,
          `${what}: the event's agent differs from GetAgent in ${wrong.map((k) => `${k} (${JSON.stringify(got[k])} against ${JSON.stringify(read[k])})`).join(", ")}`,
        );
        return e;
      };
      await a.registry.register({
        agentId: "wev-a",
        type: "wev-t",
        location: "wev-l",
        capabilities: ["c1", "c2"],
        metadata: { k: "v" },
        groups: ["wev-g"],
      });
      const read = (await a.registry.getAgent({ agentId: "wev-a" })).agent;
      const registered = await same(AgentKind.REGISTERED, read, "of Register");
      check(
        registered.agent?.status === AgentStatus.ONLINE,
        `the REGISTERED event's agent is ${AgentStatus[registered.agent?.status ?? 0]}, not ONLINE`,
      );
      const before = (await a.registry.getAgent({ agentId: "wev-a" })).agent;
      await a.registry.unregister({ agentId: "wev-a" });
      await same(AgentKind.UNREGISTERED, before, "of Unregister");
    },
  },
];
