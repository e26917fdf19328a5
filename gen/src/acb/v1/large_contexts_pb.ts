// Large contexts: values too big for one request, moved in verified, resumable chunks.
//
// A context's value travels in one of three tiers:
// - Inline: values under 1 MiB are written and read whole through ContextService.
// - Chunked: larger values are uploaded and downloaded here as a sequence of chunks (1 MiB by
//   default, ServerLimits.default_chunk_size_bytes; configurable per transfer up to 4 MiB). Every
//   chunk carries its own check (a SHA-256 or a CRC-32, see ContextChunk), and the whole object is
//   checked against its SHA-256 at the end.
//
// Integrity: Context.sha256 is always the plain SHA-256 of the object's bytes (what `sha256sum`
// prints), computed incrementally by each side as the chunks pass. Each chunk carries either the
// SHA-256 of its data or the CRC-32 of its data (or both). The CRC-32 is a cheap check against
// bytes damaged on the way, for a side that also verifies the whole object's SHA-256 (an uploader
// always does: CommitUpload checks it; a downloader does when it reads the whole object); with it
// each byte is hashed once per side instead of twice. A client that reads a range and cannot
// verify the whole object asks for per-chunk SHA-256 (DownloadContextRequest.chunk_check).
// - Blob store: the hub keeps the bytes of an uploaded value in a blob store behind an internal
//   interface (a file system, S3, ...); Context.storage_ref says where. Clients never talk to the
//   blob store: all bytes pass through this service.
//
// Upload: BeginUpload declares the object (its type, total size and, up front or at commit, its
// SHA-256) and opens an upload session. The uploader then sends chunks in order, either over one
// client stream (UploadChunks, for HTTP/2 clients) or one unary call per chunk (AppendChunk, for
// browsers, whose fetch cannot stream a request body). The hub keeps a "verified offset": the
// number of leading bytes it has received, checked and stored. A chunk must start exactly at the
// verified offset, so the bytes of an object are written once, in order. A client that lost its
// connection asks GetUploadStatus for the verified offset and continues from there without
// re-sending verified bytes. CommitUpload checks the whole object and only then makes the value
// visible, as a new context or as a new revision of an existing one.
//
// Upload sessions:
// - An upload belongs to the agent that began it; to anyone else its id is NOT_FOUND.
// - A session is OPEN until it is COMMITTED, ABORTED (by AbortUpload or by a failed commit) or
//   EXPIRED (no chunk accepted for the idle timeout, Upload.idle_timeout). When a session leaves
//   OPEN other than by commit, its stored bytes are reclaimed.
// - The hub remembers a closed session (its state and, when committed, its result) for at least
//   one hour after it closed. During that time its id answers GetUploadStatus with the state,
//   and chunk, commit and abort calls that need an OPEN session are FAILED_PRECONDITION with
//   ErrorInfo reason UPLOAD_NOT_OPEN and metadata {"state": "UPLOAD_STATE_EXPIRED"} (or the
//   state it is in), so a client learns that it must begin again rather than that it mistyped
//   the id. After that time the id is NOT_FOUND (reason UPLOAD_NOT_FOUND).
//
// Chunk rules (UploadChunks and AppendChunk), checked in this order:
// 1. The chunk's data is at most the session's chunk size, else INVALID_ARGUMENT (ErrorInfo
//    reason CHUNK_TOO_LARGE, metadata chunk_size).
// 2. The chunk carries a sha256 or a crc32 (else INVALID_ARGUMENT), and each one it carries
//    matches the chunk's data, else DATA_LOSS (reason CHUNK_CHECKSUM_MISMATCH). Nothing of that
//    chunk is kept; the session stays OPEN.
// 3. A chunk that lies entirely below the verified offset and is identical to the bytes already
//    stored at that range is acknowledged without effect (a retry whose answer was lost).
// 4. The chunk starts at the verified offset, else FAILED_PRECONDITION (reason OFFSET_MISMATCH).
// 5. The chunk does not run past the declared total size, else OUT_OF_RANGE (reason
//    PAST_TOTAL_SIZE, metadata total_size).
// Every error about a chunk of an OPEN session carries ErrorInfo metadata "verified_offset" (a
// decimal number), the offset at which the client should continue.
//
// Download: DownloadContext streams a context's value from any offset, chunk by chunk, each chunk
// with its check (SHA-256, or CRC-32 when asked); the first message describes the whole object,
// so an interrupted download can resume at an offset and still verify the complete object at the
// end. It serves inline contexts too (as one chunk), so a reader need not know which tier holds a
// value.
//
// Limits:
// - Objects are at most ServerLimits.max_object_bytes; larger declared sizes are refused at
//   BeginUpload.
// - BeginUpload reserves the declared size against the tenant's storage quota until the session
//   closes, so a commit never fails for lack of storage.
// - One agent holds at most ServerLimits.max_concurrent_streams_per_agent (default 10; tenant
//   quota agent_concurrent_streams) large-context streams at once. Each OPEN upload session
//   counts as one stream from BeginUpload until it is committed, aborted or expires, however its
//   chunks are sent; each DownloadContext call counts as one while it is open. BeginUpload and
//   DownloadContext beyond the limit are RESOURCE_EXHAUSTED with RetryInfo (limit
//   "agent.concurrent_streams"). Abort uploads you no longer need to free their slot.
//
// Access scopes apply exactly as in ContextService: a context the caller may not read is
// NOT_FOUND (reason CONTEXT_NOT_FOUND), for downloads and for uploads that target it.
// MUST [acb:large.context-not-found]: DownloadContext, and BeginUpload and CommitUpload of an
//   UPDATE, of a context that does not exist or that the caller may not read are NOT_FOUND with
//   ErrorInfo reason CONTEXT_NOT_FOUND; the commit also aborts its session.

// @generated by protoc-gen-es v2.17.0 with parameter "target=ts,import_extension=js"
// @generated from file acb/v1/large_contexts.proto (package acb.v1, syntax proto3)
/* eslint-disable */

