// A PostgreSQL schema of its own for one test run, from ACB_TEST_POSTGRES_URL. Without the
// variable the tests skip with a visible message, except under ACB_REQUIRE_SERVICES=1 (CI), where
// a missing database fails the run instead of silently testing less.

import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import pg from "pg";

/** The URL of the test database, or undefined (after saying why) when the tests should skip. */
export function testPostgresUrl(): string | undefined {
  const url = process.env.ACB_TEST_POSTGRES_URL;
  if (url) return url;
  const message = "ACB_TEST_POSTGRES_URL is not set: skipping the PostgreSQL tests";
  if (process.env.ACB_REQUIRE_SERVICES === "1") {
    throw new Error(`${message} is not allowed with ACB_REQUIRE_SERVICES=1`);
  }
  console.warn(message);
  return undefined;
}

/** A fresh schema and a role for it (non-owner, so row-level security applies); drop() removes both. */
export async function createTestSchema(url: string): Promise<{
  schema: string;
  role: string;
  drop(): Promise<void>;
}> {
  const id = randomUUID().replaceAll("-", "").slice(0, 16);
  const schema = `acb_test_${id}`;
  const role = `acb_test_hub_${id}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE ROLE ${role} NOLOGIN`);
  } finally {
    await admin.end();
  }
  return {
    schema,
    role,
    async drop() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.query(`DROP ROLE ${role}`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A TCP relay to PostgreSQL that a test can cut: while down it accepts and drops connections. */
export async function startRelay(target: URL) {
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const via = new URL(target.toString());
  via.hostname = "127.0.0.1";
  via.port = String(port);
  return {
    url: via.toString(),
    server,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      down = false;
    },
    async close() {
      this.cut();
      server.close();
      await once(server, "close");
    },
  };
}
