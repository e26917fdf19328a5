// @acb/conformance: the conformance cases as a library, so a TypeScript hub can run them in its
// own tests:
//
//   const report = await runConformance({ url, adminToken, profiles: ["delivery"] });
//   expect(report.summary.failed).toBe(0);

export {
  CaseFailure,
  CaseSkipped,
  type ConformanceCase,
  check,
  isProfile,
  type Level,
  type Profile,
  profiles,
} from "./case.js";
export { catalogue } from "./catalogue.js";
export { type ExpectedFailure, parseExpectedFailures } from "./expected-failures.js";
export type {
  CaseContext,
  CaseSettings,
  LatencyProfile,
  TestAgent,
  TestTenant,
  WireProtocol,
} from "./harness.js";
export { formatCaseLine, formatCatalogue, formatSummary, toJson, toJunit } from "./report.js";
export {
  type CaseResult,
  type CaseStatus,
  type ConformanceOptions,
  type ConformanceReport,
  type ConformanceSummary,
  runConformance,
} from "./runner.js";
