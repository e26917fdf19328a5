// The protocol's service descriptors and enums, re-exported so applications import everything from
// `@acb/sdk` (e.g. `Role` to issue tokens, `Tier` to create tenants, `ContextScope` for raw calls
// through `client.services`) and never reach into `@acb/gen`'s generated subpaths.
export { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
export { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
export { ContextScope, ContextService } from "@acb/gen/acb/v1/contexts_pb";
export {
  ConversationMode,
  ConversationService,
  ConversationState,
} from "@acb/gen/acb/v1/conversations_pb";
export { LargeContextService, UploadMode, UploadState } from "@acb/gen/acb/v1/large_contexts_pb";
export {
  MeetingEndReason,
  MeetingParticipantStatus,
  MeetingService,
  MeetingState,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
export {
  DeadLetterReason,
  MessageType,
  MessagingService,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
export { AgentStatus, RegistryService } from "@acb/gen/acb/v1/registry_pb";
export { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
