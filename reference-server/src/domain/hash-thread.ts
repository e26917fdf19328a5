// Chunk checks and whole-object hashes on a thread of their own.
//
// Receiving an upload, the hub's main thread spent about a third of its time on the two hashes the
// protocol asks for: each chunk's check (CRC-32, or SHA-256) and the running SHA-256 of the whole
// object. Node's hashes are synchronous, so they ran on the event loop, which also receives every
// byte (HTTP/2) and so bounds what one upload reaches. Here they run on one worker thread
// (hash-worker.ts): the main thread copies a chunk into a reused slab of shared memory (a copy of a
// megabyte in cache costs about 1/20 of hashing it; a fresh buffer per chunk would cost page
// faults) and posts it; the worker answers whether the chunk is intact and then, while the main
// thread stores the chunk, feeds it into the object's hash. Messages are handled in order, so a
// digest answers after every byte posted before it, and a slab is free again once the worker has
// answered anything posted after it.
//
// A download asks for each chunk's check (its SHA-256 or CRC-32, which the hub sends with it) and
// feeds the chunk into the object's hash with the same message (`sum`); that answer comes once
// the worker is done with the bytes, so a caller that reads into shared memory of its own (the
// blob store's pieces, download-sums.ts) may reuse them as soon as it has it.

import { isSharedArrayBuffer } from "node:util/types";
import { Worker } from "node:worker_threads";
import { HASH_WORKER_SOURCE, type HashAnswer, type HashRequest } from "./hash-worker.js";

/** A chunk's checks, each compared when present. */
export interface ChunkChecks {
  crc32: number | undefined;
  sha256: Uint8Array | undefined;
}

/** A running whole-object SHA-256, kept in the hash thread. */
export interface ObjectHash {
  /** Feeds bytes after everything fed before (the caller may reuse `data` at once). */
  update(data: Uint8Array): void;
  /** The SHA-256 of everything fed; the hash is gone afterwards. */
  digest(): Promise<Uint8Array>;
  /** Forgets the hash (its bytes will not be digested). */
  drop(): void;
  /** Whether the hash is gone: digested, dropped, or lost with a hash thread that stopped. */
  readonly lost: boolean;
}

/** Free slabs kept for reuse, in bytes at most (four chunks of the default 1 MiB). */
const POOL_BYTES = 4 * 1024 * 1024;

/** A slab handed to the worker with the request of order `order`. */
interface Lent {
  slab: SharedArrayBuffer;
  order: number;
}

interface Waiter {
  /** Slabs lent with requests before this order are free once the answer is in. */
  order: number;
  resolve(answer: HashAnswer): void;
  reject(err: Error): void;
}

/**
 * One worker thread for the chunk checks and object hashes of this process, started at first use.
 * If it dies, what was asked of it fails, the hashes it held are lost (their digest fails), and the
 * next request starts another.
 */
export class HashThread {
  private worker: Worker | undefined;
  /** Bumped when a worker goes: a hash of an earlier generation is lost. */
  private generation = 0;
  /** Every request posted gets the next order; the worker handles them in that order. */
  private order = 0;
  private seq = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private readonly ids = new WeakMap<ObjectHash, { id: number; generation: number }>();
  /** Slabs the worker may still read, oldest first. */
  private readonly lent: Lent[] = [];
  private readonly free: SharedArrayBuffer[] = [];
  private freeBytes = 0;

  /** Starts a whole-object hash (of nothing yet). */
  createHash(): ObjectHash {
    // Stryker disable next-line UpdateOperator: ids only need to differ from each other
    const id = this.nextId++;
    const generation = this.generation;
    let gone = false;
    const lost = () => gone || generation !== this.generation;
    const h: ObjectHash = {
      update: (data) => {
        if (lost() || data.length === 0) return; // a lost hash's digest fails
        this.post({ op: "update", id, data: this.shared(data) });
      },
      digest: async () => {
        if (lost()) throw new Error("the hash thread lost this hash (it was restarted)");
        // Stryker disable next-line all: the hub neither feeds nor digests a hash again once digested
        gone = true;
        const answer = await this.ask((seq) => ({ op: "digest", seq, id }));
        if ("digest" in answer) return answer.digest;
        throw new Error(`the hash thread could not hash: ${"error" in answer ? answer.error : ""}`);
      },
      // Stryker disable all: dropping a hash frees the worker's state of it (memory), which nothing on the wire shows
      drop: () => {
        if (lost()) return;
        gone = true;
        this.post({ op: "drop", id });
      },
      get lost() {
        return lost();
      },
    };
    // Stryker restore all
    this.ids.set(h, { id, generation });
    return h;
  }

  /**
   * Whether `data` passes every check present in `checks`; when it does and `feed` is given, its
   * bytes then go into that hash (after the answer, while the caller goes on). `feed` must be a
   * hash of this thread. The caller may reuse `data` once this resolves.
   */
  async check(data: Uint8Array, checks: ChunkChecks, feed?: ObjectHash): Promise<boolean> {
    const id = feed === undefined ? undefined : this.idOf(feed);
    const bytes = this.shared(data);
    const answer = await this.ask((seq) => ({
      op: "check",
      seq,
      data: bytes,
      crc32: checks.crc32,
      sha256: checks.sha256,
      feed: id,
    }));
    if ("intact" in answer) return answer.intact;
    throw new Error(
      `the hash thread could not check a chunk: ${"error" in answer ? answer.error : ""}`,
    );
  }