import type { GenEnum, GenFile, GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import { enumDesc, fileDesc, messageDesc, serviceDesc } from "@bufbuild/protobuf/codegenv2";
import type { AccessControl, Context } from "./contexts_pb.js";
import { file_acb_v1_contexts } from "./contexts_pb.js";
import { file_buf_validate_validate } from "../../buf/validate/validate_pb.js";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { file_google_protobuf_duration, file_google_protobuf_timestamp } from "@bufbuild/protobuf/wkt";
import type { Message } from "@bufbuild/protobuf";

/**
 * Describes the file acb/v1/large_contexts.proto.
 */
export const file_acb_v1_large_contexts: GenFile = /*@__PURE__*/
  fileDesc("ChthY2IvdjEvbGFyZ2VfY29udGV4dHMucHJvdG8SBmFjYi52MSK6AwoGVXBsb2FkEgoKAmlkGAEgASgJEhMKC3VwbG9hZGVyX2lkGAIgASgJEhEKCXRlbmFudF9pZBgDIAEoCRIgCgRtb2RlGAQgASgOMhIuYWNiLnYxLlVwbG9hZE1vZGUSEgoKY29udGV4dF9pZBgFIAEoCRIMCgR0eXBlGAYgASgJEhIKCnRvdGFsX3NpemUYByABKAMSDgoGc2hhMjU2GAggASgMEhIKCmNodW5rX3NpemUYCSABKAUSFwoPdmVyaWZpZWRfb2Zmc2V0GAogASgDEhYKDmJ5dGVzX3JlY2VpdmVkGAsgASgDEiIKBXN0YXRlGAwgASgOMhMuYWNiLnYxLlVwbG9hZFN0YXRlEi4KCmNyZWF0ZWRfYXQYDSABKAsyGi5nb29nbGUucHJvdG9idWYuVGltZXN0YW1wEi4KCmV4cGlyZXNfYXQYDiABKAsyGi5nb29nbGUucHJvdG9idWYuVGltZXN0YW1wEi8KDGlkbGVfdGltZW91dBgPIAEoCzIZLmdvb2dsZS5wcm90b2J1Zi5EdXJhdGlvbhIaChJjb21taXR0ZWRfcmV2aXNpb24YECABKAQi7gEKDENvbnRleHRDaHVuaxIXCgZvZmZzZXQYASABKANCB7pIBCICKAASGgoEZGF0YRgCIAEoDEIMukgJegcQARiAgIACEhoKBnNoYTI1NhgDIAEoDEIKukgH2AEBegJoIBISCgVjcmMzMhgEIAEoB0gAiAEBOm+6SGwaagoZY29udGV4dF9jaHVuay5uZWVkc19jaGVjaxIhYSBjaHVuayBuZWVkcyBhIHNoYTI1NiBvciBhIGNyYzMyGipzaXplKHRoaXMuc2hhMjU2KSA9PSAzMiB8fCBoYXModGhpcy5jcmMzMilCCAoGX2NyYzMyIv8HChJCZWdpblVwbG9hZFJlcXVlc3QSKgoEbW9kZRgBIAEoDjISLmFjYi52MS5VcGxvYWRNb2RlQgi6SAWCAQIQARI/Cgpjb250ZXh0X2lkGAIgASgJQiu6SChyJhiAATIhXihbQS1aYS16MC05XVtBLVphLXowLTkuXzpALV0qKT8kEjkKBHR5cGUYAyABKAlCK7pIKHImGIABMiFeKFtBLVphLXowLTldW0EtWmEtejAtOS5fLzotXSopPyQSGwoKdG90YWxfc2l6ZRgEIAEoA0IHukgEIgIgABIaCgZzaGEyNTYYBSABKAxCCrpIB9gBAXoCaCASJQoKY2h1bmtfc2l6ZRgGIAEoBUIRukgO2AEBGgkYgICAAiiAgAQSVAoIbWV0YWRhdGEYByADKAsyKC5hY2IudjEuQmVnaW5VcGxvYWRSZXF1ZXN0Lk1ldGFkYXRhRW50cnlCGLpIFZoBEhBAIgdyBRABGIABKgVyAxiACBIYChByZXBsYWNlX21ldGFkYXRhGAggASgIEh8KDnNjaGVtYV92ZXJzaW9uGAkgASgJQge6SARyAhhAEiUKBmFjY2VzcxgKIAEoCzIVLmFjYi52MS5BY2Nlc3NDb250cm9sEjcKA3R0bBgLIAEoCzIZLmdvb2dsZS5wcm90b2J1Zi5EdXJhdGlvbkIPukgMqgEJIgUIgOeEDyoAEhkKEWV4cGVjdGVkX3JldmlzaW9uGAwgASgEGi8KDU1ldGFkYXRhRW50cnkSCwoDa2V5GAEgASgJEg0KBXZhbHVlGAIgASgJOgI4ATqjA7pInwMahwEKJGJlZ2luX3VwbG9hZC51cGRhdGVfbmVlZHNfY29udGV4dF9pZBI2Y29udGV4dF9pZCBpcyByZXF1aXJlZCB3aGVuIG1vZGUgaXMgVVBMT0FEX01PREVfVVBEQVRFGid0aGlzLm1vZGUgIT0gMiB8fCB0aGlzLmNvbnRleHRfaWQgIT0gJycabQoeYmVnaW5fdXBsb2FkLmNyZWF0ZV9uZWVkc190eXBlEih0eXBlIGlzIHJlcXVpcmVkIHdoZW4gY3JlYXRpbmcgYSBjb250ZXh0GiF0aGlzLm1vZGUgPT0gMiB8fCB0aGlzLnR5cGUgIT0gJycaowEKLmJlZ2luX3VwbG9hZC5leHBlY3RlZF9yZXZpc2lvbl9vbmx5X2Zvcl91cGRhdGUSQWV4cGVjdGVkX3JldmlzaW9uIG1heSBvbmx5IGJlIHNldCB3aGVuIG1vZGUgaXMgVVBMT0FEX01PREVfVVBEQVRFGi50aGlzLm1vZGUgPT0gMiB8fCB0aGlzLmV4cGVjdGVkX3JldmlzaW9uID09IDB1IjUKE0JlZ2luVXBsb2FkUmVzcG9uc2USHgoGdXBsb2FkGAEgASgLMg4uYWNiLnYxLlVwbG9hZCKCAQoTVXBsb2FkQ2h1bmtzUmVxdWVzdBI+Cgl1cGxvYWRfaWQYASABKAlCK7pIKHImGIABMiFeKFtBLVphLXowLTldW0EtWmEtejAtOS5fOkAtXSopPyQSKwoFY2h1bmsYAiABKAsyFC5hY2IudjEuQ29udGV4dENodW5rQga6SAPIAQEiNgoUVXBsb2FkQ2h1bmtzUmVzcG9uc2USHgoGdXBsb2FkGAEgASgLMg4uYWNiLnYxLlVwbG9hZCKAAQoSQXBwZW5kQ2h1bmtSZXF1ZXN0Ej0KCXVwbG9hZF9pZBgBIAEoCUIqukgnciUQARiAATIeXltBLVphLXowLTldW0EtWmEtejAtOS5fOkAtXSokEisKBWNodW5rGAIgASgLMhQuYWNiLnYxLkNvbnRleHRDaHVua0IGukgDyAEBIjUKE0FwcGVuZENodW5rUmVzcG9uc2USHgoGdXBsb2FkGAEgASgLMg4uYWNiLnYxLlVwbG9hZCJXChZHZXRVcGxvYWRTdGF0dXNSZXF1ZXN0Ej0KCXVwbG9hZF9pZBgBIAEoCUIqukgnciUQARiAATIeXltBLVphLXowLTldW0EtWmEtejAtOS5fOkAtXSokIjkKF0dldFVwbG9hZFN0YXR1c1Jlc3BvbnNlEh4KBnVwbG9hZBgBIAEoCzIOLmFjYi52MS5VcGxvYWQicAoTQ29tbWl0VXBsb2FkUmVxdWVzdBI9Cgl1cGxvYWRfaWQYASABKAlCKrpIJ3IlEAEYgAEyHl5bQS1aYS16MC05XVtBLVphLXowLTkuXzpALV0qJBIaCgZzaGEyNTYYAiABKAxCCrpIB9gBAXoCaCAiWAoUQ29tbWl0VXBsb2FkUmVzcG9uc2USIAoHY29udGV4dBgBIAEoCzIPLmFjYi52MS5Db250ZXh0Eh4KBnVwbG9hZBgCIAEoCzIOLmFjYi52MS5VcGxvYWQiUwoSQWJvcnRVcGxvYWRSZXF1ZXN0Ej0KCXVwbG9hZF9pZBgBIAEoCUIqukgnciUQARiAATIeXltBLVphLXowLTldW0EtWmEtejAtOS5fOkAtXSokIjUKE0Fib3J0VXBsb2FkUmVzcG9uc2USHgoGdXBsb2FkGAEgASgLMg4uYWNiLnYxLlVwbG9hZCL2AQoWRG93bmxvYWRDb250ZXh0UmVxdWVzdBI+Cgpjb250ZXh0X2lkGAEgASgJQiq6SCdyJRABGIABMh5eW0EtWmEtejAtOV1bQS1aYS16MC05Ll86QC1dKiQSFwoGb2Zmc2V0GAIgASgDQge6SAQiAigAEhcKBmxlbmd0aBgDIAEoA0IHukgEIgIoABIQCghyZXZpc2lvbhgEIAEoBBIlCgpjaHVua19zaXplGAUgASgFQhG6SA7YAQEaCRiAgIACKICABBIxCgtjaHVua19jaGVjaxgGIAEoDjISLmFjYi52MS5DaHVua0NoZWNrQgi6SAWCAQIQASKHAgoXRG93bmxvYWRDb250ZXh0UmVzcG9uc2USOAoGaGVhZGVyGAEgASgLMiYuYWNiLnYxLkRvd25sb2FkQ29udGV4dFJlc3BvbnNlLkhlYWRlckgAEiUKBWNodW5rGAIgASgLMhQuYWNiLnYxLkNvbnRleHRDaHVua0gAGoIBCgZIZWFkZXISIAoHY29udGV4dBgBIAEoCzIPLmFjYi52MS5Db250ZXh0EhIKCnRvdGFsX3NpemUYAiABKAMSDgoGc2hhMjU2GAMgASgMEg4KBm9mZnNldBgEIAEoAxIOCgZsZW5ndGgYBSABKAMSEgoKY2h1bmtfc2l6ZRgGIAEoBUIGCgRpdGVtKlkKClVwbG9hZE1vZGUSGwoXVVBMT0FEX01PREVfVU5TUEVDSUZJRUQQABIWChJVUExPQURfTU9ERV9DUkVBVEUQARIWChJVUExPQURfTU9ERV9VUERBVEUQAiqSAQoLVXBsb2FkU3RhdGUSHAoYVVBMT0FEX1NUQVRFX1VOU1BFQ0lGSUVEEAASFQoRVVBMT0FEX1NUQVRFX09QRU4QARIaChZVUExPQURfU1RBVEVfQ09NTUlUVEVEEAISGAoUVVBMT0FEX1NUQVRFX0FCT1JURUQQAxIYChRVUExPQURfU1RBVEVfRVhQSVJFRBAEKlgKCkNodW5rQ2hlY2sSGwoXQ0hVTktfQ0hFQ0tfVU5TUEVDSUZJRUQQABIWChJDSFVOS19DSEVDS19TSEEyNTYQARIVChFDSFVOS19DSEVDS19DUkMzMhACMq8EChNMYXJnZUNvbnRleHRTZXJ2aWNlEkYKC0JlZ2luVXBsb2FkEhouYWNiLnYxLkJlZ2luVXBsb2FkUmVxdWVzdBobLmFjYi52MS5CZWdpblVwbG9hZFJlc3BvbnNlEksKDFVwbG9hZENodW5rcxIbLmFjYi52MS5VcGxvYWRDaHVua3NSZXF1ZXN0GhwuYWNiLnYxLlVwbG9hZENodW5rc1Jlc3BvbnNlKAESRgoLQXBwZW5kQ2h1bmsSGi5hY2IudjEuQXBwZW5kQ2h1bmtSZXF1ZXN0GhsuYWNiLnYxLkFwcGVuZENodW5rUmVzcG9uc2USUgoPR2V0VXBsb2FkU3RhdHVzEh4uYWNiLnYxLkdldFVwbG9hZFN0YXR1c1JlcXVlc3QaHy5hY2IudjEuR2V0VXBsb2FkU3RhdHVzUmVzcG9uc2USSQoMQ29tbWl0VXBsb2FkEhsuYWNiLnYxLkNvbW1pdFVwbG9hZFJlcXVlc3QaHC5hY2IudjEuQ29tbWl0VXBsb2FkUmVzcG9uc2USRgoLQWJvcnRVcGxvYWQSGi5hY2IudjEuQWJvcnRVcGxvYWRSZXF1ZXN0GhsuYWNiLnYxLkFib3J0VXBsb2FkUmVzcG9uc2USVAoPRG93bmxvYWRDb250ZXh0Eh4uYWNiLnYxLkRvd25sb2FkQ29udGV4dFJlcXVlc3QaHy5hY2IudjEuRG93bmxvYWRDb250ZXh0UmVzcG9uc2UwAWIGcHJvdG8z", [file_acb_v1_contexts, file_buf_validate_validate, file_google_protobuf_duration, file_google_protobuf_timestamp]);

/**
 * An upload session as the hub sees it.
 *
 * @generated from message acb.v1.Upload
 */
export type Upload = Message<"acb.v1.Upload"> & {
  /**
   * Assigned by the hub ("upl_" + 26 characters); unique within the tenant.
   *
   * @generated from field: string id = 1;
   */
  id: string;

  /**
   * The agent that began the upload; only it may use the session.
   *
   * @generated from field: string uploader_id = 2;
   */
  uploaderId: string;

  /**
   * The tenant the upload belongs to (the caller's tenant).
   *
   * @generated from field: string tenant_id = 3;
   */
  tenantId: string;

  /**
   * Whether the upload creates a context or updates one.
   *
   * @generated from field: acb.v1.UploadMode mode = 4;
   */
  mode: UploadMode;

  /**
   * The context the upload will create or update. For CREATE without a chosen id the hub assigns
   * the id at BeginUpload and reserves it for this upload.
   *
   * @generated from field: string context_id = 5;
   */
  contextId: string;

  /**
   * The type of the context.
   *
   * @generated from field: string type = 6;
   */
  type: string;

  /**
   * The object's size in bytes, declared at BeginUpload.
   *
   * @generated from field: int64 total_size = 7;
   */
  totalSize: bigint;

  /**
   * The declared SHA-256 of the whole object (32 bytes); empty until it is declared (at
   * BeginUpload or CommitUpload).
   *
   * @generated from field: bytes sha256 = 8;
   */
  sha256: Uint8Array;

  /**
   * The size of every chunk except possibly the last; chunks may be shorter but never longer.
   *
   * @generated from field: int32 chunk_size = 9;
   */
  chunkSize: number;

  /**
   * How many leading bytes of the object the hub has received, verified and stored. The next
   * chunk must start here. Equals total_size when every byte has arrived.
   *
   * @generated from field: int64 verified_offset = 10;
   */
  verifiedOffset: bigint;

  /**
   * Chunk bytes the hub has received for this upload, including chunks it refused or
   * acknowledged as repeats; always at least verified_offset. A value far above verified_offset
   * points at a faulty connection or client.
   *
   * @generated from field: int64 bytes_received = 11;
   */
  bytesReceived: bigint;

  /**
   * The session's state.
   *
   * @generated from field: acb.v1.UploadState state = 12;
   */
  state: UploadState;

  /**
   * When the session was opened.
   *
   * @generated from field: google.protobuf.Timestamp created_at = 13;
   */
  createdAt?: Timestamp | undefined;

  /**
   * While OPEN: when the session expires unless a chunk is accepted before then (each accepted
   * chunk moves it to now + idle_timeout). Once closed: when it closed.
   *
   * @generated from field: google.protobuf.Timestamp expires_at = 14;
   */
  expiresAt?: Timestamp | undefined;

  /**
   * How long an OPEN session may go without an accepted chunk before it expires (hub-chosen).
   *
   * @generated from field: google.protobuf.Duration idle_timeout = 15;
   */
  idleTimeout?: Duration | undefined;

  /**
   * The revision of the context that the commit produced; 0 unless COMMITTED.
   *
   * @generated from field: uint64 committed_revision = 16;
   */
  committedRevision: bigint;
};

/**
 * Describes the message acb.v1.Upload.
 * Use `create(UploadSchema)` to create a new message.
 */
export const UploadSchema: GenMessage<Upload> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 0);

