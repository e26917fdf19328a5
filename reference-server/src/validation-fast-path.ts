import type {
  AppendChunkRequest,
  ContextChunk,
  UploadChunksRequest,
} from "@acb/gen/acb/v1/large_contexts_pb";
import {
  type AckRequest,
  MessageType,
  MessageTypeSchema,
  type SendBatchRequest,
  type SendRequest,
  type SendStreamRequest,
} from "@acb/gen/acb/v1/messaging_pb";
import type { HeartbeatRequest } from "@acb/gen/acb/v1/registry_pb";
import type { Message } from "@bufbuild/protobuf";

/**
 * Plain-code checks of the hot requests (Send, SendBatch, SendStream items, Ack, Heartbeat; the
 * chunks of an upload, UploadChunks and AppendChunk) that answer only "certainly valid": protovalidate evaluates each rule through reflection, CEL and an
 * RE2 engine, which cost a fifth of the hub's CPU on batched sends. Each check here is at least
 * as strict as the buf.validate rules of messaging.proto, so a request it accepts would pass them
 * too; anything it does not accept (an invalid request, or a valid one using a rarely sent field
 * such as an expiry) goes to protovalidate, which decides and words the error. The answers and
 * errors are therefore those of protovalidate alone; validation-fast-path.test.ts compares the
 * two on generated requests. Keep these in step with the rules in messaging.proto and
 * large_contexts.proto.
 *
 * Why the checks are conservative: protovalidate counts string lengths in code points and a
 * JavaScript string's length in UTF-16 units, which are at least as many; every pattern here
 * admits ASCII only, where the two agree.
 */

// The patterns of messaging.proto, as JavaScript regular expressions (the same on ASCII).
const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;
const OPTIONAL_ID = /^(?:[A-Za-z0-9][A-Za-z0-9._:@-]*)?$/;
const TOPIC = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+){0,15}$/;
const KIND = /^[A-Za-z0-9][A-Za-z0-9._/:-]*$/;
const HEADER_KEY = /^[a-z0-9][a-z0-9._-]*$/;

const DEFINED_TYPES = new Set(MessageTypeSchema.values.map((v) => v.number));

const optionalId = (s: string) => s === "" || (s.length <= 128 && OPTIONAL_ID.test(s));

/** Whether every rule of SendRequest (and its Payload) certainly holds. */
export function sendRequestCertainlyValid(m: SendRequest): boolean {
  const t = m.target;
  if (t.case === "recipientId") {
    if (t.value.length === 0 || t.value.length > 128 || !AGENT_ID.test(t.value)) return false;
  } else if (t.case === "topic") {
    if (t.value.length === 0 || t.value.length > 255 || !TOPIC.test(t.value)) return false;
  } else if (t.case === "broadcast") {
    if (t.value !== true) return false;
  } else return false;
  if (!DEFINED_TYPES.has(m.type)) return false;
  // send.response_needs_correlation
  if (m.type === MessageType.RESPONSE && (m.correlationId === "" || t.case !== "recipientId"))
    return false;
  if (m.kind.length === 0 || m.kind.length > 128 || !KIND.test(m.kind)) return false;
  const p = m.payload;
  if (p && (p.contentType.length > 255 || p.data.length > 1_048_576)) return false;
  if (!optionalId(m.contextId) || !optionalId(m.replyTo) || !optionalId(m.conversationId))
    return false;
  if (m.correlationId.length > 128 || m.idempotencyKey.length > 128) return false;
  if (!mapCertainlyValid(m.metadata, false) || !mapCertainlyValid(m.headers, true)) return false;
  // An expiry (timestamp or duration rules) is left to protovalidate.
  return m.expiry.case === undefined;
}

function mapCertainlyValid(map: Record<string, string>, headerKeys: boolean): boolean {
  let pairs = 0;
  for (const k in map) {
    if (++pairs > 64) return false;
    if (k.length === 0 || k.length > 128) return false;
    if (headerKeys && !HEADER_KEY.test(k)) return false;
    const v = map[k];
    if (typeof v !== "string" || v.length > 1024) return false;
  }
  return true;
}

/** Whether AckRequest's rule (1-1000 distinct ids of 1-128 characters) certainly holds. */
export function ackRequestCertainlyValid(m: AckRequest): boolean {
  const ids = m.deliveryIds;
  if (ids.length === 0 || ids.length > 1000) return false;
  for (const id of ids) if (id.length === 0 || id.length > 128) return false;
  return ids.length === 1 || new Set(ids).size === ids.length;
}

function sendBatchCertainlyValid(m: SendBatchRequest): boolean {
  const items = m.requests;
  if (items.length === 0 || items.length > 1000) return false;
  for (const item of items) if (!sendRequestCertainlyValid(item)) return false;
  return true;
}

function sendStreamItemCertainlyValid(m: SendStreamRequest): boolean {
  const item = m.item;
  if (item.case === "send") return sendRequestCertainlyValid(item.value);
  if (item.case === "ack") return ackRequestCertainlyValid(item.value);
  return false; // nack (rarer, with a duration) and a missing item: protovalidate decides
}

/** ContextChunk's rules: offset >= 0, 1 B - 4 MiB of data, a 32-byte sha256 or a crc32. */
function chunkCertainlyValid(c: ContextChunk | undefined): boolean {
  if (!c || c.offset < 0n) return false;
  if (c.data.length === 0 || c.data.length > 4_194_304) return false;
  if (c.sha256.length !== 0 && c.sha256.length !== 32) return false;
  return c.sha256.length === 32 || c.crc32 !== undefined;
}

function uploadChunksCertainlyValid(m: UploadChunksRequest): boolean {
  return optionalId(m.uploadId) && chunkCertainlyValid(m.chunk);
}

function appendChunkCertainlyValid(m: AppendChunkRequest): boolean {
  const id = m.uploadId;
  return id.length > 0 && id.length <= 128 && AGENT_ID.test(id) && chunkCertainlyValid(m.chunk);
}

/**
 * HeartbeatRequest's rules: agent_id of 1-128 and session_id of at most 128 code points. A string
 * has no more code points than UTF-16 units, and a non-empty one at least one, so any characters
 * may pass here.
 */
function heartbeatCertainlyValid(m: HeartbeatRequest): boolean {
  return m.agentId.length > 0 && m.agentId.length <= 128 && m.sessionId.length <= 128;
}

const checks = new Map<string, (m: Message) => boolean>([
  ["acb.v1.HeartbeatRequest", (m) => heartbeatCertainlyValid(m as HeartbeatRequest)],
  ["acb.v1.SendRequest", (m) => sendRequestCertainlyValid(m as SendRequest)],
  ["acb.v1.SendBatchRequest", (m) => sendBatchCertainlyValid(m as SendBatchRequest)],
  ["acb.v1.SendStreamRequest", (m) => sendStreamItemCertainlyValid(m as SendStreamRequest)],
  ["acb.v1.AckRequest", (m) => ackRequestCertainlyValid(m as AckRequest)],
  ["acb.v1.UploadChunksRequest", (m) => uploadChunksCertainlyValid(m as UploadChunksRequest)],
  ["acb.v1.AppendChunkRequest", (m) => appendChunkCertainlyValid(m as AppendChunkRequest)],
]);

/**
 * Whether `message` certainly satisfies its buf.validate rules by the plain-code checks; false
 * means "ask protovalidate" (also for every message type without such checks).
 */
export function certainlyValid(message: Message): boolean {
  const check = checks.get(message.$typeName);
  return check?.(message) === true;
}
