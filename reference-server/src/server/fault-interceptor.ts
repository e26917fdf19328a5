// TEST-ONLY: the faults of src/faults.ts that break a rule checked on a request rather than in
// storage, injected around the handlers (storage faults live in storage/faulty/). Installed only
// when createHub gets `faults`; the rules in domain/ contain no test code.

import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { SpeakResponseSchema } from "@acb/gen/acb/v1/meetings_pb";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { HubFault } from "../faults.js";

interface ChunkCarrier {
  chunk?: { data: Uint8Array; sha256: Uint8Array; crc32?: number };
}

/** Makes a chunk's declared checksums match its bytes, whatever they are ("accept-corrupt-chunk"). */
function vouchFor<M>(message: M): M {
  const chunk = (message as ChunkCarrier).chunk;
  if (chunk) {
    chunk.sha256 = new Uint8Array(createHash("sha256").update(chunk.data).digest());
    if (chunk.crc32 !== undefined) chunk.crc32 = crc32(chunk.data);
  }
  return message;
}

/**
 * - "accept-corrupt-chunk": every chunk of AppendChunk / UploadChunks reaches the service with a
 *   checksum recomputed from the bytes as they arrived, so a corrupted chunk is accepted;
 * - "non-holder-speaks": a Speak refused with NOT_TURN_HOLDER is answered as a success.
 */
export function createFaultInterceptor(faults: ReadonlySet<HubFault>): Interceptor {
  return (next) => async (req) => {
    const method = req.method.name;
    if (faults.has("accept-corrupt-chunk")) {
      if (method === "AppendChunk" && !req.stream) vouchFor(req.message);
      if (method === "UploadChunks" && req.stream) {
        const source = req.message;
        req = {
          ...req,
          message: (async function* () {
            for await (const m of source) yield vouchFor(m);
          })(),
        };
      }
    }
    if (faults.has("non-holder-speaks") && method === "Speak" && !req.stream) {
      try {
        return await next(req);
      } catch (err) {
        const e = ConnectError.from(err);
        const refused =
          e.code === Code.FailedPrecondition && e.rawMessage.includes("does not hold the turn");
        if (!refused) throw err;
        return {
          stream: false,
          service: req.service,
          method: req.method,
          header: new Headers(),
          trailer: new Headers(),
          message: create(SpeakResponseSchema),
        } as unknown as Awaited<ReturnType<typeof next>>;
      }
    }
    return next(req);
  };
}