/**
 * A piece of an object: `data` is the object's bytes [offset, offset + len(data)). It carries a
 * sha256, a crc32, or both; the receiver checks each one present.
 *
 * @generated from message acb.v1.ContextChunk
 */
export type ContextChunk = Message<"acb.v1.ContextChunk"> & {
  /**
   * Position of the chunk's first byte within the object.
   *
   * @generated from field: int64 offset = 1;
   */
  offset: bigint;

  /**
   * The chunk's bytes: 1 byte to 4 MiB (4,194,304 bytes), and never more than the transfer's
   * chunk size.
   *
   * @generated from field: bytes data = 2;
   */
  data: Uint8Array;

  /**
   * SHA-256 of `data` (32 bytes), or empty when crc32 is set. The hub checks it on upload; the
   * client checks it on download.
   *
   * @generated from field: bytes sha256 = 3;
   */
  sha256: Uint8Array;

  /**
   * CRC-32 of `data` (the ISO-HDLC polynomial 0x04C11DB7, reflected, as zlib's crc32 and gzip
   * compute it). A cheap check against damage on the way, for a receiver that also verifies the
   * whole object's SHA-256; set on download chunks when the request asked for CHUNK_CHECK_CRC32.
   *
   * @generated from field: optional fixed32 crc32 = 4;
   */
  crc32?: number | undefined;
};

