import {
  type Conversation,
  ConversationMode,
  type ConversationService,
  ConversationState,
} from "@acb/gen/acb/v1/conversations_pb";
import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code } from "@connectrpc/connect";
import { acbError } from "./acb-error.js";
import { type PagedQuery, pagedQuery } from "./iterables.js";
import { type InboundMessage, inboundMessage } from "./messaging.js";

/** How the participants of a conversation interact (seed 004). */
export type ConversationModeName = "one-way" | "sync" | "async";
/** Where a conversation stands. */
export type ConversationStateName = "open" | "closed" | "timed-out";

const modes: Record<ConversationModeName, ConversationMode> = {
  "one-way": ConversationMode.ONE_WAY,
  sync: ConversationMode.SYNC,
  async: ConversationMode.ASYNC,
};
const modeNames: Record<ConversationMode, ConversationModeName> = {
  [ConversationMode.UNSPECIFIED]: "async",
  [ConversationMode.ONE_WAY]: "one-way",
  [ConversationMode.SYNC]: "sync",
  [ConversationMode.ASYNC]: "async",
};
const states: Record<ConversationStateName, ConversationState> = {
  open: ConversationState.OPEN,
  closed: ConversationState.CLOSED,
  "timed-out": ConversationState.TIMED_OUT,
};
const stateNames: Record<ConversationState, ConversationStateName> = {
  [ConversationState.UNSPECIFIED]: "open",
  [ConversationState.OPEN]: "open",
  [ConversationState.CLOSED]: "closed",
  [ConversationState.TIMED_OUT]: "timed-out",
};

/** A conversation as the hub reports it. */
export interface ConversationInfo {
  id: string;
  mode: ConversationModeName;
  state: ConversationStateName;
  initiatorId: string;
  participants: string[];
  subject: string;
  metadata: Record<string, string>;
  messageCount: number;
  timeoutAt: Date | undefined;
  createdAt: Date | undefined;
  endedAt: Date | undefined;
  closedBy: string;
  closeReason: string;
}

/** Options of conversations.start(). */
export interface StartConversationOptions {
  /** Default "async". */
  mode?: ConversationModeName;
  subject?: string;
  metadata?: Record<string, string>;
  /** Inactivity timeout: the conversation becomes "timed-out" this long after its last message. */
  timeoutMs?: number;
  /** Choose the id; default the hub assigns one. */
  id?: string;
}

/** Conversation state and history; messages travel with sendTo/request and `conversationId`. */
export interface ConversationsApi {
  start(participants: string[], options?: StartConversationOptions): Promise<ConversationInfo>;
  get(id: string): Promise<ConversationInfo>;
  list(filter?: {
    state?: ConversationStateName;
    mode?: ConversationModeName;
    participant?: string;
  }): PagedQuery<ConversationInfo>;
  close(id: string, reason?: string): Promise<ConversationInfo>;
  /** Messages of the conversation in order; `afterMessageId` reads only newer ones (polling for replies). */
  history(id: string, options?: { afterMessageId?: string }): PagedQuery<InboundMessage>;
}

function info(c: Conversation | undefined): ConversationInfo {
  if (!c) throw acbError(Code.Internal, "hub answered without a conversation");
  return {
    id: c.id,
    mode: modeNames[c.mode],
    state: stateNames[c.state],
    initiatorId: c.initiatorId,
    participants: c.participants,
    subject: c.subject,
    metadata: c.metadata,
    messageCount: Number(c.messageCount),
    timeoutAt: c.timeoutAt && timestampDate(c.timeoutAt),
    createdAt: c.createdAt && timestampDate(c.createdAt),
    endedAt: c.endedAt && timestampDate(c.endedAt),
    closedBy: c.closedBy,
    closeReason: c.closeReason,
  };
}

export function conversationsApi(client: Client<typeof ConversationService>): ConversationsApi {
  return {
    async start(participants, o = {}) {
      const res = await client.startConversation({
        conversationId: o.id ?? "",
        mode: modes[o.mode ?? "async"],
        participants,
        subject: o.subject ?? "",
        metadata: o.metadata ?? {},
        ...(o.timeoutMs !== undefined && { timeout: durationFromMs(o.timeoutMs) }),
      });
      return info(res.conversation);
    },
    async get(id) {
      return info((await client.getConversation({ conversationId: id })).conversation);
    },
    list: (filter = {}) =>
      pagedQuery(async function* () {
        let pageToken = "";
        do {
          const res = await client.listConversations({
            participant: filter.participant ?? "",
            state: filter.state ? states[filter.state] : ConversationState.UNSPECIFIED,
            mode: filter.mode ? modes[filter.mode] : ConversationMode.UNSPECIFIED,
            pageToken,
          });
          for (const c of res.conversations) yield info(c);
          pageToken = res.nextPageToken;
        } while (pageToken !== "");
      }),
    async close(id, reason = "") {
      return info((await client.closeConversation({ conversationId: id, reason })).conversation);
    },
    history: (id, o = {}) =>
      pagedQuery(async function* () {
        let pageToken = "";
        do {
          const res = await client.getConversationHistory({
            conversationId: id,
            afterMessageId: pageToken === "" ? (o.afterMessageId ?? "") : "",
            pageToken,
          });
          for (const m of res.messages) yield inboundMessage(m);
          pageToken = res.nextPageToken;
        } while (pageToken !== "");
      }),
  };
}
