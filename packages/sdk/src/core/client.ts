import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import { ConversationService } from "@acb/gen/acb/v1/conversations_pb";
import { LargeContextService } from "@acb/gen/acb/v1/large_contexts_pb";
import { MeetingService } from "@acb/gen/acb/v1/meetings_pb";
import { MessagingService, type SendRequestSchema } from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { type GetServerInfoResponse, ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  type Client,
  Code,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { AcbError, acbError } from "./acb-error.js";
import { type AgentSession, type RegisterOptions, registerAgent } from "./agent-session.js";
import { abortable, type CallOptions, callOptions } from "./call-options.js";
import { type ClientConnection, ConnectionMonitor } from "./connection-monitor.js";
import { type ConversationsApi, conversationsApi } from "./conversations.js";
import {
  type Credentials,
  isRefreshable,
  refreshingTokenSource,
  type TokenSource,
} from "./credentials.js";
import { ClientE2e, type E2eOptions, type EncryptOption } from "./e2e/client-e2e.js";
import { encryptingStreamBuilder } from "./e2e/large.js";
import { failoverTransport, type HubEndpoint, retrySafe } from "./failover.js";
import { handlerIterable, type PagedQuery, pagedQuery } from "./iterables.js";
import {
  type ContextStreamBuilder,
  type ReceiveStreamOptions,
  receiveContextStream,
  type StreamContextOptions,
  streamContextBuilder,
  type UploadTransportMode,
} from "./large-contexts.js";
import { createMeetingsApi, type MeetingsApi } from "./meetings.js";
import {
  type RequestFuture,
  type RequestOptions,
  type SendOptions,
  type SendResult,
  sendRequest,
  startRequest,
  type Target,
} from "./messaging.js";
import { codecOf, type PayloadCodec, protobufCodec } from "./payload-codec.js";
import {
  LEAVE_UNSETTLED,
  type MessageHandler,
  MessageRouter,
  type ReceivedMessage,
  type ReceiveOptions,
  type Receiver,
  type Settler,
  startReceiver,
} from "./receiver.js";
import {
  type AgentInfo,
  type AgentPresence,
  agentInfo,
  type ContextScopeName,
  presenceValue,
  type SharedContext,
  scopeValues,
  sharedContext,
} from "./records.js";
import { SendStreamChannel } from "./send-stream.js";
import { type Sha256Provider, webSha256 } from "./sha256.js";
import { isStandardSchema, type StandardSchemaV1, validatingHandler } from "./standard-schema.js";
import { withDirectStreams } from "./stream-calls.js";
import {
  type ContextChange,
  type SubscribeOptions,
  type Subscription,
  startSubscription,
} from "./subscription.js";
import { wrapTransport } from "./transport-wrapper.js";

export type { TokenSource };

/** Options of {@link createAcbClient}. Runtime entry points fill in the transport. */
export interface AcbClientOptions {
  /**
   * The Connect transport every call goes through (the client adds the credential), or one per
   * node of a hub that runs on several: calls then go to one node until it fails (unreachable,
   * UNAVAILABLE, draining) and move on to the next; see docs/sdk.md#several-hub-nodes.
   */
  transport: Transport | HubEndpoint[];
  /**
   * The credential: a token or API key, a function returning the current one, or
   * `{ accessToken, refreshToken }`, which the client refreshes before expiry. Default: none.
   */
  token?: Credentials | undefined;
  /** Deadline of every unary call that sets no `timeoutMs` of its own. Default: none. */
  timeoutMs?: number;
  /**
   * How large-context uploads send chunks: "stream" (one client stream, 16 MiB unverified at most; needs a
   * transport that streams request bodies, like Node's) or "unary" (one AppendChunk call per
   * chunk, for fetch). Default "unary"; the Node entry point chooses "stream".
   */
  uploadMode?: UploadTransportMode;
  /** SHA-256 for large contexts. Default: WebCrypto plus the core's incremental hasher. */
  sha256?: Sha256Provider;
  /**
   * How sends and acks travel: "stream" (items of one MessagingService.SendStream; needs a
   * transport that streams request bodies, like Node's HTTP/2) or "unary" (one Send or Ack call
   * each, for fetch). Default "unary"; the Node entry point chooses "stream".
   */
  sendMode?: "stream" | "unary";
  /**
   * End-to-end encryption: this agent's key pairs (published when it registers, used to decrypt
   * what it reads and receives), recipients to encrypt every write to by default, and key pins.
   * See docs/security.md. Default: no keys, nothing encrypted.
   */
  e2e?: E2eOptions;
}

/** How a value is written: its codec, access, lifetime and labels. */
export interface ShareOptions<T> extends CallOptions {
  /** Choose the context's id; default: the hub assigns one. */
  id?: string;
  /** Who may access it. Default "public". */
  scope?: ContextScopeName;
  /** Group names (scope "group") or agent ids (scope "shared"). */
  allowedIds?: string[];
  /** Lifetime in milliseconds; default: no expiry. */
  ttlMs?: number;
  /** Labels; subscription filters match on them. */
  metadata?: Record<string, string>;
  /** The value's schema version (independent of the revision). */
  schemaVersion?: string;
  /** Encodes the value; default JSON. Use {@link protobufCodec} or pass `schema`. */
  codec?: PayloadCodec<T>;
  /** Shorthand for `codec: protobufCodec(schema)`. */
  schema?: DescMessage;
  /** Encrypt the value end to end to these recipients (`false`: in clear despite a client default). */
  encrypt?: EncryptOption;
}

/** Options of {@link AcbClient.updateContext}. */
export interface UpdateOptions<T> extends Omit<ShareOptions<T>, "id"> {
  /** Compare-and-set: apply only at this revision, else the call fails with Code.Aborted. */
  expectedRevision?: number;
}

/** Options of {@link AcbClient.getContext}. */
export interface ReadOptions<T> extends CallOptions {
  /** Decodes the value; default: JSON by media type, bytes otherwise. */
  codec?: PayloadCodec<T>;
}

/** Filters of discovery and listing. */
export interface DiscoverQuery extends CallOptions {
  capabilities?: string[];
  type?: string;
  /** Exact, or a prefix when it ends with "/". */
  location?: string;
  metadata?: Record<string, string>;
  status?: AgentPresence;
}

/** Filters of {@link AcbClient.listContexts}. */
export interface ListContextsQuery extends CallOptions {
  type?: string;
  ownerId?: string;
  metadata?: Record<string, string>;
  /** Page size per request. Default 100. */
  pageSize?: number;
}

/**
 * The ACB client: one object per credential, safe to share across an application. Every method
 * that calls the hub fails with an {@link AcbError}.
 */
export interface AcbClient extends ClientConnection {
  /**
   * The hub node calls go to now, when the client was given several (it moves on when one fails);
   * undefined for a client over a single transport.
   */
  readonly hubUrl: string | undefined;
  /** The generated Connect clients, for anything the convenience API does not cover. */
  readonly services: {
    readonly registry: Client<typeof RegistryService>;
    readonly contexts: Client<typeof ContextService>;
    readonly largeContexts: Client<typeof LargeContextService>;
    readonly auth: Client<typeof AuthService>;
    readonly admin: Client<typeof AdminService>;
    readonly serverInfo: Client<typeof ServerInfoService>;
    readonly messaging: Client<typeof MessagingService>;
    readonly conversations: Client<typeof ConversationService>;
    readonly meetings: Client<typeof MeetingService>;
  };
  /** Turn-based meetings: create, open, list; each meeting is a handle. */
  readonly meetings: MeetingsApi;
  /**
   * Sends a message to one agent; resolves once the hub has it durably. (`headers` are the
   * message's own, delivered with it; sends may share one stream, so they take no call headers.)
   */
  sendTo<T = unknown>(
    agentId: string,
    kind: string,
    value: T,
    options?: SendOptions<T> & MessageCallOptions,
  ): Promise<SendResult>;
  /** Publishes to a topic (dot-separated; subscribers may use `*` and `>` wildcards). */
  publish<T = unknown>(
    topic: string,
    kind: string,
    value: T,
    options?: SendOptions<T> & MessageCallOptions,
  ): Promise<SendResult>;
  /** Sends to every other agent of the tenant. */
  broadcast<T = unknown>(
    kind: string,
    value: T,
    options?: SendOptions<T> & MessageCallOptions,
  ): Promise<SendResult>;
  /** Sends many messages in one call (high-rate producers); each item succeeds or fails on its own. */
  sendBatch(
    items: { to: Target; kind: string; value: unknown; options?: SendOptions<unknown> }[],
  ): Promise<(SendResult | { error: { code: number; message: string } })[]>;
  /**
   * Sends a query (or command) and returns a promise of the reply: `await request(...)` for a
   * synchronous exchange, or keep it and await it later. Fails with Code.DeadlineExceeded when no
   * reply arrives within `timeoutMs`.
   */
  request<R = unknown, T = unknown>(
    agentId: string,
    kind: string,
    value: T,
    options?: RequestOptions<T>,
  ): RequestFuture<R>;
  /** Subscribes this agent durably to a topic pattern (messages wait while it is offline). */
  subscribeTopic(pattern: string, options?: CallOptions): Promise<void>;
  unsubscribeTopic(pattern: string, options?: CallOptions): Promise<void>;
  /**
   * Registers the handler for messages of one kind, decoded as JSON, with the codec given, or as
   * the protobuf message `schema` describes. With a Standard Schema (zod, valibot…) as `schema`,
   * the JSON value is validated first: the handler sees the schema's output, and a message that
   * fails validation goes to the dead-letter queue with the validation error.
   */
  handle<S extends StandardSchemaV1>(
    kind: string,
    handler: MessageHandler<StandardSchemaV1.InferOutput<S>>,
    options: { schema: S },
  ): void;
  handle<T = unknown>(
    kind: string,
    handler: MessageHandler<T>,
    options?: { codec?: PayloadCodec<T>; schema?: DescMessage },
  ): void;
  /** Registers the handler for messages no kind-specific handler takes. */
  onMessage(handler: MessageHandler): void;
  /** Opens this agent's delivery stream and dispatches to the handlers; reconnects and resumes by itself. */
  receive(options?: ReceiveOptions): Receiver;
  /**
   * This agent's messages as an async iterable: `for await (const m of client.messages())`. Opens
   * the delivery stream on the first iteration (one per agent: it replaces a running `receive()`),
   * reconnects by itself, and closes when the loop ends. Without `manualAck` a message is
   * acknowledged when the loop asks for the next one; one whose loop body threw is not (the hub
   * redelivers it after its ack deadline).
   */
  messages(options?: ReceiveOptions): AsyncIterable<ReceivedMessage>;
  /** Conversations: state and history of one-way, synchronous and asynchronous exchanges. */
  readonly conversations: ConversationsApi;
  /** The hub's protocol version, epoch, capabilities and limits. */
  serverInfo(options?: CallOptions): Promise<GetServerInfoResponse>;
  /**
   * Registers the calling agent (by default under the credential's subject) and keeps it online
   * with heartbeats; by default it registers again by itself when the hub lost its state. A new
   * registration of the same id through this client replaces the earlier session.
   */
  register(options: RegisterOptions & CallOptions): Promise<AgentSession>;
  /** Finds agents, paging lazily in `for await`; awaited, it resolves with every match. */
  discover(query?: DiscoverQuery): PagedQuery<AgentInfo>;
  getAgent(agentId: string, options?: CallOptions): Promise<AgentInfo>;
  /** Creates a context holding `value` (JSON by default) and returns it at revision 1. */
  shareContext<T = unknown>(
    type: string,
    value: T,
    options?: ShareOptions<T>,
  ): Promise<SharedContext<T>>;
  getContext<T = unknown>(contextId: string, options?: ReadOptions<T>): Promise<SharedContext<T>>;
  /** Replaces the value (and any options given); returns the new revision. */
  updateContext<T = unknown>(
    contextId: string,
    value: T,
    options?: UpdateOptions<T>,
  ): Promise<SharedContext<T>>;
  deleteContext(
    contextId: string,
    options?: { expectedRevision?: number } & CallOptions,
  ): Promise<void>;
  /** Every readable context matching the query, paging as it goes. */
  listContexts<T = unknown>(
    query?: ListContextsQuery & ReadOptions<T>,
  ): AsyncIterable<SharedContext<T>>;
  /** Context changes as async iterables. */
  readonly contexts: ContextsApi;
  /**
   * Replaces the credential, e.g. after the client reported "unauthenticated": streams and
   * heartbeats waiting for it resume at once, and every later call carries it.
   */
  setCredentials(token: Credentials): void;
  /** Calls `handler` for each change to contexts of `types` ("" or [] for all), resuming after reconnects. */
  subscribe<T = unknown>(
    types: string | string[],
    handler: (change: ContextChange<T>) => void | Promise<void>,
    options?: SubscribeOptions<T>,
  ): Subscription;
  /**
   * Starts an upload of a large value (any size up to the hub's maximum) in verified chunks:
   * `streamContext(type).fromReader(source).onProgress(fn).send()`. Resumes by itself after a
   * dropped connection; resolves with the committed context.
   */
  streamContext(type: string, options?: StreamContextOptions): ContextStreamBuilder;
  /**
   * Reads a context's value (large or inline) as a stream of verified chunks, resuming by itself
   * after a dropped connection.
   */
  receiveContextStream(
    contextId: string,
    options?: ReceiveStreamOptions,
  ): ReadableStream<Uint8Array>;
}

/** Call options of sends: a send may travel on a shared stream, so it takes no headers of its own. */
export type MessageCallOptions = Omit<CallOptions, "headers">;

/** `client.contexts`: context changes as async iterables. */
export interface ContextsApi {
  /**
   * The changes to contexts of `types` ("" or [] for all): `for await (const c of
   * client.contexts.watch("task"))`. The subscription opens on the first iteration, resumes
   * after reconnects from the last change the loop took, and closes when the loop ends.
   */
  watch<T = unknown>(
    types: string | string[],
    options?: SubscribeOptions<T>,
  ): AsyncIterable<ContextChange<T>>;
}

/** Adds `Authorization: Bearer <token>` to every call (nothing when `token` is undefined). */
export function credentialInterceptor(token: TokenSource | undefined): Interceptor {
  return (next) => async (req) => {
    if (token !== undefined) {
      const value = typeof token === "string" ? token : await token();
      req.header.set("Authorization", `Bearer ${value}`);
    }
    return next(req);
  };
}

function accessOf(options: ShareOptions<unknown> | undefined) {
  if (options?.scope === undefined && options?.allowedIds === undefined) return undefined;
  return { scope: scopeValues[options.scope ?? "public"], allowedIds: options.allowedIds ?? [] };
}

/** Builds a client over any Connect transport; see the runtime entry points for ready-made ones. */
export function createAcbClient(options: AcbClientOptions): AcbClient {
  let token = options.token;
  const nodes = Array.isArray(options.transport) ? failoverTransport(options.transport) : undefined;
  const baseTransport = nodes ?? (options.transport as Transport);
  /** How many nodes a send that failed may try (each at most once). */
  const sendAttempts = Array.isArray(options.transport) ? options.transport.length : 1;
  // The refresh call needs no credential, so it goes straight through the bare transport.
  const bareAuth = createClient(AuthService, wrapTransport(baseTransport));
  const sourceOf = (t: Credentials | undefined): TokenSource | undefined =>
    isRefreshable(t) ? refreshingTokenSource(t, bareAuth) : t;
  let credential = sourceOf(token);
  // Reports the connection state and hub epoch; every live stream below is watched by it.
  const monitor: ConnectionMonitor = new ConnectionMonitor(
    async (signal) => (await services.serverInfo.getServerInfo({}, { signal })).hubEpoch,
    () => typeof token === "function" || isRefreshable(token),
  );
  const transport = wrapTransport(baseTransport, {
    credential: () => credential,
    credentialGeneration: () => monitor.credentialGeneration,
    defaultTimeoutMs: options.timeoutMs,
    beforeCall: (procedure) => monitor.beforeCall(procedure),
    onAnswer: (procedure, error) => monitor.noteAnswer(procedure, error),
  });
  const services = {
    registry: createClient(RegistryService, transport),
    contexts: createClient(ContextService, transport),
    largeContexts: createClient(LargeContextService, transport),
    auth: createClient(AuthService, transport),
    admin: createClient(AdminService, transport),
    serverInfo: createClient(ServerInfoService, transport),
    messaging: withDirectStreams(createClient(MessagingService, transport), transport),
    conversations: createClient(ConversationService, transport),
    meetings: createClient(MeetingService, transport),
  };
  // Turn handlers need the calling agent's id; ask the hub once, when first needed.
  let self: Promise<string> | undefined;
  const whoAmI = () => {
    self ??= services.auth.whoAmI({}).then((r) => r.agentId);
    self.catch(() => {
      self = undefined;
    });
    return self;
  };
  const router = new MessageRouter();
  const channel =
    options.sendMode === "stream"
      ? new SendStreamChannel(services.messaging, monitor.signal)
      : undefined;
  const sendRaw = async (
    request: MessageInitShape<typeof SendRequestSchema>,
  ): Promise<SendResult> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = channel ? await channel.send(request) : await services.messaging.send(request);
        return { messageId: res.messageId, duplicate: res.duplicate };
      } catch (err) {
        // On a send stream, a node that failed fails every send it held: those that never left,
        // or carry an idempotency key, go to the next node (unary sends are retried below us).
        if (
          channel &&
          attempt < sendAttempts &&
          !monitor.signal.aborted &&
          retrySafe("acb.v1.MessagingService/Send", request, err)
        )
          continue;
        throw AcbError.from(err);
      }
    }
  };
  const settler: Settler = channel ?? {
    ack: (deliveryIds) => services.messaging.ack({ deliveryIds }),
    nack: (request) => services.messaging.nack(request),
  };
  const e2e = new ClientE2e(services.registry, whoAmI, options.e2e);
  /** A send request, its payload encrypted when the options (or the client) ask for it. */
  const sealedRequest = async <T>(
    target: Target,
    kind: string,
    value: T,
    o?: SendOptions<T>,
  ): Promise<MessageInitShape<typeof SendRequestSchema>> => {
    const request = sendRequest(target, kind, value, o);
    if (request.payload && e2e.encrypts(o?.encrypt)) {
      request.payload = await e2e.seal(
        request.payload as { contentType: string; data: Uint8Array },
        o?.encrypt,
      );
    }
    return request;
  };
  const send = <T>(
    target: Target,
    kind: string,
    value: T,
    o?: SendOptions<T> & MessageCallOptions,
  ): Promise<SendResult> =>
    abortable(
      sealedRequest(target, kind, value, o).then((r) => sendRaw(r)),
      o,
    );
  // The sessions registered through this client, by agent id: a new one replaces the old.
  const sessions = new Map<string, AgentSession>();
  const startReceiving = (router: MessageRouter, o: ReceiveOptions) => {
    router.open ??= (payload) => e2e.open(payload);
    const receiver = startReceiver(services.messaging, settler, sendRaw, router, monitor.watch(o));
    monitor.adopt(receiver.done);
    return receiver;
  };
  const startWatching = <T>(
    types: string | string[],
    handler: (change: ContextChange<T>) => void | Promise<void>,
    o: SubscribeOptions<T>,
  ) => {
    const list = typeof types === "string" ? (types === "" ? [] : [types]) : types;
    const sub = startSubscription(services.contexts, list, handler, monitor.watch(o));
    monitor.adopt(sub.done);
    return sub;
  };

  const large = {
    client: services.largeContexts,
    mode: options.uploadMode ?? "unary",
    sha256: options.sha256 ?? webSha256,
  };

  async function* discoverPages(query: DiscoverQuery): AsyncGenerator<AgentInfo> {
    let pageToken = "";
    do {
      const res = await services.registry.discover(
        {
          capabilities: query.capabilities ?? [],
          type: query.type ?? "",
          location: query.location ?? "",
          metadata: query.metadata ?? {},
          status: presenceValue(query.status),
          pageToken,
        },
        callOptions(query),
      );
      for (const a of res.agents) yield agentInfo(a);
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
  }

  return {
    get hubUrl() {
      return nodes?.currentUrl;
    },
    get state() {
      return monitor.state;
    },
    get epoch() {
      return monitor.epoch;
    },
    on: (event, listener) => monitor.on(event, listener),
    close: () => monitor.close(),
    [Symbol.asyncDispose]: () => monitor.close(),
    setCredentials(next) {
      token = next;
      credential = sourceOf(next);
      monitor.credentialsChanged();
    },
    services,
    streamContext: (type, o) =>
      e2e.encrypts(o?.encrypt)
        ? encryptingStreamBuilder(e2e, (opts) => streamContextBuilder(large, type, opts), o ?? {})
        : streamContextBuilder(large, type, o),
    receiveContextStream: (contextId, o) =>
      o?.decrypt === false || (o?.offset ?? 0) > 0
        ? receiveContextStream(large, contextId, o)
        : e2e.openStream(receiveContextStream(large, contextId, o), o?.decrypt),
    meetings: createMeetingsApi(services.meetings, whoAmI, (o) => monitor.watch(o)),
    async serverInfo(o) {
      const info = await services.serverInfo.getServerInfo({}, callOptions(o));
      monitor.noteEpoch(info.hubEpoch);
      return info;
    },
    sendTo: (agentId, kind, value, o) => send({ recipientId: agentId }, kind, value, o),
    publish: (topic, kind, value, o) => send({ topic }, kind, value, o),
    broadcast: (kind, value, o) => send({ broadcast: true }, kind, value, o),
    async sendBatch(items) {
      const res = await services.messaging.sendBatch({
        requests: await Promise.all(
          items.map((i) => sealedRequest(i.to, i.kind, i.value, i.options)),
        ),
      });
      return res.results.map((r) =>
        r.error
          ? { error: { code: r.error.code, message: r.error.message } }
          : { messageId: r.messageId, duplicate: r.duplicate },
      );
    },
    request(agentId, kind, value, o) {
      if (e2e.encrypts(o?.encrypt)) {
        throw acbError(
          Code.InvalidArgument,
          "request() does not encrypt end to end; pass encrypt: false, or use sendTo with a correlation id",
        );
      }
      return startRequest(services.messaging, agentId, kind, value, o);
    },
    async subscribeTopic(pattern, o) {
      await services.messaging.subscribeTopic({ pattern }, callOptions(o));
    },
    async unsubscribeTopic(pattern, o) {
      await services.messaging.unsubscribeTopic({ pattern }, callOptions(o));
    },
    handle(
      kind: string,
      handler: MessageHandler<never>,
      o?: { codec?: PayloadCodec<unknown>; schema?: DescMessage | StandardSchemaV1 },
    ) {
      const schema = o?.schema;
      router.routes.set(kind, {
        handler:
          schema && isStandardSchema(schema)
            ? validatingHandler(schema, handler as MessageHandler<unknown>)
            : handler,
        codec:
          o?.codec ??
          (schema && !isStandardSchema(schema)
            ? (protobufCodec(schema) as PayloadCodec<unknown>)
            : undefined),
      });
    },
    onMessage(handler) {
      router.fallback = { handler: handler as MessageHandler<never>, codec: undefined };
    },
    receive: (o = {}) => startReceiving(router, o),
    messages: (o = {}) =>
      handlerIterable<ReceivedMessage>((yieldMessage) => {
        // Every kind goes to the loop. Without manualAck, the receiver acknowledges (in batches) a
        // message once the loop asked for the next one, and leaves the one the loop ended on.
        const all = new MessageRouter();
        all.fallback = {
          codec: undefined,
          handler: async (m: ReceivedMessage) =>
            (await yieldMessage(m)) ? undefined : LEAVE_UNSETTLED,
        };
        return startReceiving(all, o);
      }),
    contexts: {
      watch: <T>(types: string | string[], o: SubscribeOptions<T> = {}) =>
        handlerIterable<ContextChange<T>>((yieldChange) =>
          startWatching<T>(
            types,
            async (change) => {
              await yieldChange(change);
            },
            o,
          ),
        ),
    },
    conversations: conversationsApi(services.conversations),
    async register(o) {
      const id = o.id ?? (await whoAmI());
      // This client's own earlier session of the agent is replaced, not refused as AGENT_ONLINE.
      const earlier = sessions.get(id);
      const takeOver = o.takeOver ?? earlier?.active ?? false;
      earlier?.stopHeartbeats();
      const session = await registerAgent(
        services.registry,
        id,
        { publicKeys: e2e.publicKeys(), ...o, takeOver },
        {
          signal: monitor.signal,
          retryAfter: (e) => monitor.retryAfter(e),
          reregistrations: monitor.reregistrations,
          registered: () => monitor.registered(),
        },
      );
      sessions.set(id, session);
      return session;
    },
    discover: (query = {}) => pagedQuery(() => discoverPages(query)),
    async getAgent(agentId, o) {
      const res = await services.registry.getAgent({ agentId }, callOptions(o));
      if (!res.agent) throw acbError(Code.Internal, "hub answered GetAgent without an agent");
      return agentInfo(res.agent);
    },
    async shareContext<T>(type: string, value: T, o?: ShareOptions<T>) {
      const codec = codecOf(o);
      const access = accessOf(o as ShareOptions<unknown>);
      const plain = { contentType: codec.contentType, data: codec.encode(value) };
      const res = await services.contexts.createContext(
        {
          contextId: o?.id ?? "",
          type,
          payload: await e2e.seal(plain, o?.encrypt),
          metadata: o?.metadata ?? {},
          schemaVersion: o?.schemaVersion ?? "",
          ...(access && { access }),
          ...(o?.ttlMs !== undefined && { ttl: durationFromMs(o.ttlMs) }),
        },
        callOptions(o),
      );
      if (!res.context)
        throw acbError(Code.Internal, "hub answered CreateContext without a context");
      if (res.context.payload) Object.assign(res.context.payload, plain);
      return sharedContext(res.context, codec);
    },
    async getContext<T>(contextId: string, o?: ReadOptions<T>) {
      const res = await services.contexts.getContext({ contextId }, callOptions(o));
      if (!res.context) throw acbError(Code.Internal, "hub answered GetContext without a context");
      await e2e.open(res.context.payload);
      return sharedContext(res.context, o?.codec);
    },
    async updateContext<T>(contextId: string, value: T, o?: UpdateOptions<T>) {
      const codec = codecOf(o);
      const access = accessOf(o as ShareOptions<unknown>);
      const plain = { contentType: codec.contentType, data: codec.encode(value) };
      const res = await services.contexts.updateContext(
        {
          contextId,
          expectedRevision: BigInt(o?.expectedRevision ?? 0),
          payload: await e2e.seal(plain, o?.encrypt),
          metadata: o?.metadata ?? {},
          schemaVersion: o?.schemaVersion ?? "",
          ...(access && { access }),
          ...(o?.ttlMs !== undefined && { ttl: durationFromMs(o.ttlMs) }),
        },
        callOptions(o),
      );
      if (!res.context)
        throw acbError(Code.Internal, "hub answered UpdateContext without a context");
      if (res.context.payload) Object.assign(res.context.payload, plain);
      return sharedContext(res.context, codec);
    },
    async deleteContext(contextId, o) {
      await services.contexts.deleteContext(
        {
          contextId,
          expectedRevision: BigInt(o?.expectedRevision ?? 0),
        },
        callOptions(o),
      );
    },
    async *listContexts<T>(query: ListContextsQuery & ReadOptions<T> = {}) {
      let pageToken = "";
      do {
        const res = await services.contexts.listContexts(
          {
            type: query.type ?? "",
            ownerId: query.ownerId ?? "",
            metadata: query.metadata ?? {},
            pageSize: query.pageSize ?? 100,
            pageToken,
          },
          callOptions(query),
        );
        for (const c of res.contexts) {
          await e2e.open(c.payload);
          yield sharedContext(c, query.codec);
        }
        pageToken = res.nextPageToken;
      } while (pageToken !== "");
    },
    subscribe: (types, handler, o = {}) => startWatching(types, handler, o),
  };
}
