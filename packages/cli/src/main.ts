// acb: the operator's command line. `acb --help` lists the commands; the table they come from is
// commands.ts, and every command that talks to a hub does so through the SDK (@acb/sdk/node).

import { spawn } from "node:child_process";
import { createWriteStream, openAsBlob, statSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import {
  type AcbClient,
  AcbError,
  AgentStatus,
  Code,
  createClient,
  Role,
  type StreamProgress,
} from "@acb/sdk/node";
import {
  type CommandName,
  commandHelp,
  findCommand,
  fullHelp,
  type Parsed,
  parseCommand,
  UsageError,
} from "./commands.js";
import { bashCompletion, zshCompletion } from "./completion.js";
import { CredentialError, resolveConnection } from "./credentials.js";
import { type ProgressSink, progressBar } from "./progress.js";

/** Where acb reads and writes; the bin passes the process's own. */
export interface CliIo {
  stdout: { write(text: string | Uint8Array): unknown };
  stderr: ProgressSink;
  env: NodeJS.ProcessEnv;
  /** Ends watches and tails (the bin aborts it on SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function duration(flag: string, text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  const ms = m ? Number(m[1]) * (UNITS[m[2] ?? ""] ?? 0) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0)
    throw new UsageError(`--${flag} "${text}" is not a duration like 90s, 30m, 1h or 7d`);
  return ms;
}

const roleNames: Record<string, Role> = {
  admin: Role.ADMIN,
  "agent-producer": Role.AGENT_PRODUCER,
  "agent-consumer": Role.AGENT_CONSUMER,
  "agent-full": Role.AGENT_FULL,
  observer: Role.OBSERVER,
};

function rolesOf(names: string[]): Role[] {
  if (names.length === 0) return [Role.AGENT_FULL];
  return names.map((name) => {
    const role =
      roleNames[
        name
          .replace(/^ROLE_/, "")
          .toLowerCase()
          .replaceAll("_", "-")
      ];
    if (role === undefined)
      throw new UsageError(`--role "${name}" is not a role (${Object.keys(roleNames).join(", ")})`);
    return role;
  });
}

const roleName = (r: Role) => Object.entries(roleNames).find(([, v]) => v === r)?.[0] ?? String(r);

function jsonArg(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(
      `${name} is not JSON (${err instanceof Error ? err.message : String(err)}); quote strings: '"text"'`,
    );
  }
}

/**
 * How a large transfer (context put --file, context get --out) rides out a hub that is away, e.g.
 * restarting: up to 60 attempts at most 2 s apart (about a minute), resuming from the hub's
 * verified offset. The SDK's default (8 attempts up to 10 s apart) may give up within seconds.
 */
const transferRetry = { retries: 60, backoff: { maxDelayMs: 2_000 } };

const iso = (d: Date | undefined) => d?.toISOString() ?? "";
const timestampDate = (t: { seconds: bigint; nanos: number } | undefined) =>
  t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)) : undefined;
const timestamp = (d: Date) => ({
  seconds: BigInt(Math.floor(d.getTime() / 1000)),
  nanos: (d.getTime() % 1000) * 1e6,
});

/** One command's run: its parsed arguments, a client, and printing helpers. */
interface Run {
  p: Parsed;
  client: AcbClient;
  io: CliIo;
  json: boolean;
  /** Prints a result: JSON when --json, else the text. */
  print(value: unknown, text: string): void;
  /** The --tenant value, or the credential's own tenant. */
  tenant(): Promise<string>;
  str(name: string): string | undefined;
  list(name: string): string[];
  arg(name: string): string;
  /** An option's raw value. */
  values(name: string): unknown;
}

type Action = (run: Run) => Promise<void>;

