// The embedded blob store: large values as files under one directory.
//
//   <dir>/staging/<key>     objects being uploaded (appended to in order)
//   <dir>/<bucket>/<key>    published objects, moved there by a rename (atomic on one file system)
//
// Files are written and read with positioned I/O in pieces, so memory stays bounded by the piece
// size whatever the object's size. No fsync: the embedded backend is not durable anyway (its
// records live in memory), and an fsync per chunk would cost more than the transfer itself.

import type { FileHandle } from "node:fs/promises";
import { mkdir, mkdtemp, open, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { BlobStore, StorageRefRecord } from "../types.js";

/** Options of {@link createFsBlobStore}. */
export interface FsBlobStoreOptions {
  /**
   * The directory that holds every blob. Default: a new temporary directory, created on first use
   * and removed by close() (one per hub run).
   */
  dir?: string;
  /** The bucket (a subdirectory) published objects go to. Default "objects". */
  bucket?: string;
}

// One path segment of a key; no "." or ".." segments, so a key never leaves its directory.
const SEGMENT = /^[A-Za-z0-9_:@-][A-Za-z0-9._:@-]*$/;

function checkKey(key: string): string {
  const parts = key.split("/");
  if (parts.length === 0 || !parts.every((p) => SEGMENT.test(p))) {
    throw new Error(`invalid blob key "${key}"`);
  }
  return join(...parts);
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === "ENOENT";

/** A staged object with its file kept open between appends (one open per upload, not per chunk). */
interface Staged {
  handle: FileHandle;
  size: number;
}

export function createFsBlobStore(options: FsBlobStoreOptions = {}): BlobStore {
  const bucket = options.bucket ?? "objects";
  checkKey(bucket);
  const ownsDir = options.dir === undefined;
  let root: Promise<string> | undefined;
  const rootDir = () => {
    root ??=
      options.dir !== undefined
        ? Promise.resolve(options.dir)
        : mkdtemp(join(tmpdir(), "acb-blobs-"));
    return root;
  };
  const staged = new Map<string, Staged>();
  const stagingPath = async (key: string) => join(await rootDir(), "staging", checkKey(key));
  const objectPath = async (ref: StorageRefRecord) => {
    if (ref.backend !== "fs")
      throw new Error(`blob "${ref.key}" is in store "${ref.backend}", not "fs"`);
    return join(await rootDir(), checkKey(ref.bucket), checkKey(ref.key));
  };

  async function openStaged(key: string, create: boolean): Promise<Staged | undefined> {
    const open_ = staged.get(key);
    if (open_) return open_;
    const path = await stagingPath(key);
    if (create) await mkdir(dirname(path), { recursive: true });
    let handle: FileHandle;
    try {
      // "w+" starts an object afresh (a leftover file at offset 0 is replaced); never "a": in
      // append mode Linux ignores the position of positioned writes.
      handle = await open(path, create ? "w+" : "r+");
    } catch (err) {
      if (!create && isMissing(err)) return undefined;
      throw err;
    }
    const entry = { handle, size: (await handle.stat()).size };
    staged.set(key, entry);
    return entry;
  }

  async function closeStaged(key: string): Promise<void> {
    const entry = staged.get(key);
    staged.delete(key);
    await entry?.handle.close();
  }

  return {
    name: "fs",

    async append(key, offset, data) {
      const entry = await openStaged(key, offset === 0);
      if (!entry) throw new Error(`no staged blob "${key}" to append to at offset ${offset}`);
      if (entry.size !== offset) {
        throw new Error(
          `staged blob "${key}" holds ${entry.size} bytes; cannot append at ${offset}`,
        );
      }
      try {
        let done = 0;
        while (done < data.length) {
          const { bytesWritten } = await entry.handle.write(
            data,
            done,
            data.length - done,
            offset + done,
          );
          done += bytesWritten;
        }
      } catch (err) {
        // All or nothing: cut a partly written piece off again.
        await entry.handle.truncate(offset).catch(() => {});
        throw err;
      }
      entry.size = offset + data.length;
    },

    async stagedSize(key) {
      const entry = staged.get(key);
      if (entry) return entry.size;
      try {
        return (await stat(await stagingPath(key))).size;
      } catch (err) {
        if (isMissing(err)) return 0;
        throw err;
      }
    },

    async readStaged(key, offset, length) {
      const entry = await openStaged(key, false);
      if (!entry) throw new Error(`no staged blob "${key}"`);
      const out = new Uint8Array(Math.max(0, Math.min(length, entry.size - offset)));
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await entry.handle.read(out, done, out.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out.subarray(0, done);
    },

    async publish(key) {
      const from = await stagingPath(key);
      const size = await this.stagedSize(key);
      await closeStaged(key);
      const ref: StorageRefRecord = { backend: "fs", bucket, key, size };
      const to = await objectPath(ref);
      await mkdir(dirname(to), { recursive: true });
      try {
        await rename(from, to);
      } catch (err) {
        // Nothing staged: published before (a retried commit) answers that object's ref.
        if (!isMissing(err)) throw err;
        const published = await stat(to).catch(() => undefined);
        if (!published) throw new Error(`no staged blob "${key}" to publish`);
        return { ...ref, size: published.size };
      }
      return ref;
    },

    async discard(key) {
      await closeStaged(key);
      await rm(await stagingPath(key), { force: true });
    },

    async *read(ref, offset, length, pieceSize, readOptions) {
      const handle = await open(await objectPath(ref), "r");
      const end = offset + length;
      /** Fills `piece` from `position` (positioned reads, as many as it takes). */
      const fill = async (piece: Uint8Array, position: number) => {
        let filled = 0;
        while (filled < piece.length) {
          const { bytesRead } = await handle.read(
            piece,
            filled,
            piece.length - filled,
            position + filled,
          );
          if (bytesRead === 0) throw new Error(`blob "${ref.key}" ends before byte ${end}`);
          filled += bytesRead;
        }
        return piece;
      };
      // With `reuse`, `hold` + 1 buffers take turns: the next piece is read into one while the
      // consumer handles the `hold` it holds (it is done with the oldest when it asks for another),
      // so the disk read overlaps the consumer's work and no piece allocates. Otherwise a fresh
      // buffer per piece, read when asked for, as the consumer may keep them. `shared` puts them
      // in shared memory (a thread hashes them where they are).
      const size0 = Math.min(pieceSize, length);
      const shared = readOptions?.shared === true;
      const fresh = (size: number) =>
        shared ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size);
      const turns = Math.max(1, Math.floor(readOptions?.hold ?? 1)) + 1;
      const pool = readOptions?.reuse
        ? Array.from({ length: turns }, () => fresh(size0))
        : undefined;
      const pieceAt = (position: number, turn: number) => {
        const size = Math.min(pieceSize, end - position);
        return fill(
          pool
            ? (pool[turn % turns] as Buffer).subarray(0, size)
            : shared
              ? fresh(size)
              : new Uint8Array(size),
          position,
        );
      };
      let ahead: Promise<Uint8Array> | undefined;
      try {
        let turn = 0;
        for (let position = offset; position < end; turn++) {
          const current = ahead ?? pieceAt(position, turn);
          ahead = undefined;
          const piece = await current;
          position += piece.length;
          if (pool && position < end) {
            ahead = pieceAt(position, turn + 1);
            ahead.catch(() => {}); // surfaced when awaited; not unhandled if the consumer stops
          }
          yield piece;
        }
      } finally {
        // A read still in flight must finish before the file closes under it.
        await ahead?.catch(() => {});
        await handle.close();
      }
    },

    async exists(ref) {
      try {
        await stat(await objectPath(ref));
        return true;
      } catch (err) {
        if (isMissing(err)) return false;
        throw err;
      }
    },

    async delete(ref) {
      await rm(await objectPath(ref), { force: true });
    },

    async close() {
      await Promise.all([...staged.keys()].map(closeStaged));
      if (ownsDir && root) await rm(await root, { recursive: true, force: true });
      root = undefined;
    },
  };
}
