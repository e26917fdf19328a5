// A vitest setup file: a process warning (a deprecation, a file handle closed by the garbage
// collector, too many listeners…) fails the test run, so a new one cannot slip into CI unnoticed.
// The warning is rethrown as an uncaught error, which vitest reports and counts as a failure even
// when it fires between tests.

/** Warnings that are expected, each with why; match on name, code, message and where it arose. */
export const allowedWarnings: ReadonlyArray<{
  name: string;
  code?: string;
  message: RegExp;
  /** The warning's stack must match too: an exception names the one place it comes from. */
  stack?: RegExp;
  why: string;
}> = [
  {
    name: "TimeoutNegativeWarning",
    message: /is a negative number/,
    stack: /kafkajs[\\/]src[\\/]network[\\/]requestQueue/,
    why:
      "kafkajs 2.2.4 schedules its check of throttled requests with a negative delay (a zero " +
      "timestamp minus now); Node runs it after 1 ms, which is what kafkajs means to do",
  },
];

const installed = Symbol.for("acb.fail-on-warnings");
const state = globalThis as { [installed]?: true };
if (!state[installed]) {
  state[installed] = true;
  process.on("warning", (warning: Error & { code?: string }) => {
    const allowed = allowedWarnings.some(
      (a) =>
        a.name === warning.name &&
        (a.code === undefined || a.code === warning.code) &&
        a.message.test(warning.message) &&
        (a.stack === undefined || a.stack.test(warning.stack ?? "")),
    );
    if (allowed) return;
    throw new Error(
      `process warning (tests treat warnings as failures): ${warning.name}${warning.code ? ` ${warning.code}` : ""}: ${warning.message}`,
      { cause: warning },
    );
  });
}
