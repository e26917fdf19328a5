import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import { LargeContextService } from "@acb/gen/acb/v1/large_contexts_pb";
import { MeetingService } from "@acb/gen/acb/v1/meetings_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { type GetServerInfoResponse, ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import type { DescMessage } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { type AgentSession, type RegisterOptions, registerAgent } from "./agent-session.js";
import {
  type ContextStreamBuilder,
  type ReceiveStreamOptions,
  receiveContextStream,
  type StreamContextOptions,
  streamContextBuilder,
  type UploadTransportMode,
} from "./large-contexts.js";
import { createMeetingsApi, type MeetingsApi } from "./meetings.js";
import { jsonCodec, type PayloadCodec, protobufCodec } from "./payload-codec.js";
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
import { type Sha256Provider, webSha256 } from "./sha256.js";
import {
  type ContextChange,
  type SubscribeOptions,
  type Subscription,
  startSubscription,
} from "./subscription.js";

/** A bearer credential, or a function returning the current one (called before every request). */
export type TokenSource = string | (() => string | Promise<string>);

/** Options of {@link createAcbClient}. Runtime entry points fill in the transport. */
export interface AcbClientOptions {
  /**
   * The Connect transport every call goes through. It must carry the credential: create it with
   * `interceptors: [credentialInterceptor(token)]`, as the runtime entry points do.
   */
  transport: Transport;
  /**
   * How large-context uploads send chunks: "stream" (one client stream per batch; needs a
   * transport that streams request bodies, like Node's) or "unary" (one AppendChunk call per
   * chunk, for fetch). Default "unary"; the Node entry point chooses "stream".
   */
  uploadMode?: UploadTransportMode;
  /** SHA-256 for large contexts. Default: WebCrypto plus the core's incremental hasher. */
  sha256?: Sha256Provider;
}

/** How a value is written: its codec, access, lifetime and labels. */
export interface ShareOptions<T> {
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
}

/** Options of {@link AcbClient.updateContext}. */
export interface UpdateOptions<T> extends Omit<ShareOptions<T>, "id"> {
  /** Compare-and-set: apply only at this revision, else the call fails with Code.Aborted. */
  expectedRevision?: number;
}

/** Options of {@link AcbClient.getContext}. */
export interface ReadOptions<T> {
  /** Decodes the value; default: JSON by media type, bytes otherwise. */
  codec?: PayloadCodec<T>;
}

/** Filters of discovery and listing. */
export interface DiscoverQuery {
  capabilities?: string[];
  type?: string;
  /** Exact, or a prefix when it ends with "/". */
  location?: string;
  metadata?: Record<string, string>;
  status?: AgentPresence;
}

/** Filters of {@link AcbClient.listContexts}. */
export interface ListContextsQuery {
  type?: string;
  ownerId?: string;
  metadata?: Record<string, string>;
  /** Page size per request. Default 100. */
  pageSize?: number;
}