/**
 * Describes the message acb.v1.ContextChunk.
 * Use `create(ContextChunkSchema)` to create a new message.
 */
export const ContextChunkSchema: GenMessage<ContextChunk> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 1);

/**
 * Opens an upload session for a large value.
 *
 * @generated from message acb.v1.BeginUploadRequest
 */
export type BeginUploadRequest = Message<"acb.v1.BeginUploadRequest"> & {
  /**
   * Whether the upload creates a context or updates one; UNSPECIFIED means CREATE.
   *
   * @generated from field: acb.v1.UploadMode mode = 1;
   */
  mode: UploadMode;

  /**
   * CREATE: optional id chosen by the caller; empty lets the hub assign one (reserved for this
   * upload). A chosen id already in use is ALREADY_EXISTS, both here and at commit.
   * UPDATE: required; the context whose value the upload replaces.
   *
   * @generated from field: string context_id = 2;
   */
  contextId: string;

  /**
   * The context's type: 1-128 characters, letters, digits and `. _ / : -`. Required for CREATE.
   * For UPDATE it may be empty; when set it must equal the context's type (INVALID_ARGUMENT
   * otherwise).
   *
   * @generated from field: string type = 3;
   */
  type: string;

  /**
   * The object's size in bytes, declared up front: at least 1 and at most
   * ServerLimits.max_object_bytes. Chunks past it are refused, and the commit requires exactly
   * this many bytes.
   *
   * @generated from field: int64 total_size = 4;
   */
  totalSize: bigint;

  /**
   * SHA-256 of the whole object (32 bytes), if the caller knows it now; otherwise it must be
   * given to CommitUpload.
   *
   * @generated from field: bytes sha256 = 5;
   */
  sha256: Uint8Array;

  /**
   * The chunk size to use, in bytes: 64 KiB (65,536) to 4 MiB (4,194,304). Zero uses
   * ServerLimits.default_chunk_size_bytes (1 MiB). The hub uses the size asked for and returns
   * it in Upload.chunk_size.
   *
   * @generated from field: int32 chunk_size = 6;
   */
  chunkSize: number;

  /**
   * CREATE: the metadata of the new context. UPDATE: when non-empty (or when replace_metadata is
   * true) replaces the context's metadata. At most 64 entries; keys 1-128 characters, values at
   * most 1024.
   *
   * @generated from field: map<string, string> metadata = 7;
   */
  metadata: { [key: string]: string };

  /**
   * UPDATE only: when true, `metadata` replaces the context's metadata even if it is empty.
   *
   * @generated from field: bool replace_metadata = 8;
   */
  replaceMetadata: boolean;

  /**
   * The payload's schema version; at most 64 characters. UPDATE: when non-empty, the new schema
   * version.
   *
   * @generated from field: string schema_version = 9;
   */
  schemaVersion: string;

  /**
   * CREATE: who may access the new context; unset means PUBLIC. UPDATE: when set, the new access
   * control (owner only: PERMISSION_DENIED for anyone else).
   *
   * @generated from field: acb.v1.AccessControl access = 10;
   */
  access?: AccessControl | undefined;

  /**
   * Time to live of the context, counted from the commit; at most 365 days. CREATE: unset means
   * no expiry. UPDATE: when set, a new TTL (owner only, as for access).
   *
   * @generated from field: google.protobuf.Duration ttl = 11;
   */
  ttl?: Duration | undefined;

  /**
   * UPDATE only. Compare-and-set: when non-zero, the upload applies only if the context is at
   * this revision, checked here and again at commit; otherwise ABORTED (ErrorInfo reason
   * REVISION_MISMATCH, metadata current_revision). Zero replaces whatever revision is current
   * at commit.
   *
   * @generated from field: uint64 expected_revision = 12;
   */
  expectedRevision: bigint;
};

