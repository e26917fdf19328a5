export { AcbError, type AcbErrorReason, hasReason, type KnownReason } from "./acb-error.js";
export type { AgentSession, RegisterOptions } from "./agent-session.js";
export type { BackoffOptions } from "./backoff.js";
export type { CallOptions } from "./call-options.js";
export {
  type AcbClient,
  type AcbClientOptions,
  type ContextsApi,
  createAcbClient,
  credentialInterceptor,
  type DiscoverQuery,
  type ListContextsQuery,
  type MessageCallOptions,
  type ReadOptions,
  type ShareOptions,
  type TokenSource,
  type UpdateOptions,
} from "./client.js";
export type {
  ClientConnection,
  ClientEvents,
  ConnectionState,
  EpochChange,
} from "./connection-monitor.js";
export type {
  ConversationInfo,
  ConversationModeName,
  ConversationStateName,
  ConversationsApi,
  StartConversationOptions,
} from "./conversations.js";
export {
  type Credentials,
  jwtExpiry,
  type RefreshableCredentials,
} from "./credentials.js";
export type { E2eOptions, EncryptOption, EncryptTo } from "./e2e/client-e2e.js";
export {
  DEFAULT_SEGMENT_SIZE,
  type DecryptedStream,
  decryptPayload,
  decryptStream,
  E2E_CONTENT_TYPE,
  type E2eRecipientKey,
  encryptPayload,
  encryptStream,
} from "./e2e/envelope.js";
export { type E2eReason, isE2eError } from "./e2e/errors.js";
export {
  type AgentKey,
  AgentKeyring,
  type AgentPublicKeyInfo,
  type ExportedAgentKey,
  exportAgentKey,
  generateAgentKey,
  importAgentKey,
  KEM_P256,
  KEM_X25519,
  keyFingerprint,
} from "./e2e/keys.js";
export { Code, ConnectError, isRetryable } from "./errors.js";
export type { HubEndpoint } from "./failover.js";
export type { PagedQuery } from "./iterables.js";
export type {
  ContextStreamBuilder,
  ReceiveStreamOptions,
  StreamContextOptions,
  StreamProgress,
  StreamSource,
  UploadTransportMode,
} from "./large-contexts.js";
export type {
  MeetingEndReasonName,
  MeetingEvent,
  MeetingEventKind,
  MeetingInfo,
  MeetingPolicyName,
  MeetingStateName,
  ParticipantStatusName,
  TranscriptEntry,
} from "./meeting-records.js";
export type {
  CreateMeetingOptions,
  ListMeetingsQuery,
  MeetingEventsOptions,
  MeetingHandle,
  MeetingsApi,
  SpeakOptions,
  Turn,
  TurnWatch,
} from "./meetings.js";
export type {
  InboundMessage,
  MessageTypeName,
  RequestFuture,
  RequestOptions,
  SendOptions,
  SendResult,
  Target,
} from "./messaging.js";
export {
  autoCodec,
  bytesCodec,
  jsonCodec,
  type PayloadCodec,
  protobufCodec,
} from "./payload-codec.js";
export type { MessageHandler, ReceivedMessage, ReceiveOptions, Receiver } from "./receiver.js";
export type { AgentInfo, AgentPresence, ContextScopeName, SharedContext } from "./records.js";
export {
  type AsyncSha256Hasher,
  Sha256,
  type Sha256Hasher,
  type Sha256Provider,
  webSha256,
} from "./sha256.js";
export { isStandardSchema, type StandardSchemaV1 } from "./standard-schema.js";
export type { StreamOptions, StreamState } from "./stream-options.js";
export type {
  ContextChange,
  ContextChangeKind,
  SubscribeOptions,
  Subscription,
} from "./subscription.js";
