// Rules of authentication and of the calls around it that a client sees beyond a credential's own
// answers: the audit of a credential's use, the limits on failed authentication, what a platform
// admin may call, the RPCs that need no credential, the Authorization header's syntax, and what
// GetServerInfo shows to whom. The limit case speaks from addresses of its own (127.x.y.z, a
// connection bound to each), so the failures it makes count for none of the run's other cases; it
// is skipped against a hub that is not on this host's IPv4 loopback.

import { randomBytes } from "node:crypto";
import type { AuditRecord } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { ServerReflection as ReflectionV1 } from "@acb/gen/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ReflectionV1alpha } from "@acb/gen/grpc/reflection/v1alpha/reflection_pb";
import { ConnectError, createClient } from "@connectrpc/connect";
import { CaseFailure, CaseSkipped, type ConformanceCase, check } from "../case.js";
import { type CaseContext, type Clients, durationMs } from "../harness.js";
import { Code, poll } from "../wire.js";

/** Every record of `tenantId` with `action`, read in pages of 1000. */
async function recordsOf(t: CaseContext, tenantId: string, action: string) {
  const records: AuditRecord[] = [];
  let pageToken = "";
  for (let page = 0; page < 50; page++) {
    const res = await t.admin.admin.queryAuditLog({ tenantId, action, pageSize: 1000, pageToken });
    records.push(...res.records);
    if (res.nextPageToken === "") return records;
    pageToken = res.nextPageToken;
  }
  throw new Error("QueryAuditLog did not end within 50 pages");
}

const describe = (r: AuditRecord) =>
  `${r.actor} ${r.outcome} ${r.target} credential=${r.details["credential"] ?? ""}`;

/** The code a call ends with (OK when it succeeds) and, when refused, its error. */
async function outcome(call: Promise<unknown>): Promise<{ code: Code | "OK"; err?: ConnectError }> {
  try {
    await call;
    return { code: "OK" };
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, err: e };
  }
}

const codeName = (c: Code | "OK") => (c === "OK" ? "OK" : Code[c]);

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** A JWT with these claims and a signature no hub made. */
function forged(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub: "forger", roles: ["agent-full"], iat: now, nbf: now, exp: now + 3600 };
  return `${b64url({ alg: "EdDSA", typ: "JWT" })}.${b64url({ ...payload, ...claims })}.${randomBytes(64).toString("base64url")}`;
}

const reflection = [
  ["v1", ReflectionV1],
  ["v1alpha", ReflectionV1alpha],
] as const;

/** The longest the case presents failures before it expects a limit. */
const MAX_FAILURES = 1_000;

/** Thrown when a limit's window ended before a check that needed it: the case starts again. */
class WindowEnded extends Error {}

interface Refusal {
  /** Failures answered UNAUTHENTICATED before the limit. */
  before: number;
  limit: string;
  /** Until when (local clock) the limit holds, by its RetryInfo. */
  until: number;
}

/**
 * Presents failures with `present` (one per call, from the clients `next` gives) until one is
 * RESOURCE_EXHAUSTED; every one before it must be UNAUTHENTICATED.
 */
async function untilLimited(
  next: (i: number) => Clients,
  present: (c: Clients) => Promise<unknown>,
  what: string,
): Promise<Refusal> {
  for (let i = 0; i < MAX_FAILURES; i++) {
    const sent = Date.now();
    const r = await outcome(present(next(i)));
    if (r.code === Code.ResourceExhausted && r.err) {
      const info = r.err.findDetails(RetryInfoSchema)[0];
      check(info, `${what}: RESOURCE_EXHAUSTED carries no RetryInfo`);
      const delay = durationMs(info.retryDelay);
      check(
        delay > 0 && delay <= 60_000,
        `${what}: RetryInfo retry_delay is ${delay} ms, not within (0, 60 s]`,
      );
      check(info.limit !== "", `${what}: RetryInfo names no limit`);
      return { before: i, limit: info.limit, until: sent + delay };
    }
    check(
      r.code === Code.Unauthenticated,
      `${what}: failure ${i + 1} was answered ${codeName(r.code)}, not UNAUTHENTICATED (or RESOURCE_EXHAUSTED past the limit)`,
    );
  }
  throw new CaseFailure(`${what}: ${MAX_FAILURES} failures in a row were never limited`);
}