/**
 * Describes the message acb.v1.BeginUploadRequest.
 * Use `create(BeginUploadRequestSchema)` to create a new message.
 */
export const BeginUploadRequestSchema: GenMessage<BeginUploadRequest> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 2);

/**
 * The result of BeginUpload.
 *
 * @generated from message acb.v1.BeginUploadResponse
 */
export type BeginUploadResponse = Message<"acb.v1.BeginUploadResponse"> & {
  /**
   * The new session, OPEN, with its id, chunk size, expiry and (for CREATE) context id.
   *
   * @generated from field: acb.v1.Upload upload = 1;
   */
  upload?: Upload | undefined;
};

/**
 * Describes the message acb.v1.BeginUploadResponse.
 * Use `create(BeginUploadResponseSchema)` to create a new message.
 */
export const BeginUploadResponseSchema: GenMessage<BeginUploadResponse> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 3);

/**
 * One message of an UploadChunks client stream: one chunk of an upload.
 *
 * @generated from message acb.v1.UploadChunksRequest
 */
export type UploadChunksRequest = Message<"acb.v1.UploadChunksRequest"> & {
  /**
   * The upload the chunk belongs to. Required in the first message of the stream; later
   * messages may leave it empty or repeat it. A different id later in the stream is
   * INVALID_ARGUMENT (ErrorInfo reason UPLOAD_ID_MISMATCH).
   *
   * @generated from field: string upload_id = 1;
   */
  uploadId: string;

  /**
   * The chunk, starting at the verified offset (see the chunk rules in this file's header).
   *
   * @generated from field: acb.v1.ContextChunk chunk = 2;
   */
  chunk?: ContextChunk | undefined;
};

/**
 * Describes the message acb.v1.UploadChunksRequest.
 * Use `create(UploadChunksRequestSchema)` to create a new message.
 */
export const UploadChunksRequestSchema: GenMessage<UploadChunksRequest> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 4);

/**
 * The result of UploadChunks, sent when the client half-closes the stream after its last chunk.
 *
 * @generated from message acb.v1.UploadChunksResponse
 */
export type UploadChunksResponse = Message<"acb.v1.UploadChunksResponse"> & {
  /**
   * The session after the last chunk; verified_offset is where the next chunk must start.
   *
   * @generated from field: acb.v1.Upload upload = 1;
   */
  upload?: Upload | undefined;
};

/**
 * Describes the message acb.v1.UploadChunksResponse.
 * Use `create(UploadChunksResponseSchema)` to create a new message.
 */
export const UploadChunksResponseSchema: GenMessage<UploadChunksResponse> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 5);

/**
 * Sends one chunk of an upload in a unary call (for clients that cannot stream requests).
 *
 * @generated from message acb.v1.AppendChunkRequest
 */
export type AppendChunkRequest = Message<"acb.v1.AppendChunkRequest"> & {
  /**
   * The upload the chunk belongs to.
   *
   * @generated from field: string upload_id = 1;
   */
  uploadId: string;

  /**
   * The chunk, starting at the verified offset (see the chunk rules in this file's header).
   *
   * @generated from field: acb.v1.ContextChunk chunk = 2;
   */
  chunk?: ContextChunk | undefined;
};

/**
 * Describes the message acb.v1.AppendChunkRequest.
 * Use `create(AppendChunkRequestSchema)` to create a new message.
 */
export const AppendChunkRequestSchema: GenMessage<AppendChunkRequest> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 6);

/**
 * The result of AppendChunk.
 *
 * @generated from message acb.v1.AppendChunkResponse
 */
export type AppendChunkResponse = Message<"acb.v1.AppendChunkResponse"> & {
  /**
   * The session after the chunk; verified_offset is where the next chunk must start.
   *
   * @generated from field: acb.v1.Upload upload = 1;
   */
  upload?: Upload | undefined;
};

/**
 * Describes the message acb.v1.AppendChunkResponse.
 * Use `create(AppendChunkResponseSchema)` to create a new message.
 */
export const AppendChunkResponseSchema: GenMessage<AppendChunkResponse> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 7);

/**
 * Reads the state of an upload session, e.g. to resume after a lost connection.
 *
 * @generated from message acb.v1.GetUploadStatusRequest
 */
export type GetUploadStatusRequest = Message<"acb.v1.GetUploadStatusRequest"> & {
  /**
   * The upload to read.
   *
   * @generated from field: string upload_id = 1;
   */
  uploadId: string;
};

/**
 * Describes the message acb.v1.GetUploadStatusRequest.
 * Use `create(GetUploadStatusRequestSchema)` to create a new message.
 */
export const GetUploadStatusRequestSchema: GenMessage<GetUploadStatusRequest> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 8);

/**
 * The result of GetUploadStatus.
 *
 * @generated from message acb.v1.GetUploadStatusResponse
 */
export type GetUploadStatusResponse = Message<"acb.v1.GetUploadStatusResponse"> & {
  /**
   * The session: its verified offset, bytes received, state and expiry.
   *
   * @generated from field: acb.v1.Upload upload = 1;
   */
  upload?: Upload | undefined;
};

/**
 * Describes the message acb.v1.GetUploadStatusResponse.
 * Use `create(GetUploadStatusResponseSchema)` to create a new message.
 */
export const GetUploadStatusResponseSchema: GenMessage<GetUploadStatusResponse> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 9);

/**
 * Finishes an upload: checks the whole object and makes it visible as a context revision.
 *
 * @generated from message acb.v1.CommitUploadRequest
 */
export type CommitUploadRequest = Message<"acb.v1.CommitUploadRequest"> & {
  /**
   * The upload to commit.
   *
   * @generated from field: string upload_id = 1;
   */
  uploadId: string;

  /**
   * SHA-256 of the whole object (32 bytes). Required when it was not given to BeginUpload; when
   * it was, it may be left empty or must be equal (INVALID_ARGUMENT, reason CHECKSUM_CONFLICT,
   * otherwise).
   *
   * @generated from field: bytes sha256 = 2;
   */
  sha256: Uint8Array;
};

/**
 * Describes the message acb.v1.CommitUploadRequest.
 * Use `create(CommitUploadRequestSchema)` to create a new message.
 */
export const CommitUploadRequestSchema: GenMessage<CommitUploadRequest> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 10);

/**
 * The result of CommitUpload.
 *
 * @generated from message acb.v1.CommitUploadResponse
 */
export type CommitUploadResponse = Message<"acb.v1.CommitUploadResponse"> & {
  /**
   * The context as committed: storage_ref set, payload empty, size and sha256 of the object, and
   * its new revision (1 for CREATE).
   *
   * @generated from field: acb.v1.Context context = 1;
   */
  context?: Context | undefined;

  /**
   * The session, COMMITTED.
   *
   * @generated from field: acb.v1.Upload upload = 2;
   */
  upload?: Upload | undefined;
};

/**
 * Describes the message acb.v1.CommitUploadResponse.
 * Use `create(CommitUploadResponseSchema)` to create a new message.
 */
