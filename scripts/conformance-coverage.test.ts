import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { catalogue } from "../conformance/src/index.js";
import { coverageProblems, parseRules, readRules, renderCoverage } from "./conformance-coverage.ts";

const root = resolve(import.meta.dirname, "..");

describe("the conformance coverage table", () => {
  it("reads a tag, its continuation lines and the element it belongs to", () => {
    const rules = parseRules(
      [
        "service S {",
        "  // Sends.",
        "  // MUST [acb:x.send-once]: a message is",
        "  //   delivered once.",
        "  // SHOULD [acb:x.fast]: quickly.",
        "  rpc Send(A) returns (B);",
        "}",
      ].join("\n"),
      "proto/acb/v1/x.proto",
    );
    expect(rules).toEqual([
      {
        id: "x.send-once",
        level: "MUST",
        text: "a message is delivered once.",
        file: "proto/acb/v1/x.proto",
        line: 3,
        element: "rpc Send",
      },
      {
        id: "x.fast",
        level: "SHOULD",
        text: "quickly.",
        file: "proto/acb/v1/x.proto",
        line: 5,
        element: "rpc Send",
      },
    ]);
  });

  it("reports a MUST rule without a case, an unknown rule id and a duplicate tag", () => {
    const rules = parseRules(
      "// MUST [acb:a.one]: x\n// SHOULD [acb:a.two]: y\n// MUST [acb:a.one]: z\n",
      "p",
    );
    expect(coverageProblems(rules, [{ id: "c", level: "MUST", rules: ["a.zero"] }])).toEqual([
      'rule "a.one" is tagged twice (p:3)',
      'case "c" names rule "a.zero", which no proto tags',
      'MUST rule "a.one" (p:1) has no case',
      'MUST rule "a.one" (p:3) has no case',
    ]);
  });

  it("every MUST rule of the protocol has a case, and every case names tagged rules", () => {
    expect(coverageProblems(readRules(root), catalogue)).toEqual([]);
  });

  it("docs/conformance-coverage.md is fresh (./dev conformance:coverage)", () => {
    const text = renderCoverage(readRules(root), catalogue);
    expect(readFileSync(resolve(root, "docs/conformance-coverage.md"), "utf8")).toBe(text);
  });
});
