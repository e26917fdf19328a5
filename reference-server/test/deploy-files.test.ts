// The deployment files in deploy/ (Dockerfile, compose stack, HAProxy, Kubernetes) cannot run on a
// machine without a container engine or a cluster, so this test keeps them true to the hub: every
// YAML parses, every ACB_* variable is one the hub reads, every acb-hub invocation parses with the
// hub's own option table and its storage settings amount to the production preset, probes and
// health checks ask the hub's real paths on its metrics port, the drain fits in the grace period,
// the image runs the real bin, and the compose nodes share one PostgreSQL, Redis and Kafka.
// The last cases change a file's text and check that the checks notice.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { type CommandName, isCommand, parseCommand } from "../src/cli-commands.js";
import { opsPaths } from "../src/observability/ops-endpoints.js";
import { resolveStorageConfig } from "../src/storage/backend-config.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const read = (path: string) => readFileSync(join(root, path), "utf8");
const deploy = "deploy";
const k8s = "deploy/kubernetes";

// --- reading the files ---------------------------------------------------------------------

type Yaml = Record<string, unknown>;
const obj = (v: unknown): Yaml => (v !== null && typeof v === "object" ? (v as Yaml) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Every document of a YAML text; a syntax error, a duplicate key or a warning throws. */
function yamlDocuments(text: string, name: string): Yaml[] {
  return parseAllDocuments(text, { merge: true, uniqueKeys: true }).map((doc) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0)
      throw new Error(`${name}: ${problems.map((p) => p.message).join("; ")}`);
    return obj(doc.toJS({ maxAliasCount: 100 }));
  });
}

/** The instructions of a Dockerfile: continuation lines joined, comments dropped. */
function dockerInstructions(text: string): { op: string; args: string }[] {
  return text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [op = "", ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

/** The exec form (a JSON array) of CMD, ENTRYPOINT or HEALTHCHECK … CMD. */
function execForm(args: string): string[] {
  const json = args.slice(args.indexOf("["));
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === "string"))
    throw new Error(`not an exec-form array: ${args}`);
  return parsed;
}

