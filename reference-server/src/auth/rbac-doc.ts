import { Role } from "@acb/gen/acb/v1/auth_pb";
import type { Access } from "./rbac-table.js";

// Renders the access table into docs/security.md (reference-server/test/security-doc.test.ts
// checks it): no part of what the hub does on the wire.
// Stryker disable all: see above

const roles = [
  Role.ADMIN,
  Role.AGENT_PRODUCER,
  Role.AGENT_CONSUMER,
  Role.AGENT_FULL,
  Role.OBSERVER,
];

/** Markers around the generated table in docs/security.md (reference-server/test/security-doc.test.ts). */
export const RBAC_BEGIN =
  "<!-- rbac-table:begin (generated from reference-server/src/auth/rbac-table.ts by npm run generate; do not edit) -->";
export const RBAC_END = "<!-- rbac-table:end -->";

/** The access table as a Markdown table: one row per RPC, one column per role. */
export function renderAccessTable(table: Readonly<Record<string, Access>>): string {
  // Roles are headed by their names on the wire (the enum's JSON names), as clients spell them.
  const head = `| RPC | ${roles.map((r) => `ROLE_${Role[r]}`).join(" | ")} |`;
  const rule = `| --- | ${roles.map(() => ":-:").join(" | ")} |`;
  const rows = Object.entries(table).map(([rpc, access]) => {
    const cells = roles.map((r) => {
      if (access === "anonymous") return "anyone";
      if (access === "authenticated") return "✓";
      return access.includes(r) ? "✓" : "";
    });
    return `| \`${rpc}\` | ${cells.join(" | ")} |`;
  });
  return [head, rule, ...rows].join("\n");
}

/** `doc` with the text between the markers replaced by the rendered table. */
export function withAccessTable(doc: string, table: Readonly<Record<string, Access>>): string {
  const begin = doc.indexOf(RBAC_BEGIN);
  const end = doc.indexOf(RBAC_END);
  if (begin < 0 || end < begin) throw new Error("docs/security.md lacks the rbac-table markers");
  return `${doc.slice(0, begin + RBAC_BEGIN.length)}\n\n${renderAccessTable(table)}\n\n${doc.slice(end)}`;
}