/** Expects `code` from `call`; a limit expected while its window has ended starts the case again. */
async function expectOutcome(
  call: Promise<unknown>,
  code: Code | "OK",
  what: string,
  limited?: Refusal,
) {
  const r = await outcome(call);
  if (r.code === code) return;
  if (limited && code === Code.ResourceExhausted && Date.now() >= limited.until - 100) {
    throw new WindowEnded();
  }
  check(
    false,
    `${what}: ${codeName(r.code)}, not ${codeName(code)}${r.err ? ` (${r.err.rawMessage})` : ""}`,
  );
}

export const authRuleCases: ConformanceCase[] = [
  {
    id: "auth.audit-authenticate",
    level: "MUST",
    profile: "security",
    description:
      "The use of an access token and of each API key is in its tenant's audit log as auth.authenticate, success, with the credential's agent, target and kind",
    spec: "acb.v1.AdminService.QueryAuditLog",
    rules: ["admin.audit-authenticate"],
    requires: ["admin"],
    async run(t) {
      const tenant = await t.tenant();
      const issued = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: "aa-t",
        roles: [Role.AGENT_FULL],
      });
      await t.clientsWith(`Bearer ${issued.tokens?.accessToken ?? ""}`).auth.whoAmI({});
      // Two keys, each used: the use of every key is recorded, not only of the first one seen.
      const keys: { id: string; agent: string }[] = [];
      for (const agent of ["aa-k1", "aa-k2"]) {
        const key = await t.admin.auth.createApiKey({
          tenantId: tenant.id,
          agentId: agent,
          roles: [Role.OBSERVER],
        });
        await t.clientsWith(`Bearer ${key.secret}`).auth.whoAmI({});
        keys.push({ id: key.key?.id ?? "", agent });
      }
      const want = [
        { actor: "aa-t", target: "agent/aa-t", kind: "jwt" },
        ...keys.map((k) => ({ actor: k.agent, target: `apikey/${k.id}`, kind: "api-key" })),
      ];
      const matches = (r: AuditRecord, w: (typeof want)[number]) =>
        r.tenantId === tenant.id &&
        r.action === "auth.authenticate" &&
        r.outcome === "success" &&
        r.actor === w.actor &&
        r.target === w.target &&
        r.details["credential"] === w.kind;
      // A hub may write its records a moment later.
      const { seen: last, missing } = await awaitRecords(
        t,
        "the auth.authenticate records",
        () => recordsOf(t, tenant.id, "auth.authenticate"),
        want,
        matches,
      );
      check(
        missing.length === 0,
        `no auth.authenticate success record for ${missing.map((w) => `${w.actor} (${w.target}, ${w.kind})`).join(", ")}; the tenant's records: [${last.map(describe).join("; ")}]`,
      );
    },
  },
  {
    id: "security.auth-failure-limit",
    level: "MUST",
    profile: "security",
    description:
      "Failed authentications past a limit per address and per tenant named are RESOURCE_EXHAUSTED with RetryInfo; other addresses, other tenants, other errors and valid credentials are not limited",
    spec: "acb.v1",
    rules: ["security.auth-failure-limit"],
    timeoutMs: 30_000,
    async run(t) {
      const tenant = await t.tenant();
      const issued = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: "afl-a",
        roles: [Role.AGENT_FULL],
      });
      const valid = `Bearer ${issued.tokens?.accessToken ?? ""}`;
      for (let attempt = 1; ; attempt++) {
        try {
          await limitsHold(t, tenant.id, valid);
          return;
        } catch (err) {
          // A limit's window ended between reaching it and a check that needed it (a slow run
          // across the end of a minute): once more, from new addresses.
          if (!(err instanceof WindowEnded) || attempt >= 3) throw err;
        }
      }
    },
  },
  {
    id: "security.platform-admin",
    level: "MUST",
    profile: "security",
    description:
      'A platform admin (tenant "*") is PERMISSION_DENIED for RPCs that act within a tenant, and served by AdminService, AuthService and GetServerInfo',
    spec: "acb.v1",
    rules: ["security.platform-admin"],
    requires: ["admin"],
    async run(t) {
      const me = await t.admin.auth.whoAmI({});
      if (me.tenantId !== "*") {
        throw new CaseSkipped(`the run's admin credential is of tenant "${me.tenantId}", not "*"`);
      }
      const refused: [string, () => Promise<unknown>][] = [
        ["RegistryService.ListAgents", () => t.admin.registry.listAgents({})],
        ["ContextService.ListContexts", () => t.admin.contexts.listContexts({})],
        [
          "MessagingService.ListTopicSubscriptions",
          () => t.admin.messaging.listTopicSubscriptions({}),
        ],
        [
          "ConversationService.ListConversations",
          () => t.admin.conversations.listConversations({}),
        ],
        ["MeetingService.ListMeetings", () => t.admin.meetings.listMeetings({})],
        [
          "LargeContextService.GetUploadStatus",
          () => t.admin.large.getUploadStatus({ uploadId: "x" }),
        ],
      ];
      for (const [rpc, call] of refused) {
        await expectOutcome(call(), Code.PermissionDenied, `${rpc} by a platform admin`);
      }
      await expectOutcome(
        t.admin.admin.listTenants({ pageSize: 1 }),
        "OK",
        "AdminService.ListTenants by a platform admin",
      );
      await expectOutcome(
        t.admin.auth.listApiKeys({ tenantId: (await t.tenant()).id }),
        "OK",
        "AuthService.ListApiKeys by a platform admin",
      );
      await expectOutcome(
        t.admin.info.getServerInfo({}),
        "OK",
        "ServerInfoService.GetServerInfo by a platform admin",
      );
    },
  },
  {
    id: "security.anonymous-rpcs",
    level: "MUST",
    profile: "security",
    description:
      "grpc.health.v1.Health (Check, List, Watch) and server reflection (v1, v1alpha) answer without a credential, and with an invalid one",
    spec: "acb.v1.ServerInfoService",
    rules: ["security.anonymous-rpcs"],
    async run(t) {
      const callers: [string, string | undefined][] = [
        ["without a credential", undefined],
        ["with an invalid credential", "Bearer not-a-token"],
      ];
      for (const [how, authorization] of callers) {
        const { health } = t.clientsWith(authorization);
        const status = await outcome(health.check({ service: "" }));
        check(status.code === "OK", `Health.Check ${how}: ${codeName(status.code)}, not OK`);
        const list = await outcome(health.list({}));
        check(list.code === "OK", `Health.List ${how}: ${codeName(list.code)}, not OK`);
        const watch = t.stream((signal) => health.watch({ service: "" }, { signal }));
        await watch.next(`Health.Watch ${how}`, t.settings.waitMs);
        watch.close();
        for (const [version, service] of reflection) {
          const transport = t.transportWith(authorization);
          const client = createClient(service, transport);
          const answers = t.stream((signal) =>
            client.serverReflectionInfo(
              (async function* () {
                yield { messageRequest: { case: "listServices" as const, value: "" } };
              })(),
              { signal },
            ),
          );
          const answer = await answers.next(
            `ServerReflectionInfo (${version}) ${how}`,
            t.settings.waitMs,
          );
          check(
            answer.messageResponse.case === "listServicesResponse",
            `ServerReflectionInfo (${version}) ${how} answered ${answer.messageResponse.case}, not listServicesResponse`,
          );
          answers.close();
        }
      }
    },
  },
  {
    id: "security.bearer-syntax",
    level: "MUST",
    profile: "security",
    description:
      'A valid token is accepted after the scheme "Bearer" in any letter case and after more than one space',
    spec: "acb.v1",
    rules: ["security.bearer-syntax"],
    async run(t) {
      const tenant = await t.tenant();
      const issued = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: "bs-a",
        roles: [Role.AGENT_FULL],
      });
      const token = issued.tokens?.accessToken ?? "";
      for (const header of [`bearer ${token}`, `BEARER ${token}`, `Bearer   ${token}`]) {
        const me = await outcome(t.clientsWith(header).auth.whoAmI({}));
        check(
          me.code === "OK",
          `WhoAmI with the header "${header.slice(0, 10)}<token>": ${codeName(me.code)}, not OK`,
        );
      }
    },
  },
  {
    id: "security.server-info-caller",
    level: "MUST",
    profile: "security",
    description:
      "GetServerInfo shows limits to a caller with a valid credential only, and node_id to admins only",
    spec: "acb.v1.ServerInfoService.GetServerInfo",
    rules: ["security.server-info-caller"],
    async run(t) {
      const tenant = await t.tenant();
      const agent = await tenant.agent("si-a", { register: false });
      const callers: [string, Clients, boolean, boolean][] = [
        ["without a credential", t.clientsWith(undefined), false, false],
        ["with an invalid credential", t.clientsWith("Bearer not-a-token"), false, false],
        ["with an agent's token", agent, true, false],
        ["with an admin's token", t.admin, true, true],
      ];
      for (const [how, clients, limits, node] of callers) {
        const info = await clients.info.getServerInfo({});
        const shown = (info.limits?.maxInlinePayloadBytes ?? 0n) > 0n;
        check(
          shown === limits,
          `GetServerInfo ${how} ${shown ? "shows" : "does not show"} the hub's limits`,
        );
        check(
          (info.nodeId !== "") === node,
          `GetServerInfo ${how} ${info.nodeId !== "" ? "shows" : "does not show"} node_id`,
        );
      }
    },
  },
];