/** The value of `--name` among acb-hub arguments. */
function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** What an acb-hub invocation gets wrong: an unknown command or option, a bad port or duration. */
function hubInvocationProblems(args: string[], where: string): string[] {
  const [command, ...rest] = args;
  if (command === undefined || !isCommand(command))
    return [`${where}: acb-hub has no command "${command}"`];
  try {
    parseCommand(command as CommandName, rest);
  } catch (err) {
    return [`${where}: acb-hub ${command}: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  for (const name of ["port", "metrics-port"]) {
    const value = flag(rest, name);
    if (value !== undefined && !(/^\d+$/.test(value) && Number(value) <= 65535))
      problems.push(`${where}: --${name} "${value}" is not a port`);
  }
  const drain = flag(rest, "drain-timeout");
  if (drain !== undefined && !/^\d+$/.test(drain))
    problems.push(`${where}: --drain-timeout "${drain}" is not milliseconds`);
  return problems;
}

/** The storage an invocation with this environment configures, or the hub's refusal. */
function storageOf(args: string[], env: Record<string, string>) {
  const values = parseCommand("serve", args.slice(1));
  if (values === undefined) throw new Error("the arguments ask for the help");
  return resolveStorageConfig(
    "serve",
    {
      config: values.config,
      data: values.data,
      memory: values.memory,
      databaseUrl: values["database-url"],
      poolSize: values["pool-size"],
      redisUrl: values["redis-url"],
      kafkaBrokers: values["kafka-brokers"],
      preset: values.preset,
    },
    env,
  );
}

/** The ACB_* variables the hub reads: `env.ACB_X` or `env["ACB_X"]` in its non-test sources. */
function variablesTheHubReads(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".ts") && !e.name.includes("test"))
        for (const m of read(path).matchAll(/\benv(?:\.|\[")(ACB_[A-Z0-9_]+)/g))
          names.add(m[1] ?? "");
    }
  };
  walk("reference-server/src");
  return names;
}

/** The ACB_* names a deployment file mentions. */
const variablesIn = (text: string) => new Set(text.match(/\bACB_[A-Z0-9_]+\b/g) ?? []);

/** The files under deploy/ this test reads (the Grafana dashboard is JSON, checked elsewhere). */
function deployFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== "grafana") walk(path);
      } else out.push(path);
    }
  };
  walk(deploy);
  return out.sort();
}

// --- the checks, each returning its problems (so the last cases can show they find some) ----

interface Texts {
  dockerfile: string;
  compose: string;
  haproxy: string;
  kubernetes: Record<string, string>;
}

const texts = (): Texts => ({
  dockerfile: read(`${deploy}/Dockerfile`),
  compose: read(`${deploy}/compose.yaml`),
  haproxy: read(`${deploy}/compose/haproxy.cfg`),
  kubernetes: Object.fromEntries(
    readdirSync(join(root, k8s))
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => [f, read(`${k8s}/${f}`)]),
  ),
});

function checkVariables(t: Texts): string[] {
  const known = variablesTheHubReads();
  const all = [t.dockerfile, t.compose, t.haproxy, ...Object.values(t.kubernetes)];
  return [...new Set(all.flatMap((text) => [...variablesIn(text)]))]
    .filter((name) => !known.has(name))
    .map((name) => `${name} is not a variable the hub reads`);
}

function dockerfileFacts(text: string) {
  const ins = dockerInstructions(text);
  const last = (op: string) => ins.filter((i) => i.op === op).at(-1)?.args ?? "";
  const cmd = execForm(last("CMD"));
  const entrypoint = execForm(last("ENTRYPOINT"));
  const healthcheck = execForm(last("HEALTHCHECK"));
  return { ins, cmd, entrypoint, healthcheck };
}

function checkDockerfile(text: string): string[] {
  const problems: string[] = [];
  const { ins, cmd, entrypoint, healthcheck } = dockerfileFacts(text);
  const from = ins.filter((i) => i.op === "FROM").map((i) => i.args.split(/\s+/));
  if (from.length < 2) problems.push("the Dockerfile is not multi-stage");
  const stages = from.map((f) => (f[1]?.toUpperCase() === "AS" ? f[2] : undefined));
  for (const [image = ""] of from)
    if (!/^node:24[.-]/.test(image) && !stages.includes(image))
      problems.push(`stage image ${image} is neither Node 24 nor an earlier stage`);
  // The entrypoint is acb-hub, linked to the bin that reference-server/package.json declares.
  const bin = (JSON.parse(read("reference-server/package.json")) as { bin: Record<string, string> })
    .bin["acb-hub"];
  const binPath = join("/app/reference-server", bin ?? "").replaceAll("\\", "/");
  if (entrypoint.join(" ") !== "acb-hub") problems.push(`ENTRYPOINT is ${entrypoint.join(" ")}`);
  if (
    !ins.some((i) => i.op === "RUN" && i.args.includes(`ln -s ${binPath} /usr/local/bin/acb-hub`))
  )
    problems.push(`acb-hub is not linked to ${binPath}`);
  const user = ins.filter((i) => i.op === "USER").at(-1)?.args;
  if (user === undefined || user === "root" || user === "0")
    problems.push("the image runs as root");
  // The default command parses, and the health check asks /healthz on its metrics port.
  problems.push(...hubInvocationProblems(cmd, "Dockerfile CMD"));
  const metricsPort = flag(cmd, "metrics-port");
  const url = /https?:\/\/[^'"\s)]+/.exec(healthcheck.join(" "))?.[0] ?? "";
  if (url !== `http://127.0.0.1:${metricsPort}/healthz`)
    problems.push(`HEALTHCHECK asks ${url}, not /healthz on --metrics-port ${metricsPort}`);
  const exposed = ins.filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/));
  for (const port of [flag(cmd, "port"), metricsPort])
    if (!exposed.includes(port ?? "")) problems.push(`port ${port} is not EXPOSEd`);
  // The build stage copies every workspace's package.json before npm ci (which needs them all).
  const copies = ins.filter((i) => i.op === "COPY").map((i) => i.args);
  const rootPkg = JSON.parse(read("package.json")) as { workspaces: string[] };
  const workspaces = rootPkg.workspaces.flatMap((w) =>
    w.endsWith("/*")
      ? readdirSync(join(root, w.slice(0, -2))).map((d) => `${w.slice(0, -2)}/${d}`)
      : [w],
  );
  for (const w of workspaces.filter((w) => existsSync(join(root, w, "package.json"))))
    if (!copies.some((c) => c.startsWith(`${w}/package.json `)))
      problems.push(`the build stage does not copy ${w}/package.json before npm ci`);
  // The runtime's node_modules come from a stage that installed the hub's production
  // dependencies only.
  const runsOf = new Map<string, string[]>();
  let stage = "";
  for (const i of ins) {
    if (i.op === "FROM") stage = /\bAS\s+(\S+)/i.exec(i.args)?.[1] ?? "";
    else if (i.op === "RUN") runsOf.set(stage, [...(runsOf.get(stage) ?? []), i.args]);
  }
  const modulesFrom = /^--from=(\S+) \S+ \.\/node_modules$/m.exec(copies.join("\n"))?.[1] ?? "";
  const install = (runsOf.get(modulesFrom) ?? []).join(" ");
  if (!/npm ci .*--omit=dev/.test(install) || !/--workspace reference-server\b/.test(install))
    problems.push("the runtime's node_modules are not the hub's production dependencies");
  // The runtime stage has the hub and every workspace package it depends on, built.
  const hubPkg = JSON.parse(read("reference-server/package.json")) as {
    dependencies: Record<string, string>;
  };
  const dirOf = new Map(
    workspaces
      .filter((w) => existsSync(join(root, w, "package.json")))
      .map((w) => [(JSON.parse(read(`${w}/package.json`)) as { name: string }).name, w]),
  );
  const ours = Object.keys(hubPkg.dependencies).filter((d) => dirOf.has(d));
  for (const dir of ["reference-server", ...ours.map((d) => dirOf.get(d) ?? d)])
    for (const part of ["package.json", "dist"])
      if (!copies.some((c) => c.startsWith(`--from=build /src/${dir}/${part} `)))
        problems.push(`the runtime stage does not copy ${dir}/${part}`);
  return problems;
}

