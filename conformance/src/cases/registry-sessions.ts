// Registry sessions and registration checks: what a Register returns and keeps, how take_over
// replaces a session, and what a Register may not claim (groups, malformed public keys).

import { createECDH, generateKeyPairSync } from "node:crypto";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ErrorInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { type Agent, AgentStatus } from "@acb/gen/acb/v1/registry_pb";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import { durationMs } from "../harness.js";
import { Code, expectCode, hex, reasonOf } from "../wire.js";

const requires = ["registry"];

/** A public key of `size` bytes that is no key (for refusals). */
const key = (keyId: string, kemId: number, size: number, fill: number) => ({
  keyId,
  kemId,
  publicKey: new Uint8Array(size).fill(fill),
});

/** A real X25519 (KEM 32) or P-256 (KEM 16, uncompressed point) public key. */
function realKey(keyId: string, kemId: 16 | 32) {
  const publicKey =
    kemId === 16
      ? new Uint8Array(createECDH("prime256v1").generateKeys())
      : new Uint8Array(
          Buffer.from(
            generateKeyPairSync("x25519").publicKey.export({ format: "jwk" }).x ?? "",
            "base64url",
          ),
        );
  return { keyId, kemId, publicKey };
}

const same = (a: readonly string[], b: readonly string[]) => a.join(",") === b.join(",");

/** Fails unless `agent` holds what was registered. */
function checkAgent(
  agent: Agent | undefined,
  want: {
    type: string;
    location: string;
    capabilities: string[];
    metadata: Record<string, string>;
    groups: string[];
    keys: { keyId: string; kemId: number; publicKey: Uint8Array }[];
  },
  what: string,
): asserts agent is Agent {
  check(agent, `${what}: no agent`);
  check(agent.type === want.type, `${what}: type "${agent.type}", not "${want.type}"`);
  check(
    agent.location === want.location,
    `${what}: location "${agent.location}", not "${want.location}"`,
  );
  check(
    same(agent.capabilities, want.capabilities),
    `${what}: capabilities [${agent.capabilities}], not [${want.capabilities}]`,
  );
  check(
    JSON.stringify(Object.entries(agent.metadata).sort()) ===
      JSON.stringify(Object.entries(want.metadata).sort()),
    `${what}: metadata ${JSON.stringify(agent.metadata)}, not ${JSON.stringify(want.metadata)}`,
  );
  check(same(agent.groups, want.groups), `${what}: groups [${agent.groups}], not [${want.groups}]`);
  const keys = agent.publicKeys.map((k) => `${k.keyId}/${k.kemId}/${hex(k.publicKey)}`);
  const wantKeys = want.keys.map((k) => `${k.keyId}/${k.kemId}/${hex(k.publicKey)}`);
  check(same(keys, wantKeys), `${what}: public keys [${keys}], not [${wantKeys}] in that order`);
}