export const CommitUploadResponseSchema: GenMessage<CommitUploadResponse> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 11);

/**
 * Abandons an upload session and frees its storage and its stream slot.
 *
 * @generated from message acb.v1.AbortUploadRequest
 */
export type AbortUploadRequest = Message<"acb.v1.AbortUploadRequest"> & {
  /**
   * The upload to abort.
   *
   * @generated from field: string upload_id = 1;
   */
  uploadId: string;
};

/**
 * Describes the message acb.v1.AbortUploadRequest.
 * Use `create(AbortUploadRequestSchema)` to create a new message.
 */
export const AbortUploadRequestSchema: GenMessage<AbortUploadRequest> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 12);

/**
 * The result of AbortUpload.
 *
 * @generated from message acb.v1.AbortUploadResponse
 */
export type AbortUploadResponse = Message<"acb.v1.AbortUploadResponse"> & {
  /**
   * The session, ABORTED (or EXPIRED when it had already expired).
   *
   * @generated from field: acb.v1.Upload upload = 1;
   */
  upload?: Upload | undefined;
};

/**
 * Describes the message acb.v1.AbortUploadResponse.
 * Use `create(AbortUploadResponseSchema)` to create a new message.
 */
export const AbortUploadResponseSchema: GenMessage<AbortUploadResponse> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 13);

/**
 * Reads a context's value as a stream of chunks, from any offset.
 *
 * @generated from message acb.v1.DownloadContextRequest
 */
export type DownloadContextRequest = Message<"acb.v1.DownloadContextRequest"> & {
  /**
   * The context to read.
   *
   * @generated from field: string context_id = 1;
   */
  contextId: string;

  /**
   * The first byte to send. Zero starts at the beginning; a resuming client passes the offset
   * just past the last chunk it verified. Equal to the size: only the header is sent. Greater
   * than the size: OUT_OF_RANGE.
   *
   * @generated from field: int64 offset = 2;
   */
  offset: bigint;

  /**
   * How many bytes to send from `offset`; zero means to the end. A range past the end is cut at
   * the end.
   *
   * @generated from field: int64 length = 3;
   */
  length: bigint;

  /**
   * When non-zero, the download proceeds only if this is the context's current revision, else
   * ABORTED (ErrorInfo reason REVISION_MISMATCH, metadata current_revision). A resuming client
   * passes the revision from the first header so that it never mixes bytes of two revisions.
   * Zero reads the current revision.
   *
   * @generated from field: uint64 revision = 4;
   */
  revision: bigint;

  /**
   * Preferred chunk size in bytes: 64 KiB to 4 MiB; zero uses the hub default. Inline values are
   * always sent as one chunk.
   *
   * @generated from field: int32 chunk_size = 5;
   */
  chunkSize: number;

  /**
   * Which check the chunks carry; unspecified: SHA256.
   *
   * @generated from field: acb.v1.ChunkCheck chunk_check = 6;
   */
  chunkCheck: ChunkCheck;
};

/**
 * Describes the message acb.v1.DownloadContextRequest.
 * Use `create(DownloadContextRequestSchema)` to create a new message.
 */
export const DownloadContextRequestSchema: GenMessage<DownloadContextRequest> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 14);

/**
 * One message of a download stream: the header first, then the chunks in offset order.
 *
 * @generated from message acb.v1.DownloadContextResponse
 */
export type DownloadContextResponse = Message<"acb.v1.DownloadContextResponse"> & {
  /**
   * What this message carries.
   *
   * @generated from oneof acb.v1.DownloadContextResponse.item
   */
  item: {
    /**
     * The first message: a description of the object.
     *
     * @generated from field: acb.v1.DownloadContextResponse.Header header = 1;
     */
    value: DownloadContextResponse_Header;
    case: "header";
  } | {
    /**
     * Every later message: the next chunk, contiguous with the one before; the client checks it
     * (its sha256 or crc32, as the request's chunk_check asked) and may resume after it.
     *
     * @generated from field: acb.v1.ContextChunk chunk = 2;
     */
    value: ContextChunk;
    case: "chunk";
  } | { case: undefined; value?: undefined };
};

/**
 * Describes the message acb.v1.DownloadContextResponse.
 * Use `create(DownloadContextResponseSchema)` to create a new message.
 */
export const DownloadContextResponseSchema: GenMessage<DownloadContextResponse> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 15);

/**
 * Describes the whole object; sent once, as the first message.
 *
 * @generated from message acb.v1.DownloadContextResponse.Header
 */
export type DownloadContextResponse_Header = Message<"acb.v1.DownloadContextResponse.Header"> & {
  /**
   * The context at the revision being served: metadata, revision, access and so on, with the
   * payload left out (its bytes follow as chunks).
   *
   * @generated from field: acb.v1.Context context = 1;
   */
  context?: Context | undefined;

  /**
   * The object's total size in bytes (equal to context.size), whatever range was asked for.
   *
   * @generated from field: int64 total_size = 2;
   */
  totalSize: bigint;

  /**
   * SHA-256 of the whole object (32 bytes, equal to context.sha256). A client that assembled
   * every byte checks it before using the value.
   *
   * @generated from field: bytes sha256 = 3;
   */
  sha256: Uint8Array;

  /**
   * The offset of the first chunk that follows.
   *
   * @generated from field: int64 offset = 4;
   */
  offset: bigint;

  /**
   * How many bytes the chunks that follow carry in all.
   *
   * @generated from field: int64 length = 5;
   */
  length: bigint;

  /**
   * The chunk size used by this stream (an inline value is one chunk of its full size).
   *
   * @generated from field: int32 chunk_size = 6;
   */
  chunkSize: number;
};

/**
 * Describes the message acb.v1.DownloadContextResponse.Header.
 * Use `create(DownloadContextResponse_HeaderSchema)` to create a new message.
 */
export const DownloadContextResponse_HeaderSchema: GenMessage<DownloadContextResponse_Header> = /*@__PURE__*/
  messageDesc(file_acb_v1_large_contexts, 15, 0);

/**
 * Whether an upload creates a context or replaces the value of an existing one.
 *
 * @generated from enum acb.v1.UploadMode
 */
export enum UploadMode {
  /**
   * Treated as CREATE.
   *
   * @generated from enum value: UPLOAD_MODE_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * The upload creates a new context at revision 1.
   *
   * @generated from enum value: UPLOAD_MODE_CREATE = 1;
   */
  CREATE = 1,

  /**
   * The upload becomes the next revision of the existing context named by context_id. Like
   * UpdateContext, it needs the caller to be able to read the context.
   *
   * @generated from enum value: UPLOAD_MODE_UPDATE = 2;
   */
  UPDATE = 2,
}

/**
 * Describes the enum acb.v1.UploadMode.
 */
export const UploadModeSchema: GenEnum<UploadMode> = /*@__PURE__*/
  enumDesc(file_acb_v1_large_contexts, 0);

/**
 * The lifecycle state of an upload session.
 *
 * @generated from enum acb.v1.UploadState
 */
