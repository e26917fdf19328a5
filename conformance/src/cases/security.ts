// Security profile: authentication, roles, tenant isolation, bad input.

import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ViolationsSchema } from "@acb/gen/buf/validate/validate_pb";
import { type ConformanceCase, check } from "../case.js";
import { Code, expectCode } from "../wire.js";

const enc = new TextEncoder();
const json = (v: unknown) => ({
  contentType: "application/json",
  data: enc.encode(JSON.stringify(v)),
});

export const securityCases: ConformanceCase[] = [
  {
    id: "security.unauthenticated",
    level: "MUST",
    profile: "security",
    description: "A call without a credential, or with a forged one, is UNAUTHENTICATED",
    spec: "acb.v1.AuthService",
    rules: ["security.authenticate"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("auth-a");
      // A valid token in a header that is not exactly "Bearer <token>" is no credential.
      for (const header of [`XBearer ${a.token}`, `Bearer ${a.token} extra`, a.token]) {
        await expectCode(
          t.clientsWith(header).registry.getAgent({ agentId: "auth-a" }),
          Code.Unauthenticated,
          `GetAgent with Authorization "${header.replace(a.token, "<token>")}"`,
        );
      }
      const anonymous = t.clientsWith(undefined);
      await expectCode(
        anonymous.registry.getAgent({ agentId: "auth-a" }),
        Code.Unauthenticated,
        "GetAgent without a credential",
      );
      const forged = t.clientsWith(
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhdXRoLWEifQ.c2lnbmF0dXJl",
      );
      await expectCode(
        forged.registry.getAgent({ agentId: "auth-a" }),
        Code.Unauthenticated,
        "GetAgent with a forged token",
      );
      const garbage = t.clientsWith("Basic dXNlcjpwYXNz");
      await expectCode(
        garbage.admin.listTenants({}),
        Code.Unauthenticated,
        "ListTenants with a non-bearer credential",
      );
    },
  },
  {
    id: "security.wrong-role",
    level: "MUST",
    profile: "security",
    description:
      "A role that may not call an RPC gets PERMISSION_DENIED (observer writes, agent administers)",
    spec: "acb.v1.Role",
    rules: ["security.roles"],
    async run(t) {
      const tenant = await t.tenant();
      const observer = await tenant.agent("role-observer", {
        roles: [Role.OBSERVER],
        register: false,
      });
      await expectCode(
        observer.contexts.createContext({ contextId: "x", type: "n", payload: json(1) }),
        Code.PermissionDenied,
        "CreateContext by an observer",
      );
      const agent = await tenant.agent("role-agent");
      await expectCode(
        agent.admin.createTenant({ tenantId: `${tenant.id}-x` }),
        Code.PermissionDenied,
        "CreateTenant by an agent",
      );
      await expectCode(
        agent.registry.register({ agentId: "someone-else", type: "conformance" }),
        Code.PermissionDenied,
        "an agent registering another agent id",
      );
    },
  },
  {
    id: "security.cross-tenant-not-found",
    level: "MUST",
    profile: "security",
    description: "Another tenant's objects are NOT_FOUND, never revealed, read or changed",
    spec: "acb.v1.ContextService.GetContext",
    rules: ["security.tenant-isolation"],
    async run(t) {
      const home = await t.tenant();
      const away = await t.tenant();
      const owner = await home.agent("iso-owner");
      const intruder = await away.agent("iso-intruder");
      await owner.contexts.createContext({
        contextId: "secret",
        type: "n",
        payload: json({ s: 1 }),
      });
      await expectCode(
        intruder.contexts.getContext({ contextId: "secret" }),
        Code.NotFound,
        "GetContext of another tenant's context",
      );
      await expectCode(
        intruder.contexts.updateContext({ contextId: "secret", payload: json({ s: 2 }) }),
        Code.NotFound,
        "UpdateContext of another tenant's context",
      );
      await expectCode(
        intruder.contexts.deleteContext({ contextId: "secret" }),
        Code.NotFound,
        "DeleteContext of another tenant's context",
      );
      await expectCode(
        intruder.registry.getAgent({ agentId: "iso-owner" }),
        Code.NotFound,
        "GetAgent of another tenant's agent",
      );
      const list = await intruder.contexts.listContexts({});
      check(
        !list.contexts.some((c) => c.id === "secret"),
        "ListContexts shows another tenant's context",
      );
      const still = await owner.contexts.getContext({ contextId: "secret" });
      check(still.context?.revision === 1n, "another tenant changed the context");
    },
  },
  {
    id: "security.bad-input",
    level: "MUST",
    profile: "security",
    description: "Input that breaks a validation rule is INVALID_ARGUMENT and changes nothing",
    spec: "acb.v1.CreateContextRequest",
    rules: ["security.validation"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("bad-a");
      await expectCode(
        a.registry.register({ agentId: "!bad id", type: "conformance" }),
        Code.InvalidArgument,
        "Register with a malformed agent id",
      );
      await a.contexts.createContext({ contextId: "keep", type: "n", payload: json({ v: 1 }) });
      await expectCode(
        a.contexts.updateContext({
          contextId: "keep",
          payload: {
            contentType: "application/octet-stream",
            data: new Uint8Array(1024 * 1024 + 1),
          },
        }),
        Code.InvalidArgument,
        "UpdateContext with an inline payload over 1 MiB",
      );
      await expectCode(
        a.contexts.createContext({ contextId: "keep", type: "", payload: json(1) }),
        Code.InvalidArgument,
        "CreateContext without a type",
      );
      const kept = await a.contexts.getContext({ contextId: "keep" });
      check(
        kept.context?.revision === 1n,
        `a refused update moved the revision to ${kept.context?.revision}`,
      );
    },
  },
  {
    id: "security.bad-tokens",
    level: "MUST",
    profile: "security",
    description:
      "A page_token or cursor the hub did not issue is INVALID_ARGUMENT, for lists and for streams",
    spec: "acb.v1.ListAgentsRequest.page_token",
    rules: ["security.validation"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("tok-a");
      await expectCode(
        a.registry.listAgents({ pageToken: "not-a-token" }),
        Code.InvalidArgument,
        "ListAgents with a made-up page_token",
      );
      await expectCode(
        a.contexts.listContexts({ pageToken: "bm90IGpzb24" }),
        Code.InvalidArgument,
        "ListContexts with a page_token that is not the hub's",
      );
      const first = async (open: () => AsyncIterable<unknown>) => {
        for await (const _ of open()) return;
      };
      await expectCode(
        first(() => a.registry.watchAgents({ cursor: "not-a-cursor" }, { signal: t.signal })),
        Code.InvalidArgument,
        "WatchAgents with a made-up cursor",
      );
      await expectCode(
        first(() => a.contexts.subscribeContexts({ cursor: "c1" }, { signal: t.signal })),
        Code.InvalidArgument,
        "SubscribeContexts with a made-up cursor",
      );
      // Tokens the hub did not issue though they look like its own: JSON that is no page token,
      // and a real cursor with a character before or after it.
      for (const json of ['{"after":5}', "null", "{}", '"x"']) {
        await expectCode(
          a.contexts.listContexts({ pageToken: Buffer.from(json).toString("base64url") }),
          Code.InvalidArgument,
          `ListContexts with the page_token ${json} in base64url`,
        );
      }
      let cursor = "";
      for await (const e of a.registry.watchAgents({}, { signal: t.signal })) {
        cursor = e.cursor;
        break;
      }
      check(cursor !== "", "the first WatchAgents item carries no cursor");
      for (const forged of [`x${cursor}`, `${cursor}!`]) {
        await expectCode(
          first(() => a.registry.watchAgents({ cursor: forged }, { signal: t.signal })),
          Code.InvalidArgument,
          `WatchAgents with the cursor "${forged}" (a real one with a character added)`,
        );
      }
    },
  },
  {
    id: "security.bad-meeting-cursor",
    level: "MUST",
    profile: "security",
    description:
      "WatchMeeting with a cursor of another meeting, or a real cursor with a character added, is INVALID_ARGUMENT",
    spec: "acb.v1.WatchMeetingRequest.cursor",
    rules: ["security.validation"],
    requires: ["meetings"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("mcur-a");
      const meeting = async (title: string) =>
        (await a.meetings.createMeeting({ title, participantIds: [a.id] })).meeting?.id ?? "";
      const one = await meeting("one");
      const two = await meeting("two");
      let cursor = "";
      for await (const e of a.meetings.watchMeeting(
        { meetingId: one, fromBeginning: true },
        { signal: t.signal },
      )) {
        cursor = e.cursor;
        break;
      }
      check(cursor !== "", "the first WatchMeeting item carries no cursor");
      const first = async (meetingId: string, c: string) => {
        for await (const _ of a.meetings.watchMeeting(
          { meetingId, cursor: c },
          { signal: t.signal },
        ))
          return;
      };
      await first(one, cursor);
      for (const [meetingId, c, what] of [
        [two, cursor, "a cursor of another meeting"],
        [one, `x${cursor}`, "a real cursor with a character before it"],
        [one, `${cursor}!`, "a real cursor with a character after it"],
      ] as const) {
        await expectCode(first(meetingId, c), Code.InvalidArgument, `WatchMeeting with ${what}`);
      }
    },
  },
  {
    id: "security.bad-input-field-reason",
    level: "SHOULD",
    profile: "security",
    description:
      "INVALID_ARGUMENT for a broken rule names the field (buf.validate.Violations detail)",
    spec: "acb.v1.RegistryService.Register",
    rules: ["security.validation-field"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("field-a");
      const err = await expectCode(
        a.registry.register({ agentId: "!bad id", type: "conformance" }),
        Code.InvalidArgument,
        "Register with a malformed agent id",
      );
      const violations = err.findDetails(ViolationsSchema).flatMap((v) => v.violations);
      check(violations.length > 0, "the error carries no buf.validate.Violations detail");
    },
  },
];
