import { afterAll, it } from "vitest";
import { backendTestSuite } from "../backend-test-suite.js";
import { createPostgresBackend, type PostgresBackendOptions } from "./postgres-backend.js";
import { createTestSchema, testPostgresUrl } from "./postgres-test-db.js";

const url = testPostgresUrl();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

/**
 * The suite on a schema of its own; `reopen` opens a second backend on the same schema (another
 * node, or the hub after a crash).
 */
function suiteOn(
  base: string,
  name: string,
  extra: Partial<PostgresBackendOptions>,
  retain?: number,
) {
  let options: PostgresBackendOptions | undefined;
  backendTestSuite(
    name,
    async () => {
      const { schema, role, drop } = await createTestSchema(base);
      drops.push(drop);
      options = { url: base, schema, role, poolSize: 4, pollIntervalMs: 200, ...extra };
      return createPostgresBackend(options);
    },
    {
      ...(retain !== undefined && { retainEvents: retain }),
      reopen: () => createPostgresBackend({ ...(options as PostgresBackendOptions), poolSize: 2 }),
    },
  );
}

if (url) {
  suiteOn(url, "postgres backend", {});
  // A small retention, so the suite can check that old events are deleted.
  suiteOn(url, "postgres backend with retainEvents 8", { events: { retainEvents: 8 } }, 8);
} else {
  it.skip("postgres backend (ACB_TEST_POSTGRES_URL is not set)", () => {});
}