  /**
   * The check a chunk of a download carries (its CRC-32 or its SHA-256), computed on the thread;
   * with `feed`, the chunk's bytes also go into that hash (after everything fed before), before
   * the answer. `feed` must be a hash of this thread. The caller may reuse `data` once this
   * resolves. Fails when the thread stops (or stopped since `feed` was created: its hash is lost).
   */
  async sum(
    data: Uint8Array,
    kind: "crc32" | "sha256",
    feed?: ObjectHash,
  ): Promise<{ crc32: number } | { sha256: Uint8Array }> {
    const id = feed === undefined ? undefined : this.idOf(feed);
    const bytes = this.shared(data);
    // The worker is done with the bytes when it answers: the slab goes back with the answer.
    const answer = await this.ask((seq) => ({ op: "sum", seq, data: bytes, kind, feed: id }), 1);
    if ("crc32" in answer) return { crc32: answer.crc32 };
    if ("sha256" in answer) return { sha256: answer.sha256 };
    throw new Error(
      `the hash thread could not sum a chunk: ${"error" in answer ? answer.error : ""}`,
    );
  }

  /** Stops the thread; what was still asked of it fails. */
  async close(): Promise<void> {
    await this.worker?.terminate();
  }

  /**
   * `data` where the worker can read it without a copy of its own: the view itself when it is in
   * shared memory, else a copy in a slab lent to the worker until it has handled this request.
   */
  private shared(data: Uint8Array): Uint8Array {
    if (isSharedArrayBuffer(data.buffer)) return data;
    const slab = this.slab(data.length);
    const view = Buffer.from(slab, 0, data.length);
    // fill() copies with memcpy; set() and copy() into shared memory copy with relaxed atomics,
    // several times slower. `data` is not empty (an empty chunk has nothing to hash or check).
    if (data.length > 0) view.fill(data);
    this.lent.push({ slab, order: this.order });
    return view;
  }

  /** A free slab of at least `size` bytes, or a new one. */
  private slab(size: number): SharedArrayBuffer {
    const i = this.free.findIndex((s) => s.byteLength >= size);
    if (i < 0) return new SharedArrayBuffer(Math.max(size, 1));
    const [slab] = this.free.splice(i, 1) as [SharedArrayBuffer];
    this.freeBytes -= slab.byteLength;
    return slab;
  }

  /** The worker has answered request `order`: slabs lent with earlier requests are free. */
  private handled(order: number): void {
    while (this.lent.length > 0 && (this.lent[0] as Lent).order < order) {
      const { slab } = this.lent.shift() as Lent;
      if (this.freeBytes + slab.byteLength > POOL_BYTES) continue; // left to the collector
      this.free.push(slab);
      this.freeBytes += slab.byteLength;
    }
  }

  private idOf(h: ObjectHash): number {
    const known = this.ids.get(h);
    if (!known || known.generation !== this.generation) {
      throw new Error("the hash thread lost this hash (it was restarted)");
    }
    return known.id;
  }

  /**
   * Posts a request and waits for its answer. `frees` is 1 when the worker is done with the
   * request's own bytes by the time it answers (else only those of earlier requests are free).
   */
  private ask(request: (seq: number) => HashRequest, frees: 0 | 1 = 0): Promise<HashAnswer> {
    // Stryker disable next-line UpdateOperator: sequence numbers only need to differ from each other
    const seq = this.seq++;
    return new Promise<HashAnswer>((resolve, reject) => {
      // Stryker disable next-line ArithmeticOperator: frees slabs later than it could (memory, not results)
      this.waiting.set(seq, { order: this.order + frees, resolve, reject });
      // Stryker disable next-line all: keeps a process alive that has nothing else to do, not a hub's
      this.started().ref(); // an answer is awaited: the process must not exit meanwhile
      this.post(request(seq));
    });
  }

  private post(request: HashRequest): void {
    this.started().postMessage(request);
    this.order++;
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(HASH_WORKER_SOURCE, { eval: true });
    // Stryker disable next-line all: lets a process with nothing else to do exit, not a hub
    worker.unref();
    worker.on("message", (answer: HashAnswer) => {
      const waiter = this.waiting.get(answer.seq);
      if (!waiter) return;
      this.waiting.delete(answer.seq);
      if (this.waiting.size === 0) worker.unref();
      this.handled(waiter.order);
      waiter.resolve(answer);
    });
    const gone = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.generation++;
      // Whatever the worker held is released with it (a slab in use by none can be reused).
      this.handled(Number.POSITIVE_INFINITY);
      const waiting = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of waiting) w.reject(err);
    };
    worker.on("error", gone);
    worker.on("exit", (code) => gone(new Error(`the hash thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}
