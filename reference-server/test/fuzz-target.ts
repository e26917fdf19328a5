// What the fuzz suites (fuzz, structured-fuzz) aim at: every RPC of the generated services, and a
// hub on a memory backend holding data written before the run — two registered agents, contexts,
// messages waiting — that must be as it was afterwards.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { AccessControlSchema } from "@acb/gen/acb/v1/contexts_pb";
import { Health } from "@acb/gen/grpc/health/v1/health_pb";
import type { DescFile, DescService, MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { expect } from "vitest";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import type { Backend } from "../src/storage/types.js";
import { type Agent, startTestHub, type TestHub, text, transport } from "./security-harness.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Every service of proto/acb/v1, from the generated code. */
export async function generatedServices(): Promise<DescService[]> {
  const dir = join(repoRoot, "gen/src/acb/v1");
  const services: DescService[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith("_pb.ts"))) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      if (name.startsWith("file_acb_v1_")) services.push(...(value as DescFile).services);
    }
  }
  return services;
}

export interface FuzzTarget {
  t: TestHub;
  /** The hub's backend, to read what it holds without going through the hub. */
  backend: Backend;
  tenantId: string;
  /** Registered, with the contexts `keep-0`, `keep-1`, …; `victim` is registered too. */
  owner: Agent;
}

export interface FuzzSeed {
  /** Contexts `keep-<i>` the owner creates, each holding "value <i>". */
  contexts: number;
  /** Messages the owner sends to victim, left waiting. */
  messages: number;
  /** Access of the contexts. Default: the hub's default. */
  access?: MessageInitShape<typeof AccessControlSchema>;
}

/** A hub on a fresh memory backend, with a tenant whose owner and victim hold `seed`'s data. */
export async function startFuzzTarget(seed: FuzzSeed): Promise<FuzzTarget> {
  const backend = createMemoryBackend();
  const t = await startTestHub({ backend });
  const tenantId = await t.newTenant();
  const owner = await t.agentIn(tenantId, "owner");
  const victim = await t.agentIn(tenantId, "victim");
  await owner.registry.register({ agentId: "owner", type: "svc" });
  await victim.registry.register({ agentId: "victim", type: "svc" });
  for (let i = 0; i < seed.contexts; i++) {
    await owner.contexts.createContext({
      contextId: `keep-${i}`,
      type: "note",
      payload: { contentType: "text/plain", data: text(`value ${i}`) },
      ...(seed.access && { access: seed.access }),
    });
  }
  for (let i = 0; i < seed.messages; i++) {
    await owner.messaging.send({ target: { case: "recipientId", value: "victim" }, kind: "keep" });
  }
  return { t, backend, tenantId, owner };
}

/** The hub answers SERVING and the seed's contexts are as they were written. */
export async function expectHubUpWithContexts(target: FuzzTarget, contexts: number): Promise<void> {
  const health = createClient(Health, transport(target.t.url));
  expect((await health.check({})).status).toBe(1);
  for (let i = 0; i < contexts; i++) {
    const got = await target.owner.contexts.getContext({ contextId: `keep-${i}` });
    expect(got.context?.revision).toBe(1n);
    expect(new TextDecoder().decode(got.context?.payload?.data)).toBe(`value ${i}`);
  }
}
