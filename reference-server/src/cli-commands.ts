// The commands and options of acb-hub, in one table: the parser and `--help` are both made from
// it, so every option a command accepts is in its help.

import { parseArgs } from "node:util";
import { hubFaults } from "./faults.js";

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

/** One command: what it does and what it accepts. */
export interface CommandSpec {
  summary: string;
  options: Record<string, OptionSpec>;
}

const logLevel = {
  type: "string",
  default: "info",
  value: "LEVEL",
  help: "debug, info, warn or error; logs are JSON lines on standard error",
} as const satisfies OptionSpec;
const cors = {
  type: "string",
  multiple: true,
  default: [],
  value: "ORIGIN",
  help: 'a browser origin allowed to call the hub (CORS), repeatable; "*" allows any',
} as const satisfies OptionSpec;
const host = (help: string) =>
  ({ type: "string", default: "127.0.0.1", value: "HOST", help }) as const satisfies OptionSpec;
const port = {
  type: "string",
  default: "7443",
  value: "PORT",
  help: "the port to listen on; 0 picks a free one",
} as const satisfies OptionSpec;
const force = {
  type: "boolean",
  default: false,
  help: "overwrite files that exist (without it, an existing file is never replaced)",
} as const satisfies OptionSpec;

/** Where the hub keeps its state (docs/hub.md, "Storage"); dev and serve both take these. */
const storage = {
  data: {
    type: "string",
    value: "DIR",
    help: "keep everything in DIR (embedded PGlite database; dev also keeps its signing key there)",
  },
  memory: {
    type: "boolean",
    help: "keep everything in memory, lost on exit (dev's default; fastest, for tests)",
  },
  "database-url": {
    type: "string",
    value: "URL",
    help: "a PostgreSQL database (postgres://…); also ACB_DATABASE_URL",
  },
  "pool-size": {
    type: "string",
    value: "N",
    help: "connections in the PostgreSQL pool; also ACB_DATABASE_POOL_SIZE",
  },
  "redis-url": {
    type: "string",
    value: "URL",
    help: "Redis for counters, slots and notifications (with --database-url and --kafka-brokers: the production preset); also ACB_REDIS_URL",
  },
  "kafka-brokers": {
    type: "string",
    value: "HOST:PORT,...",
    help: "Kafka brokers for the message log (production preset); also ACB_KAFKA_BROKERS",
  },
  preset: {
    type: "string",
    value: "NAME",
    help: "check that the configuration amounts to this preset: embedded, embedded-durable, postgres or production; also ACB_PRESET",
  },
  config: {
    type: "string",
    value: "FILE",
    help: "a JSON configuration file (flags beat ACB_* variables, which beat the file); also ACB_CONFIG",
  },
} as const satisfies Record<string, OptionSpec>;

/** Operating the hub (docs/operations.md); dev and serve both take these. */
const operations = {
  "metrics-port": {
    type: "string",
    value: "PORT",
    help: "serve /metrics, /healthz and /readyz on their own port (default: on the RPC port)",
  },
  "drain-timeout": {
    type: "string",
    default: "10000",
    value: "MS",
    help: "how long a drain on SIGTERM/SIGINT may take before the process exits anyway",
  },
  "headers-timeout": {
    type: "string",
    default: "10000",
    value: "MS",
    help: "close a connection whose first request headers (or TLS handshake) take longer",
  },
  "body-idle-timeout": {
    type: "string",
    default: "30000",
    value: "MS",
    help: "cancel a request whose unfinished body stays silent longer",
  },
  "idle-timeout": {
    type: "string",
    default: "60000",
    value: "MS",
    help: "close a connection with no request in progress after this long (HTTP/2: GOAWAY)",
  },
} as const satisfies Record<string, OptionSpec>;

