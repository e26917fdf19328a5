export { type Clock, ManualClock, systemClock, type Timer } from "./clock.js";
export { type HubFault, hubFaults, isHubFault } from "./faults.js";
export { createHub, defaultLimits, type Hub, type HubOptions } from "./hub.js";
export { createJsonLogger, type Logger, type LogLevel, silentLogger } from "./logger.js";
export type { CorsOptions } from "./server/cors.js";
export type { Listener, ListenOptions } from "./server/listener.js";
export { createFsBlobStore, type FsBlobStoreOptions } from "./storage/fs/fs-blob-store.js";
export { createMemoryBackend, type MemoryBackendOptions } from "./storage/memory/memory-backend.js";
export {
  createPgliteBackend,
  createPostgresBackend,
  type PgliteBackendOptions,
  type PostgresBackendOptions,
} from "./storage/postgres/postgres-backend.js";
export type * from "./storage/types.js";
