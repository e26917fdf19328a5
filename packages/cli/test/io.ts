import { runCli } from "../src/main.js";

/** Runs acb in-process and collects what it writes. */
export async function acb(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; onStderr?: (text: string) => void } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const decoder = new TextDecoder();
  const code = await runCli(argv, {
    stdout: {
      write: (t: string | Uint8Array) => {
        stdout += typeof t === "string" ? t : decoder.decode(t, { stream: true });
      },
    },
    stderr: {
      write: (t: string) => {
        stderr += t;
        options.onStderr?.(t);
      },
    },
    // No ACB_* variables or config file of the machine running the tests.
    env: { HOME: "/nonexistent", ...options.env },
  });
  return { code, stdout, stderr };
}
