// docs/security.md shows the RBAC table the hub enforces: this fails when the doc is stale.
// `npm run generate` runs it with ACB_UPDATE_DOCS=1, which rewrites the table instead.

import { readFileSync, writeFileSync } from "node:fs";
import { expect, it } from "vitest";
import { withAccessTable } from "../src/auth/rbac-doc.js";
import { accessTable } from "../src/auth/rbac-table.js";

const docPath = new URL("../../docs/security.md", import.meta.url);

it("docs/security.md holds the current RBAC table (refresh it with `npm run generate`)", () => {
  const doc = readFileSync(docPath, "utf8");
  const rendered = withAccessTable(doc, accessTable);
  if (process.env["ACB_UPDATE_DOCS"] === "1" && rendered !== doc) writeFileSync(docPath, rendered);
  else expect(doc).toBe(rendered);
  expect(rendered).toContain("| `acb.v1.ContextService/CreateContext` | ✓ | ✓ |  | ✓ |  |");
});
