// The chunk-encoding benchmark (`npm run bench -- chunk-encoding [--quick] [--json]`): what it
// costs in one process to turn 1 MiB chunks into the bytes a large-context stream sends, per GiB
// of chunks. Two ways, alternated over several rounds (medians reported):
// - generated: toBinary of a DownloadContextResponse, then Connect's envelope (a new buffer with
//   the 5-byte prefix): what the hub does for every chunk it sends, and the SDK for every chunk it
//   uploads (as an UploadChunksRequest);
// - reused: one copy of each chunk into one buffer kept between chunks, the floor of any encoder
//   that must copy the data once.
// The gap between them is allocation, not copying: fresh buffers (about 4 MiB per MiB sent) cost
// page faults, zeroing and garbage collection. Run it with MALLOC_MMAP_THRESHOLD_=33554432
// MALLOC_TRIM_THRESHOLD_=134217728 in the environment to see what glibc's defaults add.
// CPU seconds (user + system) and minor page faults per GiB: on a shared machine the CPU time of
// a single-threaded loop is far steadier than wall time, but still compare within one run.

import { randomBytes } from "node:crypto";
import { DownloadContextResponseSchema } from "@acb/gen/acb/v1/large_contexts_pb";
import { create, toBinary } from "@bufbuild/protobuf";
import { flags, log, median, printTable } from "./lib/report.ts";

const CHUNK = 1024 * 1024;

/** Connect's envelope: a new buffer holding a flags byte, a 4-byte length and the message. */
function envelope(data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(data.length + 5);
  bytes.set(data, 5);
  new DataView(bytes.buffer).setUint32(1, data.length);
  return bytes;
}

export default async function main(args: string[]): Promise<void> {
  const { quick, json } = flags(args);
  const chunks = quick ? 256 : 1024;
  const rounds = quick ? 3 : 5;
  const data = randomBytes(CHUNK);
  const reused = new Uint8Array(CHUNK + 32);
  const ways: Record<string, (i: number) => void> = {
    generated: (i) => {
      const res = create(DownloadContextResponseSchema, {
        item: { case: "chunk", value: { offset: BigInt(i * CHUNK), data, crc32: i } },
      });
      envelope(toBinary(DownloadContextResponseSchema, res));
    },
    reused: () => {
      reused.set(data, 5);
    },
  };
  const cpu = Object.fromEntries(Object.keys(ways).map((n) => [n, [] as number[]]));
  const faults = Object.fromEntries(Object.keys(ways).map((n) => [n, [] as number[]]));
  const perGiB = 2 ** 30 / CHUNK / chunks;
  for (let round = 0; round < rounds; round++) {
    for (const [name, encode] of Object.entries(ways)) {
      const r0 = process.resourceUsage();
      const t0 = process.cpuUsage();
      for (let i = 0; i < chunks; i++) encode(i);
      const t = process.cpuUsage(t0);
      const r1 = process.resourceUsage();
      cpu[name]?.push(((t.user + t.system) / 1e6) * perGiB);
      faults[name]?.push((r1.minorPageFault - r0.minorPageFault) * perGiB);
    }
    log(
      `round ${round + 1}: ${Object.keys(ways)
        .map((n) => `${n} ${cpu[n]?.at(-1)?.toFixed(2)} s/GiB`)
        .join(", ")}`,
    );
  }
  const result: Record<string, number> = {};
  for (const name of Object.keys(ways)) {
    const key = name.replace("-", "_");
    result[`${key}_cpu_s_per_GiB`] = Number(median(cpu[name] ?? []).toFixed(3));
    result[`${key}_minor_faults_per_GiB`] = Math.round(median(faults[name] ?? []));
  }
  printTable(
    `encoding ${chunks} chunks of 1 MiB per round (medians of ${rounds} rounds, per GiB)`,
    Object.entries(result),
  );
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
}
