// The commands, arguments and options of `acb`, in one table: the parser, `--help` and the shell
// completion scripts are all made from it, so every option a command accepts is in its help.

import { parseArgs } from "node:util";

/** One option of a command. */
export interface OptionSpec {
  type: "string" | "boolean";
  /** Repeatable: the values are collected in order. */
  multiple?: boolean;
  default?: string | boolean | string[];
  /** The value's placeholder in the help (string options). */
  value?: string;
  /** One line for the help. */
  help: string;
}

/** One positional argument. */
export interface ArgSpec {
  name: string;
  /** Needed for the command to run. */
  required?: boolean;
  /** Takes every remaining argument. */
  rest?: boolean;
  help: string;
}

/** One command: what it does and what it accepts. */
export interface CommandSpec {
  summary: string;
  args: readonly ArgSpec[];
  options: Record<string, OptionSpec>;
  /** Arguments after the command go unparsed to another program (hub, conformance). */
  passThrough?: boolean;
  /** Talks to a hub: takes the connection options. */
  connects?: boolean;
}

/** Options of every command that talks to a hub. */
export const connectionOptions = {
  url: {
    type: "string",
    value: "URL",
    help: "the hub's URL (default: $ACB_URL, then the config file's url, then http://127.0.0.1:7443)",
  },
  token: {
    type: "string",
    value: "TOKEN",
    help: "the access token or API key (default: $ACB_TOKEN, then the config file's token)",
  },
  config: {
    type: "string",
    value: "FILE",
    help: "the config file, JSON {url, token} (default $ACB_CONFIG or ~/.config/acb/config.json)",
  },
  json: {
    type: "boolean",
    default: false,
    help: "print JSON (one object, or one per line for streams) instead of text",
  },
} as const satisfies Record<string, OptionSpec>;

const tenant = {
  type: "string",
  value: "TENANT",
  help: "the tenant (default: the credential's own)",
} as const satisfies OptionSpec;
const roles = {
  type: "string",
  multiple: true,
  default: [],
  value: "ROLE",
  help: "a role, repeatable: admin, agent-producer, agent-consumer, agent-full, observer (default agent-full)",
} as const satisfies OptionSpec;
const out = {
  type: "string",
  value: "FILE",
  help: "write to FILE instead of standard output",
} as const satisfies OptionSpec;

