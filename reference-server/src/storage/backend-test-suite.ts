// The contract every storage backend must meet, as one exported vitest suite (in the manner of
// keyv's storageTestSuite). A backend's own test file calls backendTestSuite with a factory; the
// suite exercises every store of the Backend interface through its public methods only, one file
// per store under suite/.
//
// Each test works in tenants (and token hashes, families) with fresh random ids, so the suite can
// run against a shared durable backend (one PostgreSQL schema, one Redis prefix) without
// collisions, and assertions about cross-tenant queries (listExpired, nextExpiry, tenants.list)
// only look at the records the test itself wrote.

import { afterAll, beforeAll, describe } from "vitest";
import { apiKeyStoreTests } from "./suite/api-keys.js";
import { auditStoreTests } from "./suite/audit.js";
import { authStoreTests } from "./suite/auth.js";
import { backendTests } from "./suite/backend.js";
import { backlogTests } from "./suite/backlog.js";
import { blobStoreCases } from "./suite/blobs.js";
import { contextStoreTests } from "./suite/contexts.js";
import { conversationStoreTests } from "./suite/conversations.js";
import { eventLogTests } from "./suite/events.js";
import { tenantIsolationTests } from "./suite/isolation.js";
import { meetingStoreTests } from "./suite/meetings.js";
import { messageStoreTests } from "./suite/messages.js";
import { notifierTests } from "./suite/notifier.js";
import { rateLimiterTests } from "./suite/rate-limits.js";
import { registryStoreTests } from "./suite/registry.js";
import { releasedBlobStoreTests } from "./suite/released-blobs.js";
import { requestStoreTests } from "./suite/requests.js";
import { settleRetryTests } from "./suite/settle-retries.js";
import { streamSlotStoreTests } from "./suite/stream-slots.js";
import { tenantStoreTests } from "./suite/tenants.js";
import { topicStoreTests } from "./suite/topics.js";
import { uploadSessionStoreTests } from "./suite/uploads.js";
import { usageStoreTests } from "./suite/usage.js";
import type { Backend } from "./types.js";

/** Options of {@link backendTestSuite}. */
export interface BackendTestSuiteOptions {
  /**
   * The event retention the factory's backend was configured with (events kept per tenant and
   * stream). When set, the suite also checks that older events are trimmed. Default: not checked.
   */
  retainEvents?: number;
  /**
   * Opens another backend over the same stored state (a second node, or the hub after a crash),
   * for the cases that check what survives a crash or is shared between nodes. The suite closes
   * what it returns unless it is the suite's own backend. Default: the suite's backend itself
   * (right for the memory backend: a fresh hub over the same backend object).
   */
  reopen?: (backend: Backend) => Promise<Backend> | Backend;
}

/**
 * Registers the shared backend contract tests under `describe(name)`. `factory` is called once for
 * the suite; the backend it returns is closed after the last test.
 */
export function backendTestSuite(
  name: string,
  factory: () => Promise<Backend> | Backend,
  options: BackendTestSuiteOptions = {},
): void {
  describe(name, () => {
    let backend: Backend;

    beforeAll(async () => {
      backend = await factory();
    });

    afterAll(async () => {
      await backend?.close();
    });

    const get = () => backend;
    const reopen = async (): Promise<Backend> =>
      options.reopen ? options.reopen(backend) : backend;

    backendTests(get);
    tenantStoreTests(get);
    registryStoreTests(get);
    contextStoreTests(get);
    eventLogTests(get, options);
    authStoreTests(get);
    blobStoreCases(get);
    uploadSessionStoreTests(get);
    releasedBlobStoreTests(get);
    streamSlotStoreTests(get);
    meetingStoreTests(get);
    messageStoreTests(get, reopen);
    backlogTests(get);
    settleRetryTests(get);
    topicStoreTests(get);
    conversationStoreTests(get);
    requestStoreTests(get);
    apiKeyStoreTests(get);
    auditStoreTests(get);
    usageStoreTests(get);
    rateLimiterTests(get);
    notifierTests(get, reopen);
    tenantIsolationTests(get);
  });
}