/** Every acb-hub command, in the order the help lists them. */
export const commands = {
  dev: {
    summary:
      "a development hub: in memory with signing keys made for this run unless --data DIR keeps " +
      "both, plaintext on loopback; prints one JSON line with its URL and an admin token for this run",
    options: {
      host: host("a loopback address to listen on"),
      port,
      cors: { ...cors, help: `${cors.help} (loopback origins are always allowed)` },
      console: {
        type: "boolean",
        default: false,
        help: "serve the web console under /console/ on the same port; the listening line gets consoleUrl",
      },
      fault: {
        type: "string",
        multiple: true,
        default: [],
        value: "NAME",
        help: `TEST-ONLY: break one guarantee, to prove the conformance suite notices; one of ${hubFaults.join(", ")}`,
      },
      "log-level": logLevel,
      ...storage,
      ...operations,
    },
  },
  serve: {
    summary:
      "a production hub: tokens signed with your key, TLS 1.3, plaintext only on loopback or " +
      "with --insecure; state in PGlite under ./acb-data unless configured otherwise; mints no token (see `acb-hub token`)",
    options: {
      "signing-key": {
        type: "string",
        value: "FILE",
        help: "required: the PEM private key (Ed25519, P-256 or RSA) that signs and verifies tokens",
      },
      "tls-cert": {
        type: "string",
        value: "FILE",
        help: "the PEM certificate chain to serve TLS with",
      },
      "tls-key": { type: "string", value: "FILE", help: "the PEM private key of --tls-cert" },
      host: host("the address to listen on"),
      port,
      insecure: {
        type: "boolean",
        default: false,
        help: "allow plaintext on a non-loopback address (logs a warning)",
      },
      cors,
      "log-level": logLevel,
      ...storage,
      ...operations,
    },
  },
  token: {
    summary:
      "prints an access token signed with the hub's signing key, e.g. the first platform-admin " +
      "token of a production hub",
    options: {
      "signing-key": {
        type: "string",
        value: "FILE",
        help: "required: the key the hub was started with (acb-hub serve --signing-key)",
      },
      tenant: {
        type: "string",
        default: "*",
        value: "TENANT",
        help: 'the "tid" claim; only "*", the platform tenant (tenant tokens come from AuthService.IssueToken)',
      },
      role: {
        type: "string",
        multiple: true,
        default: ["admin"],
        value: "ROLE",
        help: "a role, repeatable: admin, agent-producer, agent-consumer, agent-full or observer (or ROLE_ADMIN, …)",
      },
      subject: {
        type: "string",
        default: "operator",
        value: "NAME",
        help: 'the "sub" claim: who the token is for (shown in the audit log)',
      },
      ttl: {
        type: "string",
        default: "1h",
        value: "DURATION",
        help: "how long the token is valid: 90s, 30m, 1h, 7d (at most 7d)",
      },
    },
  },
  keygen: {
    summary: "writes a new Ed25519 token-signing key for `acb-hub serve --signing-key`",
    options: {
      out: {
        type: "string",
        default: "signing-key.pem",
        value: "FILE",
        help: "the file to write (mode 0600); its folder is created",
      },
      force,
    },
  },
  cert: {
    summary: "writes a self-signed development TLS certificate: DIR/cert.pem and DIR/key.pem",
    options: {
      out: {
        type: "string",
        default: ".",
        value: "DIR",
        help: "the folder to write to; created when missing",
      },
      host: {
        type: "string",
        multiple: true,
        default: [],
        value: "NAME",
        help: "a host name or IP the certificate is for, repeatable (default localhost, 127.0.0.1, ::1)",
      },
      days: { type: "string", default: "30", value: "N", help: "days the certificate is valid" },
      force,
    },
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof commands;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(commands, name);
}

/** A mistake in how acb-hub was called; the bin prints it with a pointer to the help. */
export class UsageError extends Error {
  override name = "UsageError";
}

function optionUsage(name: string, o: OptionSpec): string {
  const flag = o.type === "boolean" ? `--${name}` : `--${name} ${o.value ?? "VALUE"}`;
  return o.multiple ? `${flag} ...` : flag;
}

/** The help of one command: a usage line and one line per option. */
export function commandHelp(name: CommandName): string {
  const spec: CommandSpec = commands[name];
  const entries = Object.entries(spec.options);
  const required = (o: OptionSpec) => o.help.startsWith("required:");
  const synopsis = entries
    .map(([n, o]) => (required(o) ? optionUsage(n, o) : `[${optionUsage(n, o)}]`))
    .join(" ");
  const width = Math.max(...entries.map(([n, o]) => optionUsage(n, o).length), "--help".length);
  const lines = entries.map(([n, o]) => {
    const shown =
      o.default !== undefined &&
      o.type === "string" &&
      !(Array.isArray(o.default) && o.default.length === 0);
    const dflt = shown
      ? ` (default ${Array.isArray(o.default) ? o.default.join(", ") : o.default})`
      : "";
    return `  ${optionUsage(n, o).padEnd(width)}  ${o.help}${dflt}`;
  });
  lines.push(`  ${"--help".padEnd(width)}  print this help`);
  return `acb-hub ${name} ${synopsis}\n  ${spec.summary}\n${lines.join("\n")}\n`;
}

/** The help of acb-hub: every command with every option. */
export function fullHelp(): string {
  const names = Object.keys(commands) as CommandName[];
  const width = Math.max(...names.map((n) => n.length));
  const list = names.map((n) => `  ${n.padEnd(width)}  ${commands[n].summary}`).join("\n");
  return (
    "usage: acb-hub <command> [options]    (acb-hub <command> --help: that command only)\n\n" +
    `commands:\n${list}\n\n${names.map(commandHelp).join("\n")}`
  );
}

type Values<C extends CommandName> = {
  [K in keyof (typeof commands)[C]["options"]]: (typeof commands)[C]["options"][K] extends {
    type: "boolean";
  }
    ? boolean
    : (typeof commands)[C]["options"][K] extends { multiple: true }
      ? string[]
      : (typeof commands)[C]["options"][K] extends { default: string }
        ? string
        : string | undefined;
};

/**
 * Parses a command's arguments; undefined when they ask for its help. Unknown options and stray
 * arguments are UsageErrors.
 */
export function parseCommand<C extends CommandName>(
  name: C,
  args: string[],
): Values<C> | undefined {
  const spec: CommandSpec = commands[name];
  const options: NonNullable<Parameters<typeof parseArgs>[0]>["options"] = {
    help: { type: "boolean", short: "h", default: false },
  };
  for (const [n, o] of Object.entries(spec.options)) {
    options[n] = {
      type: o.type,
      ...(o.multiple && { multiple: true }),
      ...(o.default !== undefined && { default: o.default }),
    } as (typeof options)[string];
  }
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values["help"]) return undefined;
  delete values["help"];
  return values as Values<C>;
}
