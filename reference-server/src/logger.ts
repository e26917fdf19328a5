import { pino } from "pino";

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Writes one JSON object per line; fields such as correlation_id, tenant_id and agent_id go beside the message. */
export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** Options of {@link createJsonLogger}. */
export interface JsonLoggerOptions {
  /** Lines below this level are dropped. Default "info". */
  level?: LogLevel;
  /** Where lines go. Default: standard error. */
  write?: (line: string) => void;
}

/**
 * Field names whose values never reach a log line (credentials and payloads), at the top level
 * and one level down; pino replaces them with "[redacted]".
 */
const secretFields = [
  "token",
  "accessToken",
  "refreshToken",
  "adminToken",
  "apiKey",
  "secret",
  "password",
  "authorization",
  "payload",
  "data",
];

/** JSON lines through pino: `time` (ISO), `level` (name), `msg`, then the fields. */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = pino(
    {
      level: options.level ?? "info",
      base: null,
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [...secretFields, ...secretFields.map((f) => `*.${f}`)],
        censor: "[redacted]",
      },
    },
    // pino writes each line ending in "\n" to this destination, synchronously.
    { write: (line: string) => write(options.write ? line.replace(/\n$/, "") : line) },
  );
  return {
    log(level, msg, fields) {
      const err = fields?.["err"];
      const rest =
        err instanceof Error
          ? { ...fields, err: { message: err.message, name: err.name } }
          : fields;
      base[level](rest ?? {}, msg);
    },
  };
}

/** Drops everything (tests that assert on behaviour, not logs). */
export const silentLogger: Logger = { log() {} };