interface ComposeService {
  image?: string;
  command?: unknown;
  entrypoint?: unknown;
  environment?: Record<string, unknown>;
  depends_on?: Record<string, { condition?: string }>;
  stop_grace_period?: string;
  volumes?: string[];
}

const hubNodes = ["hub-1", "hub-2", "hub-3"];

function checkCompose(text: string, haproxy: string): string[] {
  const problems: string[] = [];
  const [doc] = yamlDocuments(text, "compose.yaml");
  const services = obj(doc?.["services"]) as Record<string, ComposeService>;
  const env = (s: ComposeService) =>
    Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
  const nodes = hubNodes.map((n) => services[n]);
  if (nodes.some((n) => n === undefined)) return [`compose has no services ${hubNodes.join(", ")}`];
  const shared = ["ACB_DATABASE_URL", "ACB_REDIS_URL", "ACB_KAFKA_BROKERS"];
  for (const name of shared) {
    const values = new Set(nodes.map((n) => env(n ?? {})[name]));
    if (values.size !== 1 || values.has(undefined))
      problems.push(`the hub nodes do not share one ${name}: ${[...values].join(", ")}`);
  }
  const grace = (s: string | undefined) => {
    const m = /^(\d+)s$/.exec(s ?? "");
    return m ? Number(m[1]) * 1000 : 0;
  };
  // keygen runs `acb-hub keygen` in a shell, unless the key is there already.
  const keygen = services["keygen"];
  const script = arr(keygen?.command).map(String).join(" ");
  const keygenArgs = /acb-hub (\S+(?: (?!\|\||&&)\S+)*)/.exec(script)?.[1]?.split(" ") ?? [];
  problems.push(...hubInvocationProblems(keygenArgs, "compose keygen"));
  if (keygenArgs[0] !== "keygen") problems.push("compose keygen does not run acb-hub keygen");
  for (const [i, node] of nodes.entries()) {
    const name = hubNodes[i] ?? "";
    const args = arr(node?.command).map(String);
    problems.push(...hubInvocationProblems(args, `compose ${name}`));
    // Its storage is the production preset on the stack's own services.
    try {
      const config = storageOf(args, env(node ?? {}));
      if (config.backend !== "production")
        problems.push(`compose ${name} runs the ${config.backend} preset, not production`);
      const hosts = [
        new URL(config.databaseUrl ?? "").hostname,
        new URL(config.redisUrl ?? "").hostname,
        ...(config.kafkaBrokers ?? []).map((b) => b.split(":")[0] ?? ""),
      ];
      for (const host of hosts) {
        if (!services[host]) problems.push(`compose ${name} uses ${host}, not a service of it`);
        else if (node?.depends_on?.[host]?.condition !== "service_healthy")
          problems.push(`compose ${name} does not wait for ${host} to be healthy`);
      }
    } catch (err) {
      problems.push(`compose ${name}: the hub refuses its storage: ${(err as Error).message}`);
    }
    const drain = Number(flag(args, "drain-timeout") ?? 10000);
    if (grace(node?.stop_grace_period) <= drain)
      problems.push(`compose ${name}: stop_grace_period does not exceed --drain-timeout ${drain}`);
    // The signing key it reads is the one keygen writes, on a shared volume.
    const key = flag(args, "signing-key") ?? "";
    if (flag(keygenArgs, "out") !== key) problems.push(`compose keygen does not write ${key}`);
    const keyDir = key.slice(0, key.lastIndexOf("/"));
    const volumeOf = (s: ComposeService | undefined) =>
      (s?.volumes ?? []).find((v) => v.split(":")[1] === keyDir)?.split(":")[0];
    if (volumeOf(node) === undefined || volumeOf(node) !== volumeOf(keygen))
      problems.push(`compose ${name} and keygen do not share the volume at ${keyDir}`);
  }
  // Kafka: the version the tests run (scripts/services/kafka-pom.xml), in KRaft mode, advertising
  // the address the hubs are given.
  const kafka = services["kafka"];
  const pomVersion = /<artifactId>kafka_2\.13<\/artifactId>\s*<version>([^<]+)</.exec(
    read("scripts/services/kafka-pom.xml"),
  )?.[1];
  if (kafka?.image !== `apache/kafka:${pomVersion}`)
    problems.push(`compose kafka is ${kafka?.image}, the tests run Kafka ${pomVersion}`);
  const kenv = env(kafka ?? {});
  if (kenv["KAFKA_PROCESS_ROLES"] !== "broker,controller")
    problems.push("compose kafka is not a KRaft broker and controller");
  const brokers = env(nodes[0] ?? {})["ACB_KAFKA_BROKERS"] ?? "";
  if (kenv["KAFKA_ADVERTISED_LISTENERS"] !== `PLAINTEXT://${brokers}`)
    problems.push(`compose kafka advertises ${kenv["KAFKA_ADVERTISED_LISTENERS"]}, not ${brokers}`);
  // HAProxy sends calls to exactly the three nodes on their RPC port, and checks /readyz on
  // their metrics port.
  const args0 = arr(nodes[0]?.command).map(String);
  const servers = [...haproxy.matchAll(/^\s*server\s+\S+\s+(\S+)/gm)].map((m) => m[1]);
  const expected = hubNodes.map((n) => `${n}:${flag(args0, "port")}`);
  if (servers.join(" ") !== expected.join(" "))
    problems.push(`haproxy.cfg sends calls to ${servers.join(", ")}, not ${expected.join(", ")}`);
  if (!/http-check send meth GET uri \/readyz\b/.test(haproxy))
    problems.push("haproxy.cfg does not check /readyz");
  if (
    !new RegExp(`http-check connect port ${flag(args0, "metrics-port")} proto h1\n`).test(haproxy)
  )
    problems.push("haproxy.cfg does not check the nodes' --metrics-port");
  if (!/default-server .*\bproto h2\b/.test(haproxy))
    problems.push("haproxy.cfg does not speak HTTP/2 to the nodes (gRPC needs it)");
  const lb = obj(services["lb"]);
  if (!arr(lb["volumes"]).some((v) => String(v).startsWith("./compose/haproxy.cfg:")))
    problems.push("compose lb does not mount compose/haproxy.cfg");
  return problems;
}