/** The ACB client: one object per credential, safe to share across an application. */
export interface AcbClient {
  /** The generated Connect clients, for anything the convenience API does not cover. */
  readonly services: {
    readonly registry: Client<typeof RegistryService>;
    readonly contexts: Client<typeof ContextService>;
    readonly largeContexts: Client<typeof LargeContextService>;
    readonly auth: Client<typeof AuthService>;
    readonly admin: Client<typeof AdminService>;
    readonly serverInfo: Client<typeof ServerInfoService>;
    readonly meetings: Client<typeof MeetingService>;
  };
  /** Turn-based meetings: create, open, list; each meeting is a handle. */
  readonly meetings: MeetingsApi;
  /** The hub's protocol version, epoch, capabilities and limits. */
  serverInfo(): Promise<GetServerInfoResponse>;
  /** Registers the calling agent and (by default) keeps it online with heartbeats. */
  register(options: RegisterOptions): Promise<AgentSession>;
  /** Finds agents; pages through every match. */
  discover(query?: DiscoverQuery): Promise<AgentInfo[]>;
  getAgent(agentId: string): Promise<AgentInfo>;
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
  deleteContext(contextId: string, options?: { expectedRevision?: number }): Promise<void>;
  /** Every readable context matching the query, paging as it goes. */
  listContexts<T = unknown>(
    query?: ListContextsQuery & ReadOptions<T>,
  ): AsyncIterable<SharedContext<T>>;
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

function codecOf<T>(
  options: { codec?: PayloadCodec<T>; schema?: DescMessage } | undefined,
): PayloadCodec<T> {
  if (options?.codec) return options.codec;
  if (options?.schema) return protobufCodec(options.schema) as unknown as PayloadCodec<T>;
  return jsonCodec as PayloadCodec<T>;
}

function accessOf(options: ShareOptions<unknown> | undefined) {
  if (options?.scope === undefined && options?.allowedIds === undefined) return undefined;
  return { scope: scopeValues[options.scope ?? "public"], allowedIds: options.allowedIds ?? [] };
}

/** Builds a client over any Connect transport; see the runtime entry points for ready-made ones. */
export function createAcbClient(options: AcbClientOptions): AcbClient {
  const { transport } = options;
  const services = {
    registry: createClient(RegistryService, transport),
    contexts: createClient(ContextService, transport),
    largeContexts: createClient(LargeContextService, transport),
    auth: createClient(AuthService, transport),
    admin: createClient(AdminService, transport),
    serverInfo: createClient(ServerInfoService, transport),
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

  const large = {
    client: services.largeContexts,
    mode: options.uploadMode ?? "unary",
    sha256: options.sha256 ?? webSha256,
  };

  return {
    services,
    streamContext: (type, o) => streamContextBuilder(large, type, o),
    receiveContextStream: (contextId, o) => receiveContextStream(large, contextId, o),
    meetings: createMeetingsApi(services.meetings, whoAmI),
    serverInfo: () => services.serverInfo.getServerInfo({}),
    register: (o) => registerAgent(services.registry, o),
    async discover(query = {}) {
      const found: AgentInfo[] = [];
      let pageToken = "";
      do {
        const res = await services.registry.discover({
          capabilities: query.capabilities ?? [],
          type: query.type ?? "",
          location: query.location ?? "",
          metadata: query.metadata ?? {},
          status: presenceValue(query.status),
          pageToken,
        });
        found.push(...res.agents.map(agentInfo));
        pageToken = res.nextPageToken;
      } while (pageToken !== "");
      return found;
    },
    async getAgent(agentId) {
      const res = await services.registry.getAgent({ agentId });
      if (!res.agent) throw new TypeError("hub answered GetAgent without an agent");
      return agentInfo(res.agent);
    },
    async shareContext<T>(type: string, value: T, o?: ShareOptions<T>) {
      const codec = codecOf(o);
      const access = accessOf(o as ShareOptions<unknown>);
      const res = await services.contexts.createContext({
        contextId: o?.id ?? "",
        type,
        payload: { contentType: codec.contentType, data: codec.encode(value) },
        metadata: o?.metadata ?? {},
        schemaVersion: o?.schemaVersion ?? "",
        ...(access && { access }),
        ...(o?.ttlMs !== undefined && { ttl: durationFromMs(o.ttlMs) }),
      });
      if (!res.context) throw new TypeError("hub answered CreateContext without a context");
      return sharedContext(res.context, codec);
    },
    async getContext<T>(contextId: string, o?: ReadOptions<T>) {
      const res = await services.contexts.getContext({ contextId });
      if (!res.context) throw new TypeError("hub answered GetContext without a context");
      return sharedContext(res.context, o?.codec);
    },
    async updateContext<T>(contextId: string, value: T, o?: UpdateOptions<T>) {
      const codec = codecOf(o);
      const access = accessOf(o as ShareOptions<unknown>);
      const res = await services.contexts.updateContext({
        contextId,
        expectedRevision: BigInt(o?.expectedRevision ?? 0),
        payload: { contentType: codec.contentType, data: codec.encode(value) },
        metadata: o?.metadata ?? {},
        schemaVersion: o?.schemaVersion ?? "",
        ...(access && { access }),
        ...(o?.ttlMs !== undefined && { ttl: durationFromMs(o.ttlMs) }),
      });
      if (!res.context) throw new TypeError("hub answered UpdateContext without a context");
      return sharedContext(res.context, codec);
    },
    async deleteContext(contextId, o) {
      await services.contexts.deleteContext({
        contextId,
        expectedRevision: BigInt(o?.expectedRevision ?? 0),
      });
    },
    async *listContexts<T>(query: ListContextsQuery & ReadOptions<T> = {}) {
      let pageToken = "";
      do {
        const res = await services.contexts.listContexts({
          type: query.type ?? "",
          ownerId: query.ownerId ?? "",
          metadata: query.metadata ?? {},
          pageSize: query.pageSize ?? 100,
          pageToken,
        });
        for (const c of res.contexts) yield sharedContext(c, query.codec);
        pageToken = res.nextPageToken;
      } while (pageToken !== "");
    },
    subscribe(types, handler, o = {}) {
      const list = typeof types === "string" ? (types === "" ? [] : [types]) : types;
      return startSubscription(services.contexts, list, handler, o);
    },
  };
}