const actions: Partial<Record<CommandName, Action>> = {
  async "tenant create"(r) {
    const res = await r.client.services.admin.createTenant({ tenantId: r.arg("TENANT") });
    r.print({ tenantId: res.tenant?.id ?? r.arg("TENANT") }, `${r.arg("TENANT")}\n`);
  },
  async "token issue"(r) {
    const ttl = r.str("ttl");
    const res = await r.client.services.auth.issueToken({
      tenantId: await r.tenant(),
      agentId: r.arg("AGENT"),
      roles: rolesOf(r.list("role")),
      ...(ttl && { accessTokenTtl: { seconds: BigInt(duration("ttl", ttl) / 1000), nanos: 0 } }),
    });
    const t = res.tokens;
    r.print(
      {
        accessToken: t?.accessToken ?? "",
        accessTokenExpiresAt: iso(timestampDate(t?.accessTokenExpiresAt)),
        refreshToken: t?.refreshToken ?? "",
      },
      `${t?.accessToken ?? ""}\n`,
    );
  },
  async "apikey create"(r) {
    const res = await r.client.services.auth.createApiKey({
      tenantId: await r.tenant(),
      agentId: r.arg("AGENT"),
      roles: rolesOf(r.list("role")),
      description: r.str("name") ?? "",
    });
    r.print(
      { id: res.key?.id ?? "", agentId: res.key?.agentId ?? "", secret: res.secret },
      `${res.secret}\n`,
    );
  },
  async "apikey list"(r) {
    const res = await r.client.services.auth.listApiKeys({ tenantId: await r.tenant() });
    const keys = res.keys.map((k) => ({
      id: k.id,
      agentId: k.agentId,
      roles: k.roles.map(roleName),
      description: k.description,
    }));
    r.print(
      keys,
      keys.map((k) => `${k.id}\t${k.agentId}\t${k.roles.join(",")}\t${k.description}\n`).join(""),
    );
  },
  async "apikey revoke"(r) {
    await r.client.services.auth.revokeApiKey({ keyId: r.arg("KEY_ID") });
    r.print({ revoked: r.arg("KEY_ID") }, `revoked ${r.arg("KEY_ID")}\n`);
  },
  async "agents list"(r) {
    const status = r.str("status");
    if (status !== undefined && !["online", "offline", "busy", "away", "unknown"].includes(status))
      throw new UsageError(`--status "${status}" is not online, offline, busy, away or unknown`);
    const agents = await r.client.discover(status ? { status: status as "online" } : {});
    const rows = agents.map((a) => ({
      id: a.id,
      type: a.type,
      status: a.status,
      capabilities: a.capabilities,
      lastSeen: iso(a.lastSeen),
    }));
    r.print(
      rows,
      rows.map((a) => `${a.id}\t${a.type}\t${a.status}\t${a.capabilities.join(",")}\n`).join(""),
    );
  },
  async "agents watch"(r) {
    const kinds = ["", "ready", "registered", "status-changed", "unregistered"];
    for await (const e of r.client.services.registry.watchAgents(
      {},
      r.io.signal ? { signal: r.io.signal } : {},
    )) {
      const kind = kinds[e.kind] ?? String(e.kind);
      if (kind === "ready") continue;
      const status = AgentStatus[e.agent?.status ?? 0]?.toLowerCase() ?? "";
      const row = { kind, id: e.agent?.id ?? "", status, time: iso(timestampDate(e.time)) };
      r.print(row, `${row.time}\t${row.kind}\t${row.id}\t${row.status}\n`);
    }
  },
  async "context get"(r) {
    const id = r.arg("ID");
    const info = await r.client.getContext(id);
    if (r.values("info")) {
      const { value: _value, ...record } = info;
      r.print(record, `${JSON.stringify(record, null, 2)}\n`);
      return;
    }
    const out = r.str("out");
    let last: StreamProgress | undefined;
    const bar = out && !r.values("no-progress") ? progressBar(r.io.stderr, "get") : undefined;
    const stream = r.client.receiveContextStream(id, {
      revision: info.revision,
      ...transferRetry,
    });
    const counted = Readable.fromWeb(stream as import("node:stream/web").ReadableStream);
    let bytes = 0;
    counted.on("data", (chunk: Uint8Array) => {
      bytes += chunk.length;
      last = {
        bytes,
        totalBytes: info.size,
        fraction: info.size ? bytes / info.size : 1,
        wireBytes: bytes,
        resumes: 0,
      };
      bar?.update(last);
    });
    if (out) {
      await pipeline(counted, createWriteStream(out));
      bar?.done(last);
      if (r.json)
        r.print({ id, revision: info.revision, size: info.size, sha256: info.sha256, out }, "");
    } else {
      for await (const chunk of counted) r.io.stdout.write(chunk as Uint8Array);
    }
  },
  async "context put"(r) {
    const file = r.str("file");
    const text = r.str("value");
    if ((file === undefined) === (text === undefined))
      throw new UsageError("give the value with exactly one of --file FILE or --value JSON");
    const scope = r.str("scope");
    if (scope !== undefined && !["public", "private", "group", "shared"].includes(scope))
      throw new UsageError(`--scope "${scope}" is not public, private, group or shared`);
    const ttl = r.str("ttl");
    const id = r.str("id");
    const options = {
      ...(id && { id }),
      ...(scope && { scope: scope as "public" }),
      ...(r.list("allow").length > 0 && { allowedIds: r.list("allow") }),
      ...(ttl && { ttlMs: duration("ttl", ttl) }),
    };
    const type = r.arg("TYPE");
    if (text !== undefined) {
      const ctx = await r.client.shareContext(type, jsonArg("--value", text), options);
      r.print(
        { id: ctx.id, revision: ctx.revision, size: ctx.size, sha256: ctx.sha256 },
        `${ctx.id}\n`,
      );
      return;
    }
    const path = file as string;
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new UsageError(`--file "${path}" cannot be read`);
    }
    const chunkText = r.str("chunk-size");
    const chunkSize = chunkText === undefined ? undefined : Number(chunkText);
    if (chunkSize !== undefined && !(Number.isSafeInteger(chunkSize) && chunkSize > 0))
      throw new UsageError(`--chunk-size "${chunkText}" is not a number of bytes`);
    const bar = r.values("no-progress") ? undefined : progressBar(r.io.stderr, "put");
    let last: StreamProgress | undefined;
    let builder = r.client
      .streamContext(type, {
        ...options,
        ...transferRetry,
        ...(r.io.signal && { signal: r.io.signal }),
      })
      // A file-backed Blob, not a read stream: the upload can re-read from any verified offset.
      .fromReader(await openAsBlob(path), size)
      .onProgress((p) => {
        last = p;
        bar?.update(p);
      });
    if (chunkSize !== undefined) builder = builder.withChunkSize(chunkSize);
    const ctx = await builder.send();
    bar?.done(last);
    r.print(
      {
        id: ctx.id,
        revision: ctx.revision,
        size: ctx.size,
        sha256: ctx.sha256,
        resumes: last?.resumes ?? 0,
      },
      `${ctx.id}\n`,
    );
  },
  async "context watch"(r) {
    const types = r.list("TYPE");
    for await (const c of r.client.contexts.watch(
      types,
      r.io.signal ? { signal: r.io.signal } : {},
    )) {
      const row = {
        kind: c.kind,
        id: c.context.id,
        type: c.context.type,
        revision: c.context.revision,
        time: iso(c.time),
      };
      r.print(row, `${row.time}\t${row.kind}\t${row.id}\t${row.type}\trev ${row.revision}\n`);
    }
  },
  async send(r) {
    const value = jsonArg("JSON", r.arg("JSON"));
    const res = r.values("topic")
      ? await r.client.publish(r.arg("TO"), r.arg("KIND"), value)
      : await r.client.sendTo(r.arg("TO"), r.arg("KIND"), value);
    r.print(res, `${res.messageId}\n`);
  },
  async request(r) {
    const timeoutMs = duration("timeout", r.str("timeout") ?? "30s");
    const reply = await r.client.request(
      r.arg("TO"),
      r.arg("KIND"),
      jsonArg("JSON", r.arg("JSON")),
      {
        timeoutMs,
      },
    );
    r.print(
      { from: reply.senderId, kind: reply.kind, value: reply.value },
      `${JSON.stringify(reply.value)}\n`,
    );
  },
  async tail(r) {
    const countText = r.str("count");
    const count = countText === undefined ? Number.POSITIVE_INFINITY : Number(countText);
    if (!(count > 0)) throw new UsageError(`--count "${countText}" is not a positive number`);
    let seen = 0;
    const session = r.values("register") ? await r.client.register({ type: "acb-cli" }) : undefined;
    try {
      for await (const m of r.client.messages(r.io.signal ? { signal: r.io.signal } : {})) {
        const row = { id: m.id, from: m.senderId, kind: m.kind, type: m.type, value: m.value };
        r.print(row, `${m.senderId}\t${m.kind}\t${JSON.stringify(m.value)}\n`);
        if (++seen >= count) {
          await m.ack();
          break;
        }
      }
    } catch (err) {
      if (!session && AcbError.from(err).rawMessage.includes("must register"))
        throw new Error(
          `${AcbError.from(err).message} (acb tail --register registers it for the tail)`,
        );
      throw err;
    } finally {
      await session?.unregister();
    }
  },
  async "dead-letters list"(r) {
    const agent = r.str("agent");
    const rows: unknown[] = [];
    let pageToken = "";
    do {
      const res = await r.client.services.messaging.listDeadLetters({
        ...(agent && { agentId: agent }),
        pageToken,
        omitPayloads: true,
      });
      for (const d of res.deadLetters) {
        const row = {
          id: d.id,
          agentId: d.agentId,
          kind: d.message?.kind ?? "",
          attempts: d.attempts,
          lastError: d.lastError,
          deadLetteredAt: iso(timestampDate(d.deadLetteredAt)),
        };
        rows.push(row);
        if (!r.json)
          r.io.stdout.write(
            `${row.id}\t${row.agentId}\t${row.kind}\t${row.attempts}\t${row.lastError}\n`,
          );
      }
      pageToken = res.nextPageToken;
    } while (pageToken);
    if (r.json) r.print(rows, "");
  },
  async "dead-letters replay"(r) {
    const ids = r.list("ID");
    const all = r.values("all") === true;
    if (all === ids.length > 0) throw new UsageError("give the dead letters' ids, or --all");
    const agent = r.str("agent");
    const res = await r.client.services.messaging.replayDeadLetters(
      all ? { all: true, ...(agent && { agentId: agent }) } : { deadLetterIds: ids },
    );
    r.print(
      { replayed: Number(res.replayedCount), notFound: res.notFoundIds },
      `replayed ${res.replayedCount}${res.notFoundIds.length ? `; not found: ${res.notFoundIds.join(" ")}` : ""}\n`,
    );
  },
  async "meeting watch"(r) {
    const meeting = r.client.meetings.open(r.arg("MEETING_ID"));
    for await (const e of meeting.events({
      fromBeginning: true,
      ...(r.io.signal && { signal: r.io.signal }),
    })) {
      if (e.kind === "ready") continue;
      const row = {
        kind: e.kind,
        time: iso(e.time),
        actor: e.actorId,
        speaker: e.turnHolderId,
        turn: e.turnNumber,
        ...(e.entry && { said: e.entry.content }),
      };
      r.print(
        row,
        `${row.time}\t${row.kind}\t${row.actor || "-"}\tspeaker ${row.speaker || "-"}${e.entry ? `\t${JSON.stringify(e.entry.content)}` : ""}\n`,
      );
      if (e.kind === "ended" || e.kind === "cancelled") break;
    }
  },
  async "audit export"(r) {
    const since = r.str("since");
    const now = new Date();
    const parts = r.client.services.admin.exportAuditLog({
      tenantId: await r.tenant(),
      ...(since && { start: timestamp(new Date(now.getTime() - duration("since", since))) }),
      end: timestamp(now),
    });
    const out = r.str("out");
    const file = out ? createWriteStream(out) : undefined;
    // The log arrives in parts (a server stream), written as they come.
    for await (const part of parts) {
      if (file) file.write(part.jsonl);
      else r.io.stdout.write(part.jsonl);
    }
    if (file)
      await new Promise<void>((resolve, reject) =>
        file.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
  },
  async usage(r) {
    const now = new Date();
    const res = await r.client.services.admin.getUsage({
      tenantId: await r.tenant(),
      start: timestamp(new Date(now.getTime() - duration("since", r.str("since") ?? "24h"))),
      end: timestamp(now),
    });
    const t = res.total;
    const total = {
      messages: Number(t?.messages ?? 0n),
      bytes: Number(t?.bytes ?? 0n),
      storageBytes: Number(t?.storageBytes ?? 0n),
    };
    r.print(
      total,
      `messages\t${total.messages}\nbytes\t${total.bytes}\nstorage_bytes\t${total.storageBytes}\n`,
    );
  },
};