/** The Kubernetes API's schema of each kind the manifests use (kubernetes-models). */
const kubernetesSchemas: Record<string, (doc: Yaml) => { validate(): void }> = {
  Deployment: (doc) => new Deployment(doc as never),
  Service: (doc) => new Service(doc as never),
  ConfigMap: (doc) => new ConfigMap(doc as never),
  Secret: (doc) => new Secret(doc as never),
  PodDisruptionBudget: (doc) => new PodDisruptionBudget(doc as never),
};

function checkKubernetes(files: Record<string, string>): string[] {
  const problems: string[] = [];
  const docs = Object.entries(files).flatMap(([name, text]) =>
    yamlDocuments(text, name).map((d) => ({ name, doc: d })),
  );
  // Each object is valid by the API's schema (types, required fields, enums).
  for (const { name, doc } of docs) {
    const kind = String(doc["kind"]);
    if (kind === "Kustomization") continue;
    const model = kubernetesSchemas[kind];
    if (model === undefined) {
      problems.push(`${name}: no schema for kind ${kind}`);
      continue;
    }
    try {
      model(doc).validate();
    } catch (err) {
      problems.push(`${name}: ${kind} is invalid: ${(err as Error).message}`);
    }
  }
  const ofKind = (kind: string) => docs.filter((d) => d.doc["kind"] === kind).map((d) => d.doc);
  const [deployment] = ofKind("Deployment");
  const spec = obj(deployment?.["spec"]);
  const podSpec = obj(obj(spec["template"])["spec"]);
  const podMeta = obj(obj(spec["template"])["metadata"]);
  const container = obj(arr(podSpec["containers"])[0]);
  const args = arr(container["args"]).map(String);
  if (spec["replicas"] !== 3) problems.push(`the Deployment has ${spec["replicas"]} replicas`);
  problems.push(...hubInvocationProblems(args, "Deployment args"));
  // Named ports match the hub's --port and --metrics-port.
  const ports = new Map(
    arr(container["ports"]).map((p) => [String(obj(p)["name"]), String(obj(p)["containerPort"])]),
  );
  if (ports.get("rpc") !== flag(args, "port"))
    problems.push(`containerPort rpc ${ports.get("rpc")} is not --port ${flag(args, "port")}`);
  const metricsPort = flag(args, "metrics-port");
  if (ports.get("metrics") !== metricsPort)
    problems.push(`containerPort metrics ${ports.get("metrics")} is not --metrics-port`);
  // Probes: the hub's own paths, on the metrics port.
  const probes: [string, string][] = [
    ["livenessProbe", "/healthz"],
    ["readinessProbe", "/readyz"],
    ["startupProbe", "/healthz"],
  ];
  for (const [probe, path] of probes) {
    const get = obj(obj(container[probe])["httpGet"]);
    if (!opsPaths.includes(path as (typeof opsPaths)[number]))
      problems.push(`the hub serves no ${path}`);
    if (get["path"] !== path || get["port"] !== "metrics")
      problems.push(`${probe} asks ${get["path"]} on ${get["port"]}, not ${path} on metrics`);
  }
  const annotations = obj(podMeta["annotations"]);
  if (
    annotations["prometheus.io/port"] !== metricsPort ||
    annotations["prometheus.io/path"] !== "/metrics"
  )
    problems.push("the pod's prometheus.io annotations do not name /metrics on --metrics-port");
  // The drain (after preStop) ends before the kubelet kills.
  const preStop = arr(obj(obj(obj(container["lifecycle"])["preStop"])["exec"])["command"]);
  const sleepMs = preStop[0] === "sleep" ? Number(preStop[1]) * 1000 : 0;
  const drainMs = Number(flag(args, "drain-timeout") ?? 10000);
  const graceMs = Number(podSpec["terminationGracePeriodSeconds"] ?? 30) * 1000;
  if (sleepMs + drainMs >= graceMs)
    problems.push(
      `preStop ${sleepMs} ms + --drain-timeout ${drainMs} ms >= the grace ${graceMs} ms`,
    );
  // Storage from the ConfigMap and Secret is the production preset.
  const [configMap] = ofKind("ConfigMap");
  const secrets = ofKind("Secret");
  const secretValue = (name: string, key: string) =>
    obj(secrets.find((s) => obj(s["metadata"])["name"] === name)?.["stringData"])[key];
  const env: Record<string, string> = {};
  for (const from of arr(container["envFrom"])) {
    const ref = obj(obj(from)["configMapRef"])["name"];
    if (ref !== obj(configMap?.["metadata"])["name"])
      problems.push(`envFrom names the ConfigMap ${ref}, which is not in ${k8s}`);
    for (const [k, v] of Object.entries(obj(configMap?.["data"]))) env[k] = String(v);
  }
  for (const e of arr(container["env"])) {
    const ref = obj(obj(obj(e)["valueFrom"])["secretKeyRef"]);
    const value = secretValue(String(ref["name"]), String(ref["key"]));
    if (value === undefined)
      problems.push(
        `env ${obj(e)["name"]} reads ${ref["name"]}/${ref["key"]}, not in secret.example.yaml`,
      );
    env[String(obj(e)["name"])] = String(value ?? obj(e)["value"]);
  }
  try {
    const config = storageOf(args, env);
    if (config.backend !== "production")
      problems.push(`the Deployment runs the ${config.backend} preset, not production`);
  } catch (err) {
    problems.push(`the hub refuses the Deployment's storage: ${(err as Error).message}`);
  }
  // Files the hub reads come from mounted Secrets that hold them.
  const mounts = arr(container["volumeMounts"]).map(obj);
  const volumes = arr(podSpec["volumes"]).map(obj);
  for (const option of ["signing-key", "tls-cert", "tls-key"]) {
    const file = flag(args, option);
    if (file === undefined) continue;
    const mount = mounts.find((m) => file.startsWith(`${m["mountPath"]}/`));
    const volume = volumes.find((v) => v["name"] === mount?.["name"]);
    const secret = obj(volume?.["secret"]);
    const key = file.slice(String(mount?.["mountPath"]).length + 1);
    if (secretValue(String(secret["secretName"]), key) === undefined)
      problems.push(`--${option} ${file} is not a key of a mounted Secret in secret.example.yaml`);
  }
  // The Service and the PodDisruptionBudget select the Deployment's pods.
  const podLabels = obj(podMeta["labels"]);
  const selects = (selector: unknown) =>
    Object.entries(obj(selector)).every(([k, v]) => podLabels[k] === v) &&
    Object.keys(obj(selector)).length > 0;
  const [service] = ofKind("Service");
  if (!selects(obj(service?.["spec"])["selector"])) problems.push("the Service selects no hub pod");
  for (const p of arr(obj(service?.["spec"])["ports"]))
    if (!ports.has(String(obj(p)["targetPort"])))
      problems.push(
        `the Service targets port ${obj(p)["targetPort"]}, which the pod does not name`,
      );
  const [pdb] = ofKind("PodDisruptionBudget");
  if (!selects(obj(obj(pdb?.["spec"])["selector"])["matchLabels"]))
    problems.push("the PodDisruptionBudget selects no hub pod");
  if (!selects(obj(spec["selector"])["matchLabels"]))
    problems.push("the Deployment's selector does not match its pods");
  // The kustomization lists every manifest but the Secret example.
  const kustomization = docs.find((d) => d.name === "kustomization.yaml")?.doc;
  const listed = arr(kustomization?.["resources"]).map(String).sort();
  const manifests = Object.keys(files)
    .filter((f) => f !== "kustomization.yaml" && f !== "secret.example.yaml")
    .sort();
  if (listed.join(" ") !== manifests.join(" "))
    problems.push(`kustomization.yaml lists ${listed.join(", ")}, not ${manifests.join(", ")}`);
  return problems;
}