/** Every acb command, in the order the help lists them. */
export const commands = {
  hub: {
    summary: "starts a development hub (runs `acb-hub dev` with the arguments that follow)",
    args: [{ name: "ARGS", rest: true, help: "options of acb-hub dev (acb-hub dev --help)" }],
    options: {},
    passThrough: true,
  },
  "tenant create": {
    summary: "creates a tenant (AdminService.CreateTenant; needs a platform-admin token)",
    args: [
      { name: "TENANT", required: true, help: "the tenant id: lower-case letters, digits and -" },
    ],
    options: {},
    connects: true,
  },
  "token issue": {
    summary: "mints an access token for an agent (AuthService.IssueToken; needs an admin token)",
    args: [{ name: "AGENT", required: true, help: "the agent id the token is for" }],
    options: {
      tenant,
      role: roles,
      ttl: {
        type: "string",
        value: "DURATION",
        help: "lifetime: 90s, 30m, 1h, 7d (default: the hub's)",
      },
    },
    connects: true,
  },
  "apikey create": {
    summary: "creates an API key for an agent (AuthService.CreateApiKey); the key is shown once",
    args: [{ name: "AGENT", required: true, help: "the agent id the key acts as" }],
    options: {
      tenant,
      role: roles,
      name: { type: "string", value: "NAME", help: "a label to recognise the key by" },
    },
    connects: true,
  },
  "apikey list": {
    summary: "lists the API keys of a tenant (AuthService.ListApiKeys)",
    args: [],
    options: { tenant },
    connects: true,
  },
  "apikey revoke": {
    summary: "revokes an API key (AuthService.RevokeApiKey)",
    args: [{ name: "KEY_ID", required: true, help: "the key's id (acb apikey list)" }],
    options: { tenant },
    connects: true,
  },
  "agents list": {
    summary: "lists the registered agents of the credential's tenant",
    args: [],
    options: {
      status: {
        type: "string",
        value: "STATUS",
        help: "only agents in this status: online, offline, busy, away",
      },
    },
    connects: true,
  },
  "agents watch": {
    summary: "prints agents as they register, change status and leave, until interrupted",
    args: [],
    options: {},
    connects: true,
  },
  "context get": {
    summary:
      "reads a context: its value (large ones streamed, verified chunk by chunk) or its record",
    args: [{ name: "ID", required: true, help: "the context id" }],
    options: {
      out,
      info: {
        type: "boolean",
        default: false,
        help: "print the record (type, revision, size, sha256…) instead of the value",
      },
    },
    connects: true,
  },
  "context put": {
    summary:
      "creates a context from a JSON value or a file of any size (chunked, with a progress bar on " +
      "standard error, resuming by itself after a dropped connection)",
    args: [{ name: "TYPE", required: true, help: "the context's type" }],
    options: {
      file: {
        type: "string",
        value: "FILE",
        help: "upload this file's bytes (large-context upload)",
      },
      value: { type: "string", value: "JSON", help: "the value, as JSON (inline context)" },
      id: {
        type: "string",
        value: "ID",
        help: "choose the context id (default: the hub assigns one)",
      },
      scope: {
        type: "string",
        value: "SCOPE",
        help: "public, private, group or shared (default public)",
      },
      allow: {
        type: "string",
        multiple: true,
        default: [],
        value: "ID",
        help: "a group (scope group) or agent id (scope shared) allowed to read it, repeatable",
      },
      ttl: {
        type: "string",
        value: "DURATION",
        help: "lifetime: 90s, 30m, 1h, 7d (default: none)",
      },
      "chunk-size": { type: "string", value: "BYTES", help: "upload chunk size (default 1048576)" },
      "no-progress": { type: "boolean", default: false, help: "no progress bar" },
    },
    connects: true,
  },
  "context watch": {
    summary: "prints changes to contexts, until interrupted",
    args: [
      { name: "TYPE", rest: true, help: "only contexts of these types (default: every type)" },
    ],
    options: {},
    connects: true,
  },
  send: {
    summary: "sends a message to an agent (or with --topic to a topic) and prints its id",
    args: [
      { name: "TO", required: true, help: "the receiving agent id, or the topic with --topic" },
      { name: "KIND", required: true, help: "the message kind" },
      { name: "JSON", required: true, help: "the value, as JSON" },
    ],
    options: { topic: { type: "boolean", default: false, help: "TO is a topic: publish to it" } },
    connects: true,
  },
  request: {
    summary: "sends a query to an agent and prints its reply",
    args: [
      { name: "TO", required: true, help: "the agent id to ask" },
      { name: "KIND", required: true, help: "the message kind" },
      { name: "JSON", required: true, help: "the value, as JSON" },
    ],
    options: {
      timeout: {
        type: "string",
        default: "30s",
        value: "DURATION",
        help: "how long to wait for the reply",
      },
    },
    connects: true,
  },
  tail: {
    summary:
      "prints the messages delivered to the credential's agent as they arrive (and acks them)",
    args: [],
    options: {
      count: {
        type: "string",
        value: "N",
        help: "stop after N messages (default: until interrupted)",
      },
      register: {
        type: "boolean",
        default: false,
        help: "register the credential's agent (type acb-cli) for the tail and unregister it after; an agent must be registered to receive",
      },
    },
    connects: true,
  },
  "dead-letters list": {
    summary: "lists dead-lettered messages",
    args: [],
    options: {
      agent: {
        type: "string",
        value: "AGENT",
        help: 'only those addressed to this agent ("*": every agent)',
      },
    },
    connects: true,
  },
  "dead-letters replay": {
    summary: "delivers dead-lettered messages again",
    args: [{ name: "ID", rest: true, help: "the dead letters to replay (or --all)" }],
    options: {
      all: { type: "boolean", default: false, help: "replay every dead letter" },
      agent: {
        type: "string",
        value: "AGENT",
        help: "with --all: only those addressed to this agent",
      },
    },
    connects: true,
  },
  "meeting watch": {
    summary: "prints a meeting's events (turns, speech, joins) from its start, until it ends",
    args: [{ name: "MEETING_ID", required: true, help: "the meeting id" }],
    options: {},
    connects: true,
  },
  "audit export": {
    summary: "writes a tenant's audit log as JSON lines (AdminService.ExportAuditLog)",
    args: [],
    options: {
      tenant,
      since: {
        type: "string",
        value: "DURATION",
        help: "only the last DURATION, e.g. 24h (default: everything kept)",
      },
      out,
    },
    connects: true,
  },
  usage: {
    summary:
      "shows a tenant's usage: messages, contexts, storage, API calls (AdminService.GetUsage)",
    args: [],
    options: {
      tenant,
      since: { type: "string", default: "24h", value: "DURATION", help: "the period to total" },
    },
    connects: true,
  },
  conformance: {
    summary:
      "runs the conformance suite against a hub (runs `acb-conformance` with the arguments that follow)",
    args: [
      { name: "ARGS", rest: true, help: "options of acb-conformance (acb-conformance --help)" },
    ],
    options: {},
    passThrough: true,
  },
  completion: {
    summary: 'prints a shell completion script: eval "$(acb completion bash)" (or zsh)',
    args: [{ name: "SHELL", required: true, help: "bash or zsh" }],
    options: {},
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof commands;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(commands, name);
}

/** The options a command accepts, connection options included. */
export function optionsOf(name: CommandName): Record<string, OptionSpec> {
  const spec: CommandSpec = commands[name];
  return spec.connects ? { ...spec.options, ...connectionOptions } : { ...spec.options };
}

/** A mistake in how acb was called; the bin prints it with a pointer to the help. */
export class UsageError extends Error {
  override name = "UsageError";
}

function optionUsage(name: string, o: OptionSpec): string {
  const flag = o.type === "boolean" ? `--${name}` : `--${name} ${o.value ?? "VALUE"}`;
  return o.multiple ? `${flag} ...` : flag;
}

function argUsage(a: ArgSpec): string {
  const word = a.rest ? `${a.name}...` : a.name;
  return a.required ? word : `[${word}]`;
}

/** The help of one command: usage, summary, arguments and one line per option. */
export function commandHelp(name: CommandName): string {
  const spec: CommandSpec = commands[name];
  const entries = Object.entries(optionsOf(name));
  const synopsis = [...spec.args.map(argUsage), ...(spec.passThrough ? [] : ["[options]"])].join(
    " ",
  );
  const rows: [string, string][] = [
    ...spec.args.map((a): [string, string] => [argUsage(a), a.help]),
    ...entries.map(([n, o]): [string, string] => {
      const shown =
        o.default !== undefined &&
        o.type === "string" &&
        !(Array.isArray(o.default) && o.default.length === 0);
      const dflt = shown ? ` (default ${String(o.default)})` : "";
      return [optionUsage(n, o), `${o.help}${dflt}`];
    }),
    ["--help", "print this help"],
  ];
  const width = Math.max(...rows.map(([l]) => l.length));
  const lines = rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`);
  return `usage: acb ${name} ${synopsis}\n  ${spec.summary}\n${lines.join("\n")}\n`;
}

/** The help of acb: every command, one line each. */
export function fullHelp(): string {
  const names = Object.keys(commands) as CommandName[];
  const width = Math.max(...names.map((n) => n.length));
  const list = names.map((n) => `  ${n.padEnd(width)}  ${commands[n].summary}`).join("\n");
  return (
    "usage: acb <command> [arguments] [options]    (acb <command> --help: that command's options)\n\n" +
    `commands:\n${list}\n\n` +
    "Commands that talk to a hub read ACB_URL and ACB_TOKEN, or the config file " +
    "(~/.config/acb/config.json, or --config FILE); --json prints JSON for scripts.\n"
  );
}

/** What parseCommand returns: option values by name, and the positional arguments by name. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  args: Record<string, string | string[] | undefined>;
}

/**
 * Parses a command's arguments; undefined when they ask for its help. Unknown options, missing
 * and stray arguments are UsageErrors.
 */
export function parseCommand(name: CommandName, argv: string[]): Parsed | undefined {
  const spec: CommandSpec = commands[name];
  if (spec.passThrough) {
    // `acb hub --help` is this command's help; any other arguments belong to the program run.
    if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h")) return undefined;
    return { values: {}, args: { [spec.args[0]?.name ?? "ARGS"]: argv } };
  }
  const options: NonNullable<Parameters<typeof parseArgs>[0]>["options"] = {
    help: { type: "boolean", short: "h", default: false },
  };
  for (const [n, o] of Object.entries(optionsOf(name))) {
    options[n] = {
      type: o.type,
      ...(o.multiple && { multiple: true }),
      ...(o.default !== undefined && { default: o.default }),
    } as (typeof options)[string];
  }
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options,
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values["help"]) return undefined;
  delete values["help"];
  const args: Parsed["args"] = {};
  let i = 0;
  for (const a of spec.args) {
    if (a.rest) {
      args[a.name] = positionals.slice(i);
      i = positionals.length;
    } else if (i < positionals.length) {
      args[a.name] = positionals[i++];
    } else if (a.required) {
      throw new UsageError(`missing ${a.name}: ${a.help}`);
    }
  }
  if (i < positionals.length) throw new UsageError(`unexpected argument "${positionals[i]}"`);
  return { values: values as Parsed["values"], args };
}

/** Splits argv into the command (one or two words) and its arguments. */
export function findCommand(argv: string[]): { name: CommandName; rest: string[] } | undefined {
  const [first, second] = argv;
  if (first === undefined) return undefined;
  const two = `${first} ${second ?? ""}`;
  if (isCommand(two)) return { name: two, rest: argv.slice(2) };
  if (isCommand(first)) return { name: first, rest: argv.slice(1) };
  return undefined;
}

/** The groups of two-word commands (token, apikey, agents, context, ...) and their subcommands. */
export function commandGroups(): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const name of Object.keys(commands)) {
    const [group, sub] = name.split(" ");
    if (group === undefined) continue;
    const list = groups.get(group) ?? [];
    if (sub !== undefined) list.push(sub);
    groups.set(group, list);
  }
  return groups;
}
