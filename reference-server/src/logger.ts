/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

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

export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const min = order[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  return {
    log(level, msg, fields) {
      if (order[level] < min) return;
      const err = fields?.["err"];
      const rest =
        err instanceof Error
          ? { ...fields, err: { message: err.message, name: err.name } }
          : fields;
      write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...rest }));
    },
  };
}

/** Drops everything (tests that assert on behaviour, not logs). */
export const silentLogger: Logger = { log() {} };
