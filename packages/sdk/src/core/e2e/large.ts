// Encrypted large-context uploads: the builder encrypts the source as it streams (STREAM
// segments) and hands the encrypted bytes, with their size, to the ordinary verified, resumable
// upload. A resumed upload re-sends ciphertext the upload kept, never re-encrypts.
import type {
  ContextStreamBuilder,
  StreamContextOptions,
  StreamProgress,
  StreamSource,
} from "../large-contexts.js";
import type { ClientE2e, EncryptOption } from "./client-e2e.js";

export function encryptingStreamBuilder(
  e2e: ClientE2e,
  make: (options: StreamContextOptions) => ContextStreamBuilder,
  options: StreamContextOptions & { encrypt?: EncryptOption },
): ContextStreamBuilder {
  let source: StreamSource | undefined;
  let size = options.size;
  let chunkSize: number | undefined;
  let progress: ((p: StreamProgress) => void) | undefined;
  const builder: ContextStreamBuilder = {
    fromReader(s, n) {
      source = s;
      if (n !== undefined) size = n;
      return builder;
    },
    withChunkSize(bytes) {
      chunkSize = bytes;
      return builder;
    },
    onProgress(fn) {
      progress = fn;
      return builder;
    },
    async send() {
      if (source === undefined) throw new TypeError("streamContext: call fromReader(source) first");
      const sealed = await e2e.sealStream(source, size, options.encrypt);
      if (!sealed) throw new TypeError("streamContext: encryption was not requested");
      let inner = make({ ...options, size: sealed.size }).fromReader(sealed.source, sealed.size);
      if (chunkSize !== undefined) inner = inner.withChunkSize(chunkSize);
      if (progress) inner = inner.onProgress(progress);
      return inner.send();
    },
  };
  return builder;
}
