// acb-hub: runs the reference hub.
//
//   acb-hub dev [--host 127.0.0.1] [--port 7443] [--data DIR | --memory] [--fault NAME ...]
//       --fault injects a TEST-ONLY fault (src/faults.ts) to prove a conformance case notices it.
//       Plaintext on loopback. In memory with signing keys generated for this run, unless --data
//       DIR keeps everything (PGlite database and signing key) in DIR across restarts.
//       Prints one JSON line on stdout: {"event":"listening","url":...,"adminToken":...}.
//   acb-hub serve --signing-key FILE [--tls-cert FILE --tls-key FILE] [--host H] [--port P] [--insecure]
//       Production mode: refuses to start without a signing key, and serves plaintext only on a
//       loopback address or with --insecure (which logs a warning). PGlite in ./acb-data unless
//       configured otherwise.
//   Storage (both): --database-url URL (PostgreSQL), --pool-size N, --data DIR (PGlite), --memory,
//       --config FILE (JSON); or ACB_DATABASE_URL, ACB_DATABASE_POOL_SIZE, ACB_DATA_DIR, ... (see
//       docs/hub.md and src/storage/backend-config.ts). --redis-url URL and --kafka-brokers
//       HOST:PORT,... with a database URL: the production preset; --preset NAME checks the choice.
//   --cors ORIGIN (repeatable): browser origins allowed to call the hub ("*" for any); dev mode
//       always allows loopback origins (pages served by a local dev server).

import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { loadOrCreateDevKeys } from "./auth/dev-key-file.js";
import { certUsage, runCertCommand } from "./cli-cert.js";
import { isHubFault } from "./faults.js";
import { createHub } from "./hub.js";
import { createJsonLogger } from "./logger.js";
import { describeStorage, openBackend, resolveStorageConfig } from "./storage/backend-config.js";

const usage = `usage:
  acb-hub dev [--host 127.0.0.1] [--port 7443] [STORAGE] [--fault NAME ...]
  acb-hub serve --signing-key FILE [--tls-cert FILE --tls-key FILE] [--host H] [--port P] [--insecure] [STORAGE]
  STORAGE: [--data DIR | --memory | --database-url URL [--pool-size N]
            [--redis-url URL --kafka-brokers HOST:PORT,...]] [--preset NAME] [--config FILE]
  ${certUsage}`;

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // A self-signed development certificate (see cli-cert.ts); serve it with --tls-cert/--tls-key.
  if (command === "cert") return runCertCommand(rest);
  const { values } = parseArgs({
    args: rest,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "7443" },
      "signing-key": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      insecure: { type: "boolean", default: false },
      "log-level": { type: "string", default: "info" },
      // Browser origins allowed to call the hub (CORS); dev mode always allows loopback origins.
      cors: { type: "string", multiple: true, default: [] },
      fault: { type: "string", multiple: true, default: [] },
      config: { type: "string" },
      data: { type: "string" },
      memory: { type: "boolean" },
      "database-url": { type: "string" },
      "pool-size": { type: "string" },
      "redis-url": { type: "string" },
      "kafka-brokers": { type: "string" },
      preset: { type: "string" },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port "${values.port}" is not a port number`);
  const level = values["log-level"];
  if (level !== "debug" && level !== "info" && level !== "warn" && level !== "error") {
    throw new Error(`--log-level must be debug, info, warn or error, not "${level}"`);
  }
  const logger = createJsonLogger({ level });
  const host = values.host;
  const storageOf = (mode: "dev" | "serve") => {
    const config = resolveStorageConfig(mode, {
      config: values.config,
      data: values.data,
      memory: values.memory,
      databaseUrl: values["database-url"],
      poolSize: values["pool-size"],
      redisUrl: values["redis-url"],
      kafkaBrokers: values["kafka-brokers"],
      preset: values.preset,
    });
    logger.log("info", "storage", describeStorage(config));
    return config;
  };

  if (command === "dev") {
    if (!isLoopback(host))
      throw new Error(`dev mode serves loopback only; "${host}" is not a loopback address`);
    const faults = values.fault.map((f) => {
      if (!isHubFault(f)) throw new Error(`unknown --fault "${f}"`);
      return f;
    });
    if (faults.length > 0) logger.log("warn", "TEST-ONLY faults injected", { faults });
    const storage = storageOf("dev");
    const backend = await openBackend(storage);
    // With a data directory the signing key lives there too, so issued tokens survive a restart.
    const keys = storage.dataDir !== undefined ? loadOrCreateDevKeys(storage.dataDir) : undefined;
    const hub = await createHub({ mode: "dev", logger, faults, backend, ...(keys && { keys }) });
    const cors = { allowedOrigins: ["loopback", ...values.cors] };
    const listener = await hub.listen({ host, port, cors });
    const adminToken = await hub.issueAdminToken();
    process.stdout.write(
      `${JSON.stringify({ event: "listening", url: listener.url, adminToken, epoch: hub.epoch })}\n`,
    );
    drainOnSignal(hub.close, logger);
    return;
  }

  if (command === "serve") {
    if (values.fault.length > 0) throw new Error("--fault is for tests only; serve refuses it");
    const keyFile = values["signing-key"];
    if (!keyFile)
      throw new Error("serve needs --signing-key FILE (a PEM Ed25519, P-256 or RSA private key)");
    const privateKey = createPrivateKey(readFileSync(keyFile));
    const algs: Record<string, string> = { ed25519: "EdDSA", ec: "ES256", rsa: "RS256" };
    const alg = algs[privateKey.asymmetricKeyType ?? ""];
    if (!alg) throw new Error(`unsupported signing key type "${privateKey.asymmetricKeyType}"`);
    const tlsCert = values["tls-cert"];
    const tlsKey = values["tls-key"];
    if ((tlsCert === undefined) !== (tlsKey === undefined))
      throw new Error("--tls-cert and --tls-key go together");
    if (!tlsCert && !isLoopback(host)) {
      if (!values.insecure) {
        throw new Error(
          `refusing plaintext on non-loopback address "${host}": give --tls-cert/--tls-key, or --insecure`,
        );
      }
      logger.log(
        "warn",
        "serving plaintext on a non-loopback address because --insecure was given",
        { host },
      );
    }
    const backend = await openBackend(storageOf("serve"));
    const hub = await createHub({
      mode: "production",
      logger,
      backend,
      keys: { privateKey, publicKey: createPublicKey(privateKey), alg },
    });
    const listener = await hub.listen({
      host,
      port,
      ...(values.cors.length > 0 && { cors: { allowedOrigins: values.cors } }),
      ...(tlsCert && tlsKey && { tls: { cert: readFileSync(tlsCert), key: readFileSync(tlsKey) } }),
    });
    process.stdout.write(
      `${JSON.stringify({ event: "listening", url: listener.url, epoch: hub.epoch })}\n`,
    );
    drainOnSignal(hub.close, logger);
    return;
  }

  throw new Error(command ? `unknown command "${command}"\n${usage}` : usage);
}

function drainOnSignal(
  close: () => Promise<void>,
  logger: ReturnType<typeof createJsonLogger>,
): void {
  const stop = (signal: string) => {
    logger.log("info", "draining", { signal });
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.log("error", "shutdown failed", { err });
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`acb-hub: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
