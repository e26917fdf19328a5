import { Role } from "@acb/gen/acb/v1/auth_pb";

/**
 * Who may call each RPC: the one declarative table that the auth interceptor enforces on every
 * call. An RPC missing from this table is refused (fail closed), and a test checks that every RPC
 * of every acb.v1 service is listed. docs/security.md renders this table.
 *
 * - "anonymous": no credential needed (a valid one, when sent, still identifies the caller).
 * - "authenticated": any valid credential.
 * - a list of roles: the caller needs at least one of them.
 */
export type Access = "anonymous" | "authenticated" | readonly Role[];

const {
  ADMIN,
  AGENT_PRODUCER: PRODUCER,
  AGENT_CONSUMER: CONSUMER,
  AGENT_FULL: FULL,
  OBSERVER,
} = Role;

const ANY_AGENT = [ADMIN, PRODUCER, CONSUMER, FULL] as const;
const ALL_ROLES = [ADMIN, PRODUCER, CONSUMER, FULL, OBSERVER] as const;
const WRITERS = [ADMIN, PRODUCER, FULL] as const;
const READERS = [ADMIN, CONSUMER, FULL, OBSERVER] as const;
const RECEIVERS = [ADMIN, CONSUMER, FULL] as const;
const PARTICIPANTS = [ADMIN, FULL] as const;
const ADMINS = [ADMIN] as const;

export const accessTable: Readonly<Record<string, Access>> = {
  "grpc.health.v1.Health/Check": "anonymous",
  "grpc.health.v1.Health/List": "anonymous",
  "grpc.health.v1.Health/Watch": "anonymous",
  // Server reflection reveals only the public schema (the .proto files of this repository), and
  // grpc tooling calls it without credentials.
  "grpc.reflection.v1.ServerReflection/ServerReflectionInfo": "anonymous",
  "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": "anonymous",

  "acb.v1.ServerInfoService/GetServerInfo": "anonymous",

  "acb.v1.RegistryService/Register": ANY_AGENT,
  "acb.v1.RegistryService/Heartbeat": ANY_AGENT,
  "acb.v1.RegistryService/Unregister": ANY_AGENT,
  "acb.v1.RegistryService/GetAgent": ALL_ROLES,
  "acb.v1.RegistryService/ListAgents": ALL_ROLES,
  "acb.v1.RegistryService/Discover": ALL_ROLES,
  "acb.v1.RegistryService/WatchAgents": ALL_ROLES,

  "acb.v1.ContextService/CreateContext": WRITERS,
  "acb.v1.ContextService/UpdateContext": WRITERS,
  "acb.v1.ContextService/DeleteContext": WRITERS,
  "acb.v1.ContextService/GetContext": ALL_ROLES,
  "acb.v1.ContextService/ListContexts": ALL_ROLES,
  "acb.v1.ContextService/SubscribeContexts": READERS,

  "acb.v1.LargeContextService/BeginUpload": WRITERS,
  "acb.v1.LargeContextService/UploadChunks": WRITERS,
  "acb.v1.LargeContextService/AppendChunk": WRITERS,
  "acb.v1.LargeContextService/GetUploadStatus": WRITERS,
  "acb.v1.LargeContextService/CommitUpload": WRITERS,
  "acb.v1.LargeContextService/AbortUpload": WRITERS,
  "acb.v1.LargeContextService/DownloadContext": ALL_ROLES,

  "acb.v1.MessagingService/Send": WRITERS,
  "acb.v1.MessagingService/SendBatch": WRITERS,
  "acb.v1.MessagingService/Request": WRITERS,
  "acb.v1.MessagingService/SubscribeTopic": RECEIVERS,
  "acb.v1.MessagingService/UnsubscribeTopic": RECEIVERS,
  "acb.v1.MessagingService/ListTopicSubscriptions": RECEIVERS,
  "acb.v1.MessagingService/Receive": RECEIVERS,
  "acb.v1.MessagingService/Ack": RECEIVERS,
  "acb.v1.MessagingService/Nack": RECEIVERS,
  // Each item of the stream is authorised again as the unary RPC it stands for (Send, Ack, Nack).
  "acb.v1.MessagingService/SendStream": ANY_AGENT,
  "acb.v1.MessagingService/ListDeadLetters": READERS,
  "acb.v1.MessagingService/GetDeadLetter": READERS,
  "acb.v1.MessagingService/ReplayDeadLetters": PARTICIPANTS,
  "acb.v1.MessagingService/PurgeDeadLetters": PARTICIPANTS,

  "acb.v1.ConversationService/StartConversation": WRITERS,
  "acb.v1.ConversationService/GetConversation": ALL_ROLES,
  "acb.v1.ConversationService/ListConversations": ALL_ROLES,
  "acb.v1.ConversationService/CloseConversation": ANY_AGENT,
  "acb.v1.ConversationService/GetConversationHistory": ALL_ROLES,

  "acb.v1.MeetingService/CreateMeeting": PARTICIPANTS,
  "acb.v1.MeetingService/GetMeeting": ALL_ROLES,
  "acb.v1.MeetingService/ListMeetings": ALL_ROLES,
  "acb.v1.MeetingService/JoinMeeting": PARTICIPANTS,
  "acb.v1.MeetingService/LeaveMeeting": PARTICIPANTS,
  "acb.v1.MeetingService/StartMeeting": PARTICIPANTS,
  "acb.v1.MeetingService/EndMeeting": PARTICIPANTS,
  "acb.v1.MeetingService/CancelMeeting": PARTICIPANTS,
  "acb.v1.MeetingService/RequestTurn": PARTICIPANTS,
  "acb.v1.MeetingService/PassTurn": PARTICIPANTS,
  "acb.v1.MeetingService/GrantTurn": PARTICIPANTS,
  "acb.v1.MeetingService/Speak": PARTICIPANTS,
  "acb.v1.MeetingService/WatchMeeting": ALL_ROLES,
  "acb.v1.MeetingService/GetTranscript": ALL_ROLES,

  "acb.v1.AuthService/IssueToken": ADMINS,
  "acb.v1.AuthService/RefreshToken": "anonymous",
  "acb.v1.AuthService/RevokeToken": "authenticated",
  "acb.v1.AuthService/CreateApiKey": ADMINS,
  "acb.v1.AuthService/ListApiKeys": ADMINS,
  "acb.v1.AuthService/RevokeApiKey": ADMINS,
  "acb.v1.AuthService/WhoAmI": "authenticated",
  "acb.v1.AuthService/RevokeAccessTokens": ADMINS,

  "acb.v1.AdminService/CreateTenant": ADMINS,
  "acb.v1.AdminService/GetTenant": [ADMIN, OBSERVER],
  "acb.v1.AdminService/ListTenants": ADMINS,
  "acb.v1.AdminService/UpdateTenant": ADMINS,
  "acb.v1.AdminService/DeleteTenant": ADMINS,
  "acb.v1.AdminService/GetUsage": [ADMIN, OBSERVER],
  "acb.v1.AdminService/QueryAuditLog": ADMINS,
  "acb.v1.AdminService/ExportAuditLog": ADMINS,
};

/** Role groups, exported so the tables of later services read the same way. */
// Stryker disable next-line ObjectLiteral: nothing in the hub reads it (exported for tables to come)
export const roleGroups = {
  ANY_AGENT,
  ALL_ROLES,
  WRITERS,
  READERS,
  RECEIVERS,
  PARTICIPANTS,
  ADMINS,
};