/** One pass of security.auth-failure-limit, from addresses no earlier pass used. */
async function limitsHold(t: CaseContext, tenantId: string, valid: string): Promise<void> {
  // A /24 of the loopback chosen at random: a run in the same minute starts from fresh counters.
  const net = `127.${10 + ((randomBytes(1)[0] ?? 0) % 240)}.${randomBytes(1)[0] ?? 0}`;
  let host = 0;
  const address = () => `${net}.${++host}`;
  const from = (addr: string, authorization: string | undefined): Clients => {
    const clients = t.clientsFrom(addr, authorization);
    if (!clients) throw new CaseSkipped("the hub is not on this host's IPv4 loopback");
    return clients;
  };
  const garbage = () => `Bearer not-a-token-${randomBytes(8).toString("hex")}`;
  // A JWT naming no tenant (and no valid tenant id), and one naming a tenant.
  const noTenant = () => `Bearer ${forged({})}`;
  const naming = (tid: string) => `Bearer ${forged({ tid })}`;
  const whoAmI = (c: Clients) => c.auth.whoAmI({});
  // Per address: failures that name no tenant, from one address, until limited.
  const a1 = address();
  const perAddress = await untilLimited(
    () => from(a1, garbage()),
    whoAmI,
    "malformed tokens from one address",
  );
  const a2 = address();
  await untilLimited(
    () => from(a2, noTenant()),
    whoAmI,
    "forged JWTs without a tenant from one address",
  );
  // The limited address: a valid credential still works; an error other than a failed
  // authentication is not limited (an empty refresh token is INVALID_ARGUMENT).
  await expectOutcome(
    whoAmI(from(a1, valid)),
    "OK",
    "a valid token from an address past its limit",
  );
  await expectOutcome(
    from(a1, undefined).auth.refreshToken({ refreshToken: "" }),
    Code.InvalidArgument,
    "RefreshToken with an empty token from an address past its limit",
  );
  await expectOutcome(
    whoAmI(from(a1, garbage())),
    Code.ResourceExhausted,
    "a malformed token from an address past its limit",
    perAddress,
  );
  await expectOutcome(
    from(a1, undefined).auth.refreshToken({
      refreshToken: `acbr_${randomBytes(16).toString("hex")}`,
    }),
    Code.ResourceExhausted,
    "an unknown refresh token from an address past its limit",
    perAddress,
  );
  // Other addresses are not limited by it.
  const b = address();
  await expectOutcome(
    whoAmI(from(b, garbage())),
    Code.Unauthenticated,
    "a malformed token from another address",
  );
  await expectOutcome(
    whoAmI(from(b, noTenant())),
    Code.Unauthenticated,
    "a forged JWT without a tenant from another address",
  );

  // Per tenant: failures naming one tenant, spread over addresses that each stay well below the
  // address limit, until limited.
  const share = Math.max(1, Math.floor(perAddress.before / 2));
  let current = address();
  const perTenant = await untilLimited(
    (i) => {
      if (i > 0 && i % share === 0) current = address();
      return from(current, naming(tenantId));
    },
    whoAmI,
    `forged JWTs naming tenant "${tenantId}" from addresses below their limit`,
  );
  check(
    perTenant.limit !== perAddress.limit,
    `the tenant's limit and the address's are both named "${perTenant.limit}"`,
  );
  const d = address();
  await expectOutcome(
    whoAmI(from(d, naming(tenantId))),
    Code.ResourceExhausted,
    "a forged JWT naming the limited tenant from a new address",
    perTenant,
  );
  await expectOutcome(
    whoAmI(from(d, naming(`acbc-other-${randomBytes(4).toString("hex")}`))),
    Code.Unauthenticated,
    "a forged JWT naming another tenant",
  );
  await expectOutcome(whoAmI(from(d, valid)), "OK", "a valid token of the limited tenant");

  // Failures that name no tenant (an unknown refresh token, a JWT whose tid is no tenant id) count
  // only for their address: spread over addresses, twice the tenant limit of them is never
  // limited.
  const kinds: [string, (c: (a: string | undefined) => Clients) => Promise<unknown>][] = [
    [
      "an unknown refresh token",
      (c) =>
        c(undefined).auth.refreshToken({ refreshToken: `acbr_${randomBytes(16).toString("hex")}` }),
    ],
    ['a forged JWT with tid "_abc"', (c) => whoAmI(c(naming("_abc")))],
    ['a forged JWT with tid "abc_"', (c) => whoAmI(c(naming("abc_")))],
  ];
  let spread = address();
  let used = 0;
  for (let i = 0; i < 2 * perTenant.before + 2; i++) {
    for (const [what, present] of kinds) {
      if (used >= share) {
        spread = address();
        used = 0;
      }
      used++;
      const addr = spread;
      await expectOutcome(
        present((a) => from(addr, a)),
        Code.Unauthenticated,
        `${what} (failure ${i + 1} of its kind, from addresses below their limit)`,
      );
    }
  }

  // The refusals past each limit are in the audit log (a hub may write its records a moment
  // later). The address is compared by its end: a hub may see it as an IPv4-mapped IPv6 address.
  const want = [
    { peer: a1, claimed: "", limit: perAddress.limit },
    { peer: current, claimed: tenantId, limit: perTenant.limit },
  ];
  const found = (r: AuditRecord, w: (typeof want)[number]) =>
    r.outcome === "denied" &&
    (r.details["peer"] ?? "").replace(/^::ffff:/, "") === w.peer &&
    r.details["claimed_tenant"] === w.claimed &&
    r.details["limit"] === w.limit;
  const { seen, missing } = await awaitRecords(
    t,
    "the auth.rate_limited records",
    () => recordsOf(t, "*", "auth.rate_limited"),
    want,
    found,
  );
  check(
    missing.length === 0,
    `no auth.rate_limited record (outcome denied) for ${missing.map((w) => `peer ${w.peer}, claimed tenant "${w.claimed}", limit ${w.limit}`).join("; ")}; the records of this run's addresses: [${seen
      .filter((r) => (r.details["peer"] ?? "").includes(`${net}.`))
      .map((r) => `${r.outcome} ${JSON.stringify(r.details)}`)
      .join("; ")}]`,
  );
}

/**
 * Reads `records()` until it holds a record that `matches` each of `want`, for as long as the
 * suite waits (a hub may write its records a moment later). Answers the records last read and
 * the wants none of them matched: none once all were found.
 */
async function awaitRecords<W>(
  t: CaseContext,
  what: string,
  records: () => Promise<AuditRecord[]>,
  want: readonly W[],
  matches: (r: AuditRecord, w: W) => boolean,
): Promise<{ seen: AuditRecord[]; missing: W[] }> {
  let seen: AuditRecord[] = [];
  const missing = () => want.filter((w) => !seen.some((r) => matches(r, w)));
  try {
    await poll(
      async () => {
        seen = await records();
        return missing().length === 0 ? true : undefined;
      },
      what,
      t.settings.waitMs,
      t.signal,
      100,
    );
  } catch (err) {
    if (!(err instanceof CaseFailure)) throw err;
  }
  return { seen, missing: missing() };
}