export enum UploadState {
  /**
   * Never returned.
   *
   * @generated from enum value: UPLOAD_STATE_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * Accepting chunks; not yet visible as a context.
   *
   * @generated from enum value: UPLOAD_STATE_OPEN = 1;
   */
  OPEN = 1,

  /**
   * Committed: the value is visible as a context revision. Final.
   *
   * @generated from enum value: UPLOAD_STATE_COMMITTED = 2;
   */
  COMMITTED = 2,

  /**
   * Aborted by AbortUpload or by a commit that failed its checks; the stored bytes are
   * reclaimed. Final.
   *
   * @generated from enum value: UPLOAD_STATE_ABORTED = 3;
   */
  ABORTED = 3,

  /**
   * No chunk was accepted for the idle timeout; the stored bytes are reclaimed. Final.
   *
   * @generated from enum value: UPLOAD_STATE_EXPIRED = 4;
   */
  EXPIRED = 4,
}

/**
 * Describes the enum acb.v1.UploadState.
 */
export const UploadStateSchema: GenEnum<UploadState> = /*@__PURE__*/
  enumDesc(file_acb_v1_large_contexts, 1);

/**
 * The check each downloaded chunk carries.
 *
 * @generated from enum acb.v1.ChunkCheck
 */
export enum ChunkCheck {
  /**
   * Treated as SHA256.
   *
   * @generated from enum value: CHUNK_CHECK_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * ContextChunk.sha256: every chunk verifiable on its own (reads of a range).
   *
   * @generated from enum value: CHUNK_CHECK_SHA256 = 1;
   */
  SHA256 = 1,

  /**
   * ContextChunk.crc32 only: for a client that verifies the whole object's SHA-256 (from the
   * header) as the chunks pass, so it hashes each byte once.
   *
   * @generated from enum value: CHUNK_CHECK_CRC32 = 2;
   */
  CRC32 = 2,
}

/**
 * Describes the enum acb.v1.ChunkCheck.
 */
export const ChunkCheckSchema: GenEnum<ChunkCheck> = /*@__PURE__*/
  enumDesc(file_acb_v1_large_contexts, 2);

/**
 * Uploads and downloads context values too large for ContextService, in verified, resumable
 * chunks. Besides the codes named below, every RPC may answer as described in common.proto
 * (UNAUTHENTICATED, PERMISSION_DENIED for a role without access, INVALID_ARGUMENT for a rule
 * violation, RESOURCE_EXHAUSTED for rate limits) and UNAVAILABLE when the blob store cannot be
 * reached (safe to retry: a failed chunk is not stored).
 *
 * @generated from service acb.v1.LargeContextService
 */
