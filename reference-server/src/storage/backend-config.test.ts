import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { describeStorage, resolveStorageConfig } from "./backend-config.js";

const dir = mkdtempSync(join(tmpdir(), "acb-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("resolveStorageConfig", () => {
  it("defaults to memory for dev and to PGlite in ./acb-data for serve", () => {
    expect(resolveStorageConfig("dev", {}, {})).toEqual({ backend: "memory" });
    expect(resolveStorageConfig("serve", {}, {})).toEqual({
      backend: "pglite",
      dataDir: resolve("acb-data"),
    });
  });

  it("uses PGlite in --data DIR, and PostgreSQL when a database URL is given", () => {
    expect(resolveStorageConfig("dev", { data: "d" }, {})).toEqual({
      backend: "pglite",
      dataDir: resolve("d"),
    });
    expect(
      resolveStorageConfig(
        "serve",
        {},
        {
          ACB_DATABASE_URL: "postgres://hub@db:5432/acb",
          ACB_DATABASE_POOL_SIZE: "25",
          ACB_DATABASE_SCHEMA: "hub",
          ACB_DATABASE_ROLE: "acb_hub",
        },
      ),
    ).toEqual({
      backend: "postgres",
      databaseUrl: "postgres://hub@db:5432/acb",
      poolSize: 25,
      schema: "hub",
      role: "acb_hub",
    });
  });

  it("lets flags win over the environment, and the environment over the file", () => {
    const file = join(dir, "hub.json");
    writeFileSync(
      file,
      JSON.stringify({ database: { url: "postgres://file/db", poolSize: 3 }, dataDir: "x" }),
    );
    expect(resolveStorageConfig("serve", { config: file }, {})).toMatchObject({
      backend: "postgres",
      databaseUrl: "postgres://file/db",
      poolSize: 3,
    });
    expect(
      resolveStorageConfig(
        "serve",
        {},
        { ACB_CONFIG: file, ACB_DATABASE_URL: "postgres://env/db" },
      ),
    ).toMatchObject({ databaseUrl: "postgres://env/db", poolSize: 3 });
    expect(
      resolveStorageConfig(
        "serve",
        { config: file, databaseUrl: "postgres://flag/db", poolSize: "7" },
        { ACB_DATABASE_URL: "postgres://env/db" },
      ),
    ).toMatchObject({ databaseUrl: "postgres://flag/db", poolSize: 7 });
    expect(resolveStorageConfig("serve", { config: file, memory: true }, {})).toMatchObject({
      backend: "memory",
    });
  });

  it("refuses contradictory or malformed settings with a precise message", () => {
    expect(() => resolveStorageConfig("dev", { memory: true, data: "d" }, {})).toThrow(
      "--memory keeps nothing: it cannot go with --data or --database-url",
    );
    expect(() =>
      resolveStorageConfig("dev", { poolSize: "0", databaseUrl: "postgres://h/d" }, {}),
    ).toThrow('the pool size must be a positive integer, not "0"');
    expect(() => resolveStorageConfig("dev", { databaseUrl: "mysql://h/d" }, {})).toThrow(
      "the database URL must start with postgres:// or postgresql://",
    );
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "[1]");
    expect(() => resolveStorageConfig("dev", { config: bad }, {})).toThrow(
      `the configuration file "${bad}" must hold a JSON object`,
    );
    expect(() => resolveStorageConfig("dev", { config: join(dir, "missing.json") }, {})).toThrow(
      /cannot read the configuration file/,
    );
  });

  it("never logs a database password", () => {
    const config = resolveStorageConfig(
      "serve",
      { databaseUrl: "postgres://hub:s3cret@db/acb" },
      {},
    );
    expect(JSON.stringify(describeStorage(config))).not.toContain("s3cret");
    expect(describeStorage(config)).toMatchObject({ backend: "postgres", durable: true });
  });
});
