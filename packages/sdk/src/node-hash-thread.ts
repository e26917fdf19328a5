// Whole-object SHA-256 on a worker thread, for the Node entry point.
//
// An upload hashes every byte of its source once (the whole object's SHA-256, compared by the hub
// at commit) and a download of a whole object once more: node:crypto's hash is synchronous, so it
// ran on the event loop, which also encodes and sends (or receives) every chunk and so bounds what
// one transfer reaches: about a third of the uploader's main thread. Here the bytes are copied into
// a reused slab of shared memory (a copy of a megabyte costs about a twentieth of hashing it) and
// hashed by one worker thread per process, beside the event loop. The worker handles its messages
// in order, acknowledging each piece once hashed, so a slab is reused only after that.
import { isSharedArrayBuffer } from "node:util/types";
import { Worker } from "node:worker_threads";
import type { AsyncSha256Hasher } from "./core/sha256.js";

// The worker's code, evaluated as a script: nothing to resolve on disk, whatever bundles the SDK.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", (m) => {
  if (m.op === "update") {
    let h = hashes.get(m.id);
    if (h === undefined) hashes.set(m.id, (h = createHash("sha256")));
    if (h !== null) {
      try { h.update(m.data); } catch { hashes.set(m.id, null); }
    }
    parentPort.postMessage({ order: m.order });
  } else if (m.op === "digest") {
    const h = hashes.get(m.id);
    hashes.delete(m.id);
    parentPort.postMessage(
      h === null
        ? { order: m.order, error: "the hash could not take its bytes" }
        : { order: m.order, digest: new Uint8Array((h ?? createHash("sha256")).digest()) },
    );
  } else if (m.op === "drop") {
    hashes.delete(m.id);
  }
});
`;

/** Free slabs kept for reuse, in bytes at most. */
const POOL_BYTES = 4 * 1024 * 1024;

type Answer = { order: number; digest?: Uint8Array; error?: string };

/**
 * A worker thread hashing for the whole process (createThreadedSha256 shares one), started at
 * first use, idle without work. If it stops, the digests of its hashes fail.
 */
export class HashThread {
  private worker: Worker | undefined;
  private generation = 0;
  private order = 0;
  private nextId = 1;
  private readonly digests = new Map<number, (answer: Answer | Error) => void>();
  /** Slabs the worker may still read, by the order of the message that carries each. */
  private readonly lent: { slab: SharedArrayBuffer; order: number }[] = [];
  private readonly free: SharedArrayBuffer[] = [];
  private freeBytes = 0;

  create(): AsyncSha256Hasher {
    const id = this.nextId++;
    const generation = this.generation;
    let done = false;
    const lost = () => generation !== this.generation;
    return {
      update: (data) => {
        if (done) throw new Error("this hasher was digested already");
        if (lost() || data.length === 0) return; // a lost hash's digest fails
        this.post({ op: "update", id, data: this.shared(data) });
      },
      digest: () => {
        done = true;
        if (lost()) return Promise.reject(new Error("the hashing thread stopped"));
        return new Promise<Uint8Array>((resolve, reject) => {
          this.digests.set(this.order, (answer) => {
            if (answer instanceof Error) reject(answer);
            else if (answer.digest) resolve(answer.digest);
            else reject(new Error(answer.error ?? "no digest"));
          });
          this.started().ref(); // a digest is awaited: the process must not exit meanwhile
          this.post({ op: "digest", id });
        });
      },
    };
  }

  /** Stops the thread (the next hash starts another). */
  async close(): Promise<void> {
    await this.worker?.terminate();
  }

  /** A copy of `data` in a slab lent to the worker (or the view itself, if already shared). */
  private shared(data: Uint8Array): Uint8Array {
    if (isSharedArrayBuffer(data.buffer)) return data;
    const i = this.free.findIndex((s) => s.byteLength >= data.length);
    let slab: SharedArrayBuffer;
    if (i < 0) slab = new SharedArrayBuffer(data.length);
    else {
      [slab] = this.free.splice(i, 1) as [SharedArrayBuffer];
      this.freeBytes -= slab.byteLength;
    }
    const view = Buffer.from(slab, 0, data.length);
    // fill() copies with memcpy; set() into shared memory copies with relaxed atomics (slower).
    view.fill(data);
    this.lent.push({ slab, order: this.order });
    return view;
  }

  private post(message: { op: string; id: number; data?: Uint8Array }): void {
    this.started().postMessage({ ...message, order: this.order++ });
  }

  private answered(answer: Answer): void {
    while (this.lent.length > 0 && (this.lent[0]?.order ?? 0) <= answer.order) {
      const { slab } = this.lent.shift() as { slab: SharedArrayBuffer };
      if (this.freeBytes + slab.byteLength > POOL_BYTES) continue; // left to the collector
      this.free.push(slab);
      this.freeBytes += slab.byteLength;
    }
    const waiter = this.digests.get(answer.order);
    if (!waiter) return;
    this.digests.delete(answer.order);
    if (this.digests.size === 0) this.worker?.unref();
    waiter(answer);
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on("message", (answer: Answer) => this.answered(answer));
    const gone = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.generation++;
      this.lent.length = 0;
      const waiting = [...this.digests.values()];
      this.digests.clear();
      for (const w of waiting) w(err);
    };
    worker.on("error", gone);
    worker.on("exit", (code) => gone(new Error(`the hashing thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

let thread: HashThread | undefined;

/** An incremental SHA-256 computed on the process's hashing thread. */
export function createThreadedSha256(): AsyncSha256Hasher {
  thread ??= new HashThread();
  return thread.create();
}