// --- the cases -------------------------------------------------------------------------------

describe("deploy/", () => {
  it("has the image, the compose stack and the Kubernetes manifests, and every YAML parses", () => {
    const files = deployFiles();
    expect(files).toEqual(
      expect.arrayContaining([
        "deploy/Dockerfile",
        "deploy/compose.yaml",
        "deploy/compose/haproxy.cfg",
        "deploy/kubernetes/deployment.yaml",
        "deploy/kubernetes/pdb.yaml",
      ]),
    );
    const yamls = files.filter((f) => /\.ya?ml$/.test(f));
    expect(yamls.length).toBeGreaterThanOrEqual(7);
    for (const f of yamls) expect(yamlDocuments(read(f), f).length).toBeGreaterThan(0);
    expect(existsSync(join(root, ".dockerignore"))).toBe(true);
  });

  it("uses only ACB_* variables the hub reads", () => {
    const known = variablesTheHubReads();
    expect([...known]).toEqual(
      expect.arrayContaining(["ACB_DATABASE_URL", "ACB_REDIS_URL", "ACB_KAFKA_BROKERS"]),
    );
    expect(checkVariables(texts())).toEqual([]);
  });

  it("builds a Node 24 image that runs the real acb-hub bin as a non-root user", () => {
    expect(checkDockerfile(texts().dockerfile)).toEqual([]);
  });

  it("runs three compose nodes on one PostgreSQL, Redis and Kafka behind HAProxy", () => {
    const t = texts();
    expect(checkCompose(t.compose, t.haproxy)).toEqual([]);
  });

  it("HAProxy accepts its configuration", (ctx) => {
    const haproxy = spawnSync("haproxy", ["-c", "-f", join(root, deploy, "compose/haproxy.cfg")], {
      encoding: "utf8",
    });
    if (haproxy.error) return ctx.skip("haproxy is not installed (Debian's haproxy package)");
    expect(haproxy.stdout + haproxy.stderr).toContain("Configuration file is valid");
    expect(haproxy.status).toBe(0);
  });

  it("runs a Kubernetes Deployment whose probes, ports, drain and secrets match the hub", () => {
    expect(checkKubernetes(texts().kubernetes)).toEqual([]);
  });

  it("kubectl builds the kustomization", (ctx) => {
    const kubectl = spawnSync("kubectl", ["kustomize", join(root, k8s)], { encoding: "utf8" });
    if (kubectl.error) return ctx.skip("kubectl is not installed");
    expect(kubectl.stderr).toBe("");
    expect(kubectl.status).toBe(0);
    const kinds = yamlDocuments(kubectl.stdout, "kustomize output").map((d) => d["kind"]);
    expect(kinds.sort()).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]);
  });

  describe("the checks notice a file that drifted from the hub", () => {
    const t = texts();
    const edit = (text: string, from: string | RegExp, to: string) => {
      const changed = text.replace(from, to);
      expect(changed).not.toBe(text);
      return changed;
    };

    it("a renamed variable", () => {
      const compose = edit(t.compose, /ACB_KAFKA_BROKERS/g, "ACB_KAFKA_BROKER");
      expect(checkVariables({ ...t, compose }).join("\n")).toContain("ACB_KAFKA_BROKER is not");
      expect(checkCompose(compose, t.haproxy).join("\n")).toMatch(/refuses its storage/);
    });

    it("an option acb-hub does not have, and a probe on the wrong path or port", () => {
      const dockerfile = edit(t.dockerfile, '"--drain-timeout"', '"--drain-deadline"');
      expect(checkDockerfile(dockerfile).join("\n")).toMatch(/--drain-deadline/);
      const deployment = t.kubernetes["deployment.yaml"] ?? "";
      const wrongPath = edit(deployment, "path: /readyz", "path: /ready");
      expect(checkKubernetes({ ...t.kubernetes, "deployment.yaml": wrongPath })).not.toEqual([]);
      const wrongPort = edit(
        deployment,
        /- --metrics-port\n(\s+)- "9090"/,
        '- --metrics-port\n$1- "9091"',
      );
      expect(checkKubernetes({ ...t.kubernetes, "deployment.yaml": wrongPort }).join("\n")).toMatch(
        /containerPort metrics/,
      );
      const healthcheck = edit(t.dockerfile, "9090/healthz", "9090/health");
      expect(checkDockerfile(healthcheck).join("\n")).toMatch(/HEALTHCHECK/);
    });

    it("a manifest the Kubernetes API would refuse", () => {
      const deployment = t.kubernetes["deployment.yaml"] ?? "";
      const wrongType = edit(deployment, "replicas: 3", 'replicas: "3"');
      expect(checkKubernetes({ ...t.kubernetes, "deployment.yaml": wrongType }).join("\n")).toMatch(
        /Deployment is invalid: .*replicas must be integer/,
      );
    });

    it("a drain longer than the grace period, a node on its own Redis, a fourth HAProxy server", () => {
      const deployment = t.kubernetes["deployment.yaml"] ?? "";
      const long = edit(
        deployment,
        "terminationGracePeriodSeconds: 30",
        "terminationGracePeriodSeconds: 20",
      );
      expect(checkKubernetes({ ...t.kubernetes, "deployment.yaml": long }).join("\n")).toMatch(
        /grace/,
      );
      const ownRedis = edit(
        t.compose,
        /( {2}hub-3:\n {4}<<: \*hub\n)/,
        "$1    environment:\n      ACB_DATABASE_URL: postgres://acb:acb@postgres:5432/acb\n      ACB_REDIS_URL: redis://other:6379\n      ACB_KAFKA_BROKERS: kafka:9092\n",
      );
      expect(checkCompose(ownRedis, t.haproxy).join("\n")).toMatch(
        /do not share one ACB_REDIS_URL/,
      );
      const haproxy = `${t.haproxy}  server hub-4 hub-4:7443\n`;
      expect(checkCompose(t.compose, haproxy).join("\n")).toMatch(/sends calls to/);
    });
  });
});
