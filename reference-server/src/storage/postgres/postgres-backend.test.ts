import { afterAll, it } from "vitest";
import { backendTestSuite } from "../backend-test-suite.js";
import { createPostgresBackend } from "./postgres-backend.js";
import { createTestSchema, testPostgresUrl } from "./postgres-test-db.js";

const url = testPostgresUrl();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

if (url) {
  backendTestSuite("postgres backend", async () => {
    const { schema, role, drop } = await createTestSchema(url);
    drops.push(drop);
    return createPostgresBackend({ url, schema, role, poolSize: 4, pollIntervalMs: 200 });
  });
} else {
  it.skip("postgres backend (ACB_TEST_POSTGRES_URL is not set)", () => {});
}

// A small retention, so the suite can check that old events are deleted.
if (url) {
  backendTestSuite(
    "postgres backend with retainEvents 8",
    async () => {
      const { schema, role, drop } = await createTestSchema(url);
      drops.push(drop);
      return createPostgresBackend({ url, schema, role, poolSize: 2, events: { retainEvents: 8 } });
    },
    { retainEvents: 8 },
  );
}
