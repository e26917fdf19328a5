// The audit log as QueryAuditLog reads it: refusals are recorded, and every filter returns exactly
// the records that match it. The case does not assume which actions a hub records beyond refused
// calls: it reads the tenant's records once, then checks each filter's answer against the subset
// it computes from that read.

import type { AuditRecord } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { type Timestamp, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import type { Clients } from "../harness.js";
import { Code, expectCode, poll } from "../wire.js";

const msOf = (t: Timestamp | undefined) => (t ? timestampMs(t) : 0);

interface Query {
  action?: string;
  actor?: string;
  outcome?: string;
  start?: Timestamp | undefined;
  end?: Timestamp | undefined;
}

/** Every record of `tenantId` matching `q`, paged by `pageSize`; the page bound is checked. */
async function query(admin: Clients, tenantId: string, q: Query, pageSize: number) {
  const records: AuditRecord[] = [];
  let pageToken = "";
  for (let page = 0; page < 200; page++) {
    const res = await admin.admin.queryAuditLog({ tenantId, ...q, pageSize, pageToken });
    check(
      res.records.length <= pageSize,
      `QueryAuditLog with page_size ${pageSize} returned ${res.records.length} records`,
    );
    records.push(...res.records);
    if (res.nextPageToken === "") return records;
    pageToken = res.nextPageToken;
  }
  throw new Error("QueryAuditLog did not end within 200 pages");
}

const ids = (records: readonly AuditRecord[]) => records.map((r) => r.id).join(",");

export const auditCases: ConformanceCase[] = [
  {
    id: "admin.audit-query",
    level: "MUST",
    profile: "security",
    description:
      "Refused calls are in the audit log; QueryAuditLog pages every record once, oldest first, and each filter returns exactly the matching records",
    spec: "acb.v1.AdminService.QueryAuditLog",
    rules: ["admin.audit-log", "pagination.complete"],
    requires: ["admin"],
    async run(t) {
      const tenant = await t.tenant();
      const other = await t.tenant();
      const writer = await tenant.agent("aud-w");
      const observer = await tenant.agent("aud-o", { roles: [Role.OBSERVER], register: false });
      await writer.contexts.createContext({
        contextId: "aud",
        type: "n",
        payload: { contentType: "text/plain", data: new TextEncoder().encode("a") },
      });
      await expectCode(
        observer.contexts.deleteContext({ contextId: "aud" }),
        Code.PermissionDenied,
        "DeleteContext by an observer",
      );
      await expectCode(
        observer.registry.register({ agentId: "aud-o", type: "conformance" }),
        Code.PermissionDenied,
        "Register by an observer",
      );
      const key = await t.admin.auth.createApiKey({
        tenantId: tenant.id,
        agentId: "aud-k",
        roles: [Role.AGENT_FULL],
      });
      await t.admin.auth.revokeApiKey({ keyId: key.key?.id ?? "" });
      await other.agent("aud-w");

      // The observer's refusals are recorded (a hub may write its records a moment later).
      const all = await poll(
        async () => {
          const records = await query(t.admin, tenant.id, {}, 1000);
          const denied = records.filter((r) => r.actor === "aud-o" && r.outcome === "denied");
          return denied.length >= 2 ? records : undefined;
        },
        'two records of outcome "denied" by actor "aud-o"',
        t.settings.waitMs,
        t.signal,
        100,
      );
      const last = all[all.length - 1];
      check(last, "the audit log of the tenant is empty");
      // Every query below ends here, so records written meanwhile (if any) do not count.
      const end = timestampFromMs(msOf(last.time) + 1);
      const base = all.filter((r) => msOf(r.time) < msOf(end));
      for (const [i, r] of base.entries()) {
        check(
          r.tenantId === tenant.id,
          `QueryAuditLog returned a record of tenant "${r.tenantId}"`,
        );
        const prev = base[i - 1];
        if (prev) {
          check(
            prev.id < r.id && msOf(prev.time) <= msOf(r.time),
            `records "${prev.id}" and "${r.id}" are not oldest first with increasing ids`,
          );
        }
      }
      const paged = await query(t.admin, tenant.id, { end }, 2);
      check(
        ids(paged) === ids(base),
        `QueryAuditLog paged by two returned [${ids(paged)}], not [${ids(base)}]`,
      );

      const expect = async (q: Query, keep: (r: AuditRecord) => boolean, what: string) => {
        const got = await query(t.admin, tenant.id, { ...q, end }, 1000);
        const want = base.filter(keep);
        check(ids(got) === ids(want), `${what}: returned [${ids(got)}], not [${ids(want)}]`);
      };
      const distinct = (f: (r: AuditRecord) => string) => [...new Set(base.map(f))];
      for (const action of distinct((r) => r.action)) {
        await expect({ action }, (r) => r.action === action, `action "${action}"`);
        const dot = action.indexOf(".");
        if (dot > 0) {
          const prefix = action.slice(0, dot + 1);
          await expect(
            { action: prefix },
            (r) => r.action.startsWith(prefix),
            `action "${prefix}"`,
          );
        }
      }
      for (const actor of distinct((r) => r.actor)) {
        await expect({ actor }, (r) => r.actor === actor, `actor "${actor}"`);
      }
      for (const outcome of ["success", "failure", "denied"]) {
        await expect({ outcome }, (r) => r.outcome === outcome, `outcome "${outcome}"`);
      }
      await expect(
        { actor: "aud-o", outcome: "denied" },
        (r) => r.actor === "aud-o" && r.outcome === "denied",
        'actor "aud-o" and outcome "denied"',
      );
      // A platform admin reads every tenant with "*".
      const everywhere = await query(
        t.admin,
        "*",
        { actor: "aud-o", outcome: "denied", end },
        1000,
      );
      const mine = everywhere.filter((r) => r.tenantId === tenant.id);
      check(
        mine.length >= 2 &&
          ids(mine) === ids(base.filter((r) => r.actor === "aud-o" && r.outcome === "denied")),
        `QueryAuditLog of tenant "*" returned [${ids(mine)}] of this tenant's denied records`,
      );
      if (base.length >= 3) {
        const from = base[1]?.time;
        const to = base[base.length - 1]?.time;
        const got = await query(t.admin, tenant.id, { start: from, end: to }, 1000);
        const want = base.filter((r) => msOf(r.time) >= msOf(from) && msOf(r.time) < msOf(to));
        check(
          ids(got) === ids(want),
          `from the second record's time to the last one's: returned [${ids(got)}], not [${ids(want)}]`,
        );
      }
    },
  },
];