/** Runs another bin of the project (acb-hub, acb-conformance) with these arguments. */
function delegate(
  pkg: "@acb/hub" | "@acb/conformance",
  bin: string,
  args: string[],
): Promise<number> {
  const entry = fileURLToPath(import.meta.resolve(pkg));
  const path = fileURLToPath(new URL(`../bin/${bin}.js`, `file://${entry}`));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path, ...args], { stdio: "inherit" });
    const forward = (s: NodeJS.Signals) => child.kill(s);
    process.on("SIGINT", forward).on("SIGTERM", forward);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      process.off("SIGINT", forward).off("SIGTERM", forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

function describeError(err: unknown, tokenSource: string): string {
  if (!(err instanceof Error)) return String(err);
  const e = err instanceof AcbError ? err : undefined;
  if (e?.code === Code.Unauthenticated)
    return `the hub refused the credential from ${tokenSource} (${e.rawMessage}): it may have expired or been revoked, or the hub restarted with new keys; mint a new one`;
  if (e?.code === Code.Unavailable)
    return `cannot reach the hub (${e.rawMessage}); is it running? (acb hub starts one)`;
  return e ? e.message : err.message;
}

/**
 * Runs acb with these arguments and returns its exit code: 0 done, 1 failed, 2 bad usage.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    const topic = findCommand(rest);
    const target = first === undefined ? io.stderr : io.stdout;
    target.write(topic ? commandHelp(topic.name) : fullHelp());
    return first === undefined ? 2 : 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = [...new Set(Object.keys(actions).concat("hub", "conformance", "completion"))]
      .filter((n) => n.startsWith(`${first} `))
      .map((n) => n.slice(first.length + 1));
    const what =
      group.length > 0
        ? `"${first}" needs a subcommand: ${group.join(", ")}`
        : `unknown command "${first}"`;
    io.stderr.write(`acb: ${what}\n\n${fullHelp()}`);
    return 2;
  }
  const { name } = found;
  let tokenSource = "";
  try {
    const p = parseCommand(name, found.rest);
    if (!p) {
      io.stdout.write(commandHelp(name));
      return 0;
    }
    if (name === "hub")
      return await delegate("@acb/hub", "acb-hub", ["dev", ...(p.args["ARGS"] as string[])]);
    if (name === "conformance")
      return await delegate("@acb/conformance", "acb-conformance", p.args["ARGS"] as string[]);
    if (name === "completion") {
      const shell = p.args["SHELL"];
      if (shell === "bash") io.stdout.write(bashCompletion());
      else if (shell === "zsh") io.stdout.write(zshCompletion());
      else throw new UsageError(`no completion for "${shell}": bash or zsh`);
      return 0;
    }
    const action = actions[name];
    if (!action) throw new UsageError(`"${name}" is not implemented`);
    const conn = resolveConnection(
      {
        url: p.values["url"] as string | undefined,
        token: p.values["token"] as string | undefined,
        config: p.values["config"] as string | undefined,
      },
      io.env,
    );
    tokenSource = conn.tokenSource;
    const client = createClient({ baseUrl: conn.url, token: conn.token });
    const json = p.values["json"] === true;
    let tenant: string | undefined;
    const run: Run = {
      p,
      client,
      io,
      json,
      print(value, text) {
        io.stdout.write(json ? `${JSON.stringify(value)}\n` : text);
      },
      async tenant() {
        const flag = p.values["tenant"];
        if (typeof flag === "string") return flag;
        tenant ??= (await client.services.auth.whoAmI({})).tenantId;
        if (tenant === "*")
          throw new UsageError(
            "the credential is a platform admin's: say which tenant with --tenant",
          );
        return tenant;
      },
      str: (n) => p.values[n] as string | undefined,
      list: (n) => (p.values[n] ?? p.args[n] ?? []) as string[],
      arg: (n) => p.args[n] as string,
      values: (n) => p.values[n],
    };
    try {
      await action(run);
    } finally {
      await client.close();
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`acb ${name}: ${err.message}\n(acb ${name} --help lists its options)\n`);
      return 2;
    }
    if (io.signal?.aborted && err instanceof AcbError && err.code === Code.Canceled) return 0;
    if (err instanceof CredentialError) {
      io.stderr.write(`acb ${name}: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`acb ${name}: ${describeError(err, tokenSource)}\n`);
    return 1;
  }
}