export const LargeContextService: GenService<{
  /**
   * Opens an upload session and returns its id, chunk size and expiry. INVALID_ARGUMENT (reason
   * OBJECT_TOO_LARGE, metadata max_object_bytes) when total_size exceeds the hub's maximum object
   * size, or for a type that differs from the updated context's; RESOURCE_EXHAUSTED with
   * RetryInfo when the agent already holds its maximum of concurrent streams (limit
   * "agent.concurrent_streams") or the object would exceed the tenant's storage quota (limit
   * "tenant.storage_bytes"); ALREADY_EXISTS when a chosen context_id is taken (CREATE); NOT_FOUND
   * when the context to update does not exist or is not readable by the caller (UPDATE); ABORTED
   * when expected_revision is stale; PERMISSION_DENIED when a non-owner changes access or ttl.
   * MUST [acb:large.roundtrip]: a chunked upload commits and downloads byte for byte, with
   *   per-chunk checks (SHA-256 or CRC-32) and whole-object SHA-256.
   * MUST [acb:large.update-cas]: a stale expected_revision of an UPDATE upload is ABORTED
   *   (REVISION_MISMATCH).
   * MUST [acb:large.create-reserves]: an OPEN CREATE upload holds its context_id, chosen or
   *   assigned: another CREATE BeginUpload of that id, by any agent of the tenant, is
   *   ALREADY_EXISTS until the upload is aborted or expires (then the id is free) or commits (then
   *   its context holds the id). UPDATE uploads hold nothing: several may be OPEN for one context.
   * MUST [acb:large.stream-limits]: BeginUpload and DownloadContext of an agent that holds its
   *   maximum of concurrent streams (OPEN uploads and open downloads; the tenant's
   *   agent_concurrent_streams) are RESOURCE_EXHAUSTED with RetryInfo (limit
   *   "agent.concurrent_streams"); an upload aborted or committed and a download that ended free
   *   their slot, and other agents' streams do not count. A BeginUpload whose size, with the
   *   bytes the tenant's contexts hold and those its OPEN uploads have staged, would pass
   *   storage_bytes is RESOURCE_EXHAUSTED (limit "tenant.storage_bytes"); an aborted upload
   *   gives its staged bytes back.
   * MUST [acb:large.begin-errors]: a total_size past max_object_bytes is INVALID_ARGUMENT (reason
   *   OBJECT_TOO_LARGE, metadata max_object_bytes) and one equal to it is not; an access with
   *   allowed_ids for PUBLIC or PRIVATE is INVALID_ARGUMENT; an UPDATE naming another type than the
   *   context's is INVALID_ARGUMENT; an UPDATE that sets access or ttl by anyone but the owner (or
   *   an admin) is PERMISSION_DENIED, and the owner's sets them on the committed revision.
   * MUST [acb:large.update-fields]: an UPDATE upload keeps the context's metadata when it gives
   *   none (and replace_metadata is false), replaces it when it gives some, clears it with
   *   replace_metadata and none, and sets schema_version when it gives one.
   *
   * @generated from rpc acb.v1.LargeContextService.BeginUpload
   */
  beginUpload: {
    methodKind: "unary";
    input: typeof BeginUploadRequestSchema;
    output: typeof BeginUploadResponseSchema;
  },
  /**
   * Receives chunks of one upload over a client stream and, when the client half-closes, returns
   * the session with its verified offset. Chunks are applied as they arrive; when one is
   * refused, the stream ends at once with that error, every chunk before it staying verified.
   * Errors: those of the chunk rules (INVALID_ARGUMENT CHUNK_TOO_LARGE, DATA_LOSS
   * CHUNK_CHECKSUM_MISMATCH, FAILED_PRECONDITION OFFSET_MISMATCH, OUT_OF_RANGE PAST_TOTAL_SIZE,
   * each with metadata verified_offset); INVALID_ARGUMENT when the first message has no
   * upload_id or a later one names another upload (UPLOAD_ID_MISMATCH); NOT_FOUND when the
   * upload is unknown, forgotten or not the caller's; FAILED_PRECONDITION (reason
   * UPLOAD_NOT_OPEN, metadata state) when the session is committed, aborted or expired.
   * MUST [acb:large.corrupt-chunk]: a chunk whose checksum (sha256 or crc32) does not match is
   *   refused and not stored.
   *
   * @generated from rpc acb.v1.LargeContextService.UploadChunks
   */
  uploadChunks: {
    methodKind: "client_streaming";
    input: typeof UploadChunksRequestSchema;
    output: typeof UploadChunksResponseSchema;
  },
  /**
   * Receives one chunk of an upload in a unary call, for browsers and other clients that cannot
   * stream a request body, and returns the session with its verified offset. Errors as for
   * UploadChunks (without UPLOAD_ID_MISMATCH).
   * MUST [acb:large.chunk-quota]: a chunk (of AppendChunk or UploadChunks) that would take the
   *   bytes the tenant's contexts hold plus those its OPEN uploads have staged past storage_bytes
   *   is RESOURCE_EXHAUSTED with RetryInfo (limit "tenant.storage_bytes") and not stored: the
   *   session stays OPEN at its verified offset. A chunk that reaches the quota exactly is stored;
   *   an aborted upload gives its staged bytes back, and a tenant created again with the id of a
   *   deleted one stages nothing of the deleted tenant's uploads.
   * MUST [acb:large.chunk-rules]: the chunk rules of this file's header apply in their order, each
   *   refusal with its code, reason and metadata (chunk_size, total_size, verified_offset),
   *   leaving the session OPEN at its verified offset; a chunk of other bytes below the verified
   *   offset, or one that runs past it, is OFFSET_MISMATCH, not a repeat; bytes_received counts
   *   every chunk's bytes, refused and repeated ones included.
   *
   * @generated from rpc acb.v1.LargeContextService.AppendChunk
   */
  appendChunk: {
    methodKind: "unary";
    input: typeof AppendChunkRequestSchema;
    output: typeof AppendChunkResponseSchema;
  },
  /**
   * Returns the session's verified offset, bytes received, state and expiry; a client that lost
   * its connection resumes sending at the verified offset. Works for closed sessions while the
   * hub remembers them. NOT_FOUND when the upload is unknown, forgotten or not the caller's.
   * MUST [acb:large.upload-resume]: an interrupted upload resumes from the last verified offset.
   *
   * @generated from rpc acb.v1.LargeContextService.GetUploadStatus
   */
  getUploadStatus: {
    methodKind: "unary";
    input: typeof GetUploadStatusRequestSchema;
    output: typeof GetUploadStatusResponseSchema;
  },
  /**
   * Checks the upload and, only if it passes, makes the value visible: a new context at revision
   * 1 (CREATE) or the context's next revision (UPDATE), with storage_ref set. A commit of an
   * already COMMITTED session returns the same result again, so a client whose answer was lost
   * can retry. Errors that leave the session OPEN (fix and commit again): FAILED_PRECONDITION
   * (reason UPLOAD_INCOMPLETE, metadata verified_offset and total_size) when fewer than
   * total_size bytes are verified; INVALID_ARGUMENT (reason CHECKSUM_MISSING) when no
   * whole-object sha256 was declared, or (reason CHECKSUM_CONFLICT) when it differs from the one
   * declared at BeginUpload. Errors that ABORT the session and reclaim its bytes (begin again):
   * DATA_LOSS (reason OBJECT_CHECKSUM_MISMATCH) when the bytes do not hash to the declared
   * sha256 (every chunk was verified on arrival, so re-sending cannot repair the object);
   * ALREADY_EXISTS when a chosen context_id was taken meanwhile; ABORTED (reason
   * REVISION_MISMATCH) when expected_revision is stale; NOT_FOUND (reason CONTEXT_NOT_FOUND) when
   * the context to update was deleted or became unreadable. UNAVAILABLE with RetryInfo when the
   * hub's storage cannot be reached: the session stays OPEN with its bytes, and the same commit
   * may be retried without sending them again (a retry finds a commit that went through). Other
   * errors: NOT_FOUND (reason UPLOAD_NOT_FOUND) when the upload is unknown, forgotten or not the
   * caller's; FAILED_PRECONDITION (reason UPLOAD_NOT_OPEN, metadata state) when it is aborted or
   * expired.
   * MUST [acb:large.commit-errors]: UPLOAD_INCOMPLETE, CHECKSUM_MISSING and CHECKSUM_CONFLICT
   *   leave the session OPEN, and a commit that fixes the cause then succeeds;
   *   OBJECT_CHECKSUM_MISMATCH aborts it and makes no context; a commit of a COMMITTED session
   *   answers the same context (id and revision) again.
   *
   * @generated from rpc acb.v1.LargeContextService.CommitUpload
   */
  commitUpload: {
    methodKind: "unary";
    input: typeof CommitUploadRequestSchema;
    output: typeof CommitUploadResponseSchema;
  },
  /**
   * Abandons an OPEN session: its bytes are reclaimed and its stream slot freed. Aborting an
   * ABORTED or EXPIRED session succeeds without effect. FAILED_PRECONDITION (reason
   * UPLOAD_NOT_OPEN) when it is COMMITTED; NOT_FOUND when the upload is unknown, forgotten or not
   * the caller's.
   * MUST [acb:large.session-states]: a closed session reports its state (GetUploadStatus), and
   *   chunk, commit and abort calls it does not allow are FAILED_PRECONDITION (UPLOAD_NOT_OPEN,
   *   metadata state); aborting an ABORTED session answers it unchanged; an unknown upload id,
   *   and another agent's, is NOT_FOUND (UPLOAD_NOT_FOUND) for every upload RPC, and such calls
   *   change nothing of the session.
   *
   * @generated from rpc acb.v1.LargeContextService.AbortUpload
   */
  abortUpload: {
    methodKind: "unary";
    input: typeof AbortUploadRequestSchema;
    output: typeof AbortUploadResponseSchema;
  },
  /**
   * Streams a context's value: first a header (Context metadata, total size, whole-object
   * sha256), then the chunks of the requested range in order. Works for inline and uploaded
   * values alike. The stream serves one revision throughout, even if the context is updated or
   * deleted while it runs. NOT_FOUND when the context does not exist, has expired or is not
   * readable by the caller; ABORTED (reason REVISION_MISMATCH) when `revision` is not current;
   * OUT_OF_RANGE when offset is past the end; RESOURCE_EXHAUSTED with RetryInfo (limit
   * "agent.concurrent_streams") when the agent already holds its maximum of concurrent streams;
   * DATA_LOSS when stored bytes no longer match their checksum.
   * MUST [acb:large.download-resume]: a download resumes from an offset with the same bytes.
   * MUST [acb:large.download-cas]: a download with a stale expected_revision is ABORTED.
   * MUST [acb:large.download-range]: a download serves exactly [offset, offset + length) of
   *   inline and uploaded values alike, cut at the end (length zero: to the end); an offset equal
   *   to the size answers the header and no chunk; one past it is OUT_OF_RANGE.
   *
   * @generated from rpc acb.v1.LargeContextService.DownloadContext
   */
  downloadContext: {
    methodKind: "server_streaming";
    input: typeof DownloadContextRequestSchema;
    output: typeof DownloadContextResponseSchema;
  },
}> = /*@__PURE__*/
  serviceDesc(file_acb_v1_large_contexts, 0);