export const registrySessionCases: ConformanceCase[] = [
  {
    id: "registry.sessions",
    level: "MUST",
    profile: "registry",
    description:
      "Each Register opens a new session; take_over replaces the registration but keeps created_at; a Heartbeat of a replaced session is FAILED_PRECONDITION",
    spec: "acb.v1.RegistryService.Register",
    rules: ["registry.sessions", "registry.register-get", "registry.status-filter"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ heartbeatIntervalMs: 4_000, presenceTimeoutMs: 20_000 });
      const a = await tenant.agent("ses-a", {
        register: false,
        registration: { groups: ["ses-g1", "ses-g2"] },
      });
      const first = {
        type: "ses-t1",
        location: "ses-l1",
        capabilities: ["c1", "c2"],
        metadata: { k1: "v1", k2: "v2" },
        groups: ["ses-g1", "ses-g2"],
        keys: [realKey("x25519-1", 32), realKey("p256-1", 16)],
      };
      const r1 = await a.registry.register({
        agentId: "ses-a",
        ...first,
        publicKeys: first.keys,
      });
      checkAgent(r1.agent, first, "the agent Register returned");
      check(
        durationMs(r1.heartbeatInterval) === 4_000 && durationMs(r1.presenceTimeout) === 20_000,
        `Register answered heartbeat_interval ${durationMs(r1.heartbeatInterval)} ms and presence_timeout ${durationMs(r1.presenceTimeout)} ms, not the tenant's 4,000 and 20,000`,
      );
      const session1 = r1.agent.sessionId;
      const created = r1.agent.createdAt && timestampMs(r1.agent.createdAt);
      check(
        session1 !== "" && created !== undefined,
        "Register returned no session_id or created_at",
      );
      const got = (await a.registry.getAgent({ agentId: "ses-a" })).agent;
      checkAgent(got, first, "GetAgent after the first Register");
      check(got.sessionId === session1, "GetAgent shows another session than Register returned");
      const beat = await a.registry.heartbeat({ agentId: "ses-a", sessionId: session1 });
      check(
        beat.status === AgentStatus.ONLINE && durationMs(beat.heartbeatInterval) === 4_000,
        `a Heartbeat answered ${AgentStatus[beat.status]} and heartbeat_interval ${durationMs(beat.heartbeatInterval)} ms`,
      );

      const second = {
        type: "ses-t2",
        location: "ses-l2",
        capabilities: ["c3"],
        metadata: { k3: "v3" },
        groups: ["ses-g2"],
        keys: [realKey("x25519-2", 32)],
      };
      const r2 = await a.registry.register({
        agentId: "ses-a",
        takeOver: true,
        ...second,
        publicKeys: second.keys,
      });
      checkAgent(r2.agent, second, "the agent a take_over Register returned");
      const read = (await a.registry.getAgent({ agentId: "ses-a" })).agent;
      checkAgent(read, second, "GetAgent after a take_over Register");
      const session2 = read.sessionId;
      check(
        session2 !== "" && session2 !== session1 && r2.agent.sessionId === session2,
        `take_over left session_id "${session2}" (it was "${session1}")`,
      );
      const created2 = read.createdAt && timestampMs(read.createdAt);
      check(
        created2 === created,
        `created_at moved from ${created} to ${created2} on a second Register`,
      );
      await expectCode(
        a.registry.heartbeat({ agentId: "ses-a", sessionId: session1 }),
        Code.FailedPrecondition,
        "a Heartbeat naming the session take_over replaced",
      );
      await a.registry.heartbeat({ agentId: "ses-a", sessionId: session2 });
      await a.registry.heartbeat({ agentId: "ses-a" });
      await expectCode(
        a.registry.heartbeat({ agentId: "ses-b" }),
        Code.PermissionDenied,
        "a Heartbeat for another agent id",
      );
      const admin = await tenant.agent("ses-admin", { roles: [Role.ADMIN], register: false });
      for (const sessionId of ["", session2]) {
        await expectCode(
          admin.registry.heartbeat({ agentId: "ses-none", sessionId }),
          Code.NotFound,
          `an admin's Heartbeat (session_id "${sessionId}") for an agent never registered`,
        );
      }
      // Status filters: ses-a is ONLINE (a 20 s presence timeout).
      const listed = async (status: AgentStatus) => {
        const l = await a.registry.listAgents({ status });
        const d = await a.registry.discover({ status });
        return [l.agents.map((x) => x.id).join(","), d.agents.map((x) => x.id).join(",")];
      };
      for (const [status, want] of [
        [AgentStatus.ONLINE, "ses-a"],
        [AgentStatus.OFFLINE, ""],
        [AgentStatus.UNKNOWN, ""],
        [AgentStatus.UNSPECIFIED, "ses-a"],
      ] as const) {
        const [l, d] = await listed(status);
        check(
          l === want && d === want,
          `with status ${AgentStatus[status]} ListAgents lists [${l}] and Discover [${d}], not [${want}]`,
        );
      }
    },
  },
  {
    id: "registry.register-checks",
    level: "MUST",
    profile: "registry",
    description:
      "Register refuses groups the credential does not grant and malformed public keys, and registers nothing then; an admin may register any agent with any groups",
    spec: "acb.v1.RegisterRequest.groups",
    rules: ["registry.register-checks"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("chk-a", {
        register: false,
        registration: { groups: ["chk-g1"] },
      });
      const register = (extra: Record<string, unknown>) =>
        a.registry.register({ agentId: "chk-a", type: "conformance", ...extra });
      await expectCode(
        register({ groups: ["chk-g1", "chk-g2"] }),
        Code.PermissionDenied,
        "Register with a group the credential does not grant",
      );
      await expectCode(
        register({ publicKeys: [key("k", 32, 32, 1), key("k", 16, 65, 4)] }),
        Code.InvalidArgument,
        "Register with two public keys of one key_id",
      );
      await expectCode(
        register({ publicKeys: [key("k1", 32, 65, 1)] }),
        Code.InvalidArgument,
        "Register with a 65-byte X25519 public key",
      );
      await expectCode(
        register({ publicKeys: [key("k1", 32, 32, 1), key("k2", 16, 32, 4)] }),
        Code.InvalidArgument,
        "Register with a 32-byte P-256 public key",
      );
      await expectCode(
        a.registry.getAgent({ agentId: "chk-a" }),
        Code.NotFound,
        "GetAgent of an agent whose every Register was refused",
      );
      const ok = await register({ groups: ["chk-g1"], publicKeys: [realKey("k1", 32)] });
      check(same(ok.agent?.groups ?? [], ["chk-g1"]), "a granted group was not registered");
      const admin = await tenant.agent("chk-admin", { roles: [Role.ADMIN], register: false });
      const other = await admin.registry.register({
        agentId: "chk-b",
        type: "conformance",
        groups: ["chk-any"],
      });
      check(
        other.agent?.id === "chk-b" && same(other.agent.groups, ["chk-any"]),
        "an admin could not register another agent with a group of its choice",
      );
    },
  },
  {
    id: "registry.error-reasons",
    level: "MUST",
    profile: "registry",
    description:
      "A Register refused for an ONLINE agent carries ErrorInfo AGENT_ONLINE naming the session that holds it; a Heartbeat of a replaced session carries SESSION_REPLACED",
    spec: "acb.v1.ErrorInfo",
    rules: ["registry.error-reasons", "registry.duplicate-online", "registry.sessions"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ heartbeatIntervalMs: 4_000, presenceTimeoutMs: 20_000 });
      const a = await tenant.agent("rsn-a", { register: false });
      const register = (takeOver: boolean) =>
        a.registry.register({ agentId: "rsn-a", type: "conformance", takeOver });
      const online = async (holder: string, what: string) => {
        const err = await expectCode(register(false), Code.AlreadyExists, what);
        const info = err.findDetails(ErrorInfoSchema)[0];
        check(info, `${what}: the refusal carries no ErrorInfo`);
        check(info.reason === "AGENT_ONLINE", `${what}: ErrorInfo reason "${info.reason}"`);
        check(
          info.metadata.session_id === holder,
          `${what}: ErrorInfo metadata session_id "${info.metadata.session_id}", not the holding session "${holder}"`,
        );
      };
      const first = (await register(false)).agent?.sessionId ?? "";
      await online(first, "a second Register of an ONLINE agent");
      const second = (await register(true)).agent?.sessionId ?? "";
      check(second !== "" && second !== first, "take_over returned no new session_id");
      await online(second, "a Register without take_over after a take_over");
      const err = await expectCode(
        a.registry.heartbeat({ agentId: "rsn-a", sessionId: first }),
        Code.FailedPrecondition,
        "a Heartbeat naming the session take_over replaced",
      );
      check(
        reasonOf(err) === "SESSION_REPLACED",
        `a Heartbeat of a replaced session: ErrorInfo reason "${reasonOf(err)}", not SESSION_REPLACED`,
      );
      await a.registry.heartbeat({ agentId: "rsn-a", sessionId: second });
    },
  },
  {
    id: "registry.list-paged",
    level: "MUST",
    profile: "registry",
    description:
      "Paging through ListAgents and Discover returns every agent exactly once, ordered by id, in pages of at most page_size",
    spec: "acb.v1.ListAgentsRequest",
    rules: ["pagination.complete", "registry.status-filter"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const admin = await tenant.agent("pg-admin", { roles: [Role.ADMIN], register: false });
      const ids = ["pg-e", "pg-b", "pg-d", "pg-a", "pg-c"];
      for (const id of ids) {
        await admin.registry.register({ agentId: id, type: "conformance", capabilities: ["pg"] });
      }
      const sorted = [...ids].sort();
      for (const [name, list] of [
        [
          "ListAgents",
          (pageToken: string) => admin.registry.listAgents({ pageSize: 2, pageToken }),
        ],
        [
          "Discover",
          (pageToken: string) =>
            admin.registry.discover({ capabilities: ["pg"], pageSize: 2, pageToken }),
        ],
      ] as const) {
        const seen: string[] = [];
        let pageToken = "";
        for (let page = 0; page < 10; page++) {
          const res = await list(pageToken);
          check(res.agents.length <= 2, `${name}: a page of size 2 held ${res.agents.length}`);
          seen.push(...res.agents.map((a) => a.id));
          if (res.nextPageToken === "") break;
          pageToken = res.nextPageToken;
        }
        check(same(seen, sorted), `${name} paged by two listed [${seen}], not [${sorted}]`);
      }
    },
  },
];
