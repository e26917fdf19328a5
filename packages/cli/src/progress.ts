// The progress bar of large transfers, on standard error: redrawn in place on a terminal, one line
// per tenth otherwise (logs, pipes, tests).

import type { StreamProgress } from "@acb/sdk/node";

/** Where progress goes: a writable text stream and whether it is a terminal. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** A progress reporter for one transfer; call it with each StreamProgress, then done(). */
export function progressBar(
  sink: ProgressSink,
  verb: string,
): {
  update(p: StreamProgress): void;
  done(p: StreamProgress | undefined): void;
} {
  let lastTenth = -1;
  let lastResumes = 0;
  const line = (p: StreamProgress) => {
    const pct = Math.floor(p.fraction * 100);
    const width = 30;
    const filled = Math.round(p.fraction * width);
    const resumed = p.resumes > 0 ? `, resumed ${p.resumes}×` : "";
    return `${verb} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct}% ${mib(p.bytes)} / ${mib(p.totalBytes)}${resumed}`;
  };
  return {
    update(p) {
      if (sink.isTTY) {
        sink.write(`\r${line(p)}`);
        return;
      }
      const tenth = Math.floor(p.fraction * 10);
      if (tenth > lastTenth || p.resumes > lastResumes) {
        lastTenth = tenth;
        lastResumes = p.resumes;
        sink.write(`${line(p)}\n`);
      }
    },
    done(p) {
      if (p === undefined) return;
      sink.write(
        sink.isTTY ? `\r${line(p)}\n` : p.fraction >= 1 && lastTenth === 10 ? "" : `${line(p)}\n`,
      );
    },
  };
}
