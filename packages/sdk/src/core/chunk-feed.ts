import type { Sha256Hasher, Sha256Provider } from "./sha256.js";

/** What an upload can read its bytes from. */
export type StreamSource =
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | Blob
  | Uint8Array
  | ArrayBuffer;

/** One chunk ready to send: its place in the object, bytes and check (SHA-256 or CRC-32). */
export interface Chunk {
  offset: number;
  data: Uint8Array;
  /** Empty when the chunk carries a crc32 instead. */
  sha256: Uint8Array;
  crc32?: number;
}

/** The size of a source that knows it (bytes, Blob); undefined for streams. */
export function knownSize(source: StreamSource): number | undefined {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return source.byteLength;
  if (typeof Blob !== "undefined" && source instanceof Blob) return source.size;
  return undefined;
}

/** Pieces of a source, in order, whatever its kind. */
async function* piecesOf(source: StreamSource, chunkSize: number): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    const bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
    for (let at = 0; at < bytes.length; at += chunkSize) yield bytes.subarray(at, at + chunkSize);
    return;
  }
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    // One chunk in memory at a time, however large the Blob (a File from an <input>, say).
    for (let at = 0; at < source.size; at += chunkSize) {
      yield new Uint8Array(await source.slice(at, at + chunkSize).arrayBuffer());
    }
    return;
  }
  if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) {
    const reader = (source as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  yield* source as AsyncIterable<Uint8Array>;
}

/**
 * Cuts a source into chunks of exactly `chunkSize` bytes (the last may be shorter), giving each
 * chunk its check (a CRC-32 when the provider has one, else its SHA-256) and feeding the
 * whole-object hasher once per byte. Chunks handed out but not yet confirmed
 * by the hub are kept, so after a dropped connection the upload continues from the hub's verified
 * offset without reading the source again: memory holds at most what is in flight.
 */
export class ChunkFeed {
  private readonly pieces: AsyncGenerator<Uint8Array>;
  /** Chunks sent, not yet below the hub's verified offset (oldest first). */
  private unconfirmed: Chunk[] = [];
  /** Offset of the next chunk to read from the source. */
  private readOffset = 0;
  private leftover: Uint8Array | undefined;

  constructor(
    source: StreamSource,
    private readonly totalSize: number,
    private readonly chunkSize: number,
    private readonly sha256: Sha256Provider,
    private readonly whole: Pick<Sha256Hasher, "update">,
  ) {
    this.pieces = piecesOf(source, chunkSize);
  }

  /** Bytes of the chunks kept for re-sending (handed out, not yet verified by the hub). */
  get keptBytes(): number {
    let bytes = 0;
    for (const c of this.unconfirmed) bytes += c.data.length;
    return bytes;
  }

  /** The hub has verified every byte below `offset`: forget the chunks it covers. */
  confirm(offset: number): void {
    while (this.unconfirmed.length > 0) {
      const first = this.unconfirmed[0] as Chunk;
      if (first.offset + first.data.length > offset) break;
      this.unconfirmed.shift();
    }
  }

  /**
   * Chunks from `offset` (the hub's verified offset) to the end: kept ones first, then new. The
   * generator of a batch whose stream failed may still be pulled by its transport while the next
   * batch starts: each chunk is therefore looked up by its offset when it is due (not from a copy
   * of the kept list taken at the start), and reads from the source are serialised, so a chunk the
   * old generator read meanwhile is found among the kept ones instead of being skipped.
   */
  async *from(offset: number): AsyncGenerator<Chunk> {
    this.confirm(offset);
    let at = offset;
    while (at < this.totalSize) {
      const chunk = await this.chunkAt(at);
      at = chunk.offset + chunk.data.length;
      yield chunk;
    }
  }

  /** Reads serialised: one read from the source at a time, in order. */
  private reading: Promise<unknown> = Promise.resolve();

  /** The chunk starting at `at`: a kept one, or the next one read from the source. */
  private chunkAt(at: number): Promise<Chunk> {
    const run = this.reading.then(async () => {
      const kept = this.unconfirmed.find((c) => c.offset === at);
      if (kept) return kept;
      if (at !== this.readOffset) {
        throw new Error(
          `cannot resume at offset ${at}: it is not where a kept chunk begins, and the source is at ${this.readOffset}`,
        );
      }
      const chunk = await this.next();
      this.unconfirmed.push(chunk);
      return chunk;
    });
    this.reading = run.catch(() => {});
    return run;
  }

  private async next(): Promise<Chunk> {
    const want = Math.min(this.chunkSize, this.totalSize - this.readOffset);
    let data: Uint8Array | undefined;
    let filled = 0;
    while (filled < want) {
      let piece = this.leftover;
      this.leftover = undefined;
      if (!piece) {
        const r = await this.pieces.next();
        if (r.done) {
          throw new Error(
            `the source ended after ${this.readOffset + filled} bytes; ${this.totalSize} were declared`,
          );
        }
        piece = r.value;
      }
      const take = Math.min(piece.length, want - filled);
      if (take < piece.length) this.leftover = piece.subarray(take);
      if (filled === 0 && take === want) {
        data = piece.subarray(0, take); // a whole chunk in one piece: no copy
      } else {
        data ??= new Uint8Array(want);
        data.set(piece.subarray(0, take), filled);
      }
      filled += take;
    }
    const chunkData = data ?? new Uint8Array();
    if (
      this.readOffset + want === this.totalSize &&
      (this.leftover?.length || !(await this.ended()))
    ) {
      throw new Error(`the source holds more than the ${this.totalSize} bytes declared`);
    }
    this.whole.update(chunkData);
    // The hub verifies the whole object's SHA-256 at commit, so a CRC-32 (when the runtime has a
    // fast one) is enough against damage on the way: each byte is hashed once.
    const crc32 = this.sha256.crc32?.(chunkData);
    const chunk: Chunk =
      crc32 !== undefined
        ? { offset: this.readOffset, data: chunkData, sha256: new Uint8Array(), crc32 }
        : {
            offset: this.readOffset,
            data: chunkData,
            sha256: await this.sha256.digest(chunkData),
          };
    this.readOffset += want;
    return chunk;
  }

  private async ended(): Promise<boolean> {
    for (;;) {
      const r = await this.pieces.next();
      if (r.done) return true;
      if (r.value.length > 0) {
        this.leftover = r.value;
        return false;
      }
    }
  }
}
