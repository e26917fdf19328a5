// Fuzzing with structure: fast-check builds requests from the generated message schemas — plausible
// values for every field (ids that exist, tenant ids, small numbers, defined enums) — and breaks
// exactly one field (too long, negative, undefined enum, huge list, empty where required...). Every
// unary RPC gets them over Connect, as an agent of the tenant, an observer and another tenant's
// admin. The hub must stay up, answer no INTERNAL or UNKNOWN, and keep the data written before.

import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextScope } from "@acb/gen/acb/v1/contexts_pb";
import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  ScalarType,
} from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  expectHubUpWithContexts,
  type FuzzTarget,
  generatedServices,
  startFuzzTarget,
} from "./fuzz-target.js";

const RUNS = 500;
const CONTEXTS = 4;
const MESSAGES = 5;
let target: FuzzTarget;
let tenantId: string;
let otherTenant: string;
const callers: string[] = [];

/** Values a field is drawn from, so that requests name things that exist. */
const idPool = () => [
  "owner",
  "victim",
  "intruder",
  "keep-0",
  "keep-1",
  "m-keep",
  tenantId,
  otherTenant,
  "finance",
  "*",
];

beforeAll(async () => {
  target = await startFuzzTarget({
    contexts: CONTEXTS,
    messages: MESSAGES,
    access: { scope: ContextScope.PRIVATE },
  });
  const { t, owner } = target;
  tenantId = target.tenantId;
  otherTenant = await t.newTenant();
  await owner.meetings.createMeeting({ meetingId: "m-keep", title: "kept" });
  callers.push(
    (await t.agentIn(tenantId, "intruder")).token,
    (await t.agentIn(tenantId, "watcher", [Role.OBSERVER])).token,
    (await t.agentIn(otherTenant, "other-admin", [Role.ADMIN])).token,
  );
});

afterAll(async () => {
  await target?.t.close();
});

/** A plausible value for a scalar field. */
function scalar(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return fc.oneof(fc.constantFrom(...idPool()), fc.string({ maxLength: 12 }));
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 40 });
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return fc.bigInt({ min: 0n, max: 100n });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double({ min: 0, max: 100, noNaN: true });
    default:
      return fc.integer({ min: 0, max: 100 });
  }
}

/** A broken value for a scalar field: out of every range a rule could allow. */
function brokenScalar(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return fc.constantFrom(
        "x".repeat(5000),
        "",
        "../../../etc/passwd",
        "\u0000\u0001",
        "é".repeat(300),
        "%00%ff",
        "UPPER CASE with spaces",
      );
    case ScalarType.BOOL:
      return fc.constant(true);
    case ScalarType.BYTES:
      return fc.constantFrom(new Uint8Array(0), new Uint8Array(70_000).fill(7));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.constantFrom(-1n, -(2n ** 63n), 2n ** 63n - 1n);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.constantFrom(0n, 2n ** 64n - 1n);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.constantFrom(Number.NaN, -1, Number.POSITIVE_INFINITY);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.constantFrom(0, 2 ** 32 - 1);
    default:
      return fc.constantFrom(-1, -(2 ** 31), 2 ** 31 - 1);
  }
}

function enumValue(field: DescField & { fieldKind: "enum" }): fc.Arbitrary<number> {
  return fc.constantFrom(...field.enum.values.map((v) => v.number));
}

/** A plausible value for one field (depth bounds recursion through nested messages). */
function fieldValue(field: DescField, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case "scalar":
      return scalar(field.scalar);
    case "enum":
      return enumValue(field);
    case "message":
      return message(field.message, depth + 1);
    case "list": {
      const item =
        field.listKind === "scalar"
          ? scalar(field.scalar)
          : field.listKind === "enum"
            ? fc.constantFrom(...field.enum.values.map((v) => v.number))
            : message(field.message, depth + 1);
      return fc.array(item, { maxLength: 3 });
    }
    case "map": {
      const value =
        field.mapKind === "scalar"
          ? scalar(field.scalar)
          : field.mapKind === "enum"
            ? fc.constantFrom(...field.enum.values.map((v) => v.number))
            : message(field.message, depth + 1);
      return fc.dictionary(fc.constantFrom("k", "type", "region", "x"), value, { maxKeys: 2 });
    }
  }
}

/** A broken value for one field. */
function brokenValue(field: DescField, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case "scalar":
      return brokenScalar(field.scalar);
    case "enum":
      return fc.constantFrom(999, -5);
    case "message":
      // An empty message where one with content is expected.
      return fc.constant(create(field.message));
    case "list": {
      const item =
        field.listKind === "scalar"
          ? brokenScalar(field.scalar)
          : field.listKind === "enum"
            ? fc.constant(999)
            : message(field.message, depth + 1);
      return fc.array(item, { minLength: 1, maxLength: 3 }).map((a) => {
        // Many copies: past any max_items, and duplicates against any unique rule.
        const first = a[0];
        return Array.from({ length: 2000 }, () => first);
      });
    }
    case "map": {
      const value = field.mapKind === "scalar" ? brokenScalar(field.scalar) : fc.constant(999);
      return value.map((v) =>
        Object.fromEntries(
          Array.from({ length: 500 }, (_, i) => [`${"k".repeat(i % 300)}${i}`, v]),
        ),
      );
    }
  }
}

/** Puts `value` for `field` into a message init, minding oneof groups. */
function assign(init: Record<string, unknown>, field: DescField, value: unknown): void {
  if (field.oneof) init[field.oneof.localName] = { case: field.localName, value };
  else init[field.localName] = value;
}

function message(desc: DescMessage, depth: number): fc.Arbitrary<unknown> {
  if (depth > 3 || desc.typeName.startsWith("google.protobuf.")) {
    return fc.constant(create(desc));
  }
  const fields = desc.fields;
  if (fields.length === 0) return fc.constant(create(desc));
  return fc
    .tuple(...fields.map((f) => fc.option(fieldValue(f, depth), { nil: undefined })))
    .map((values) => {
      const init: Record<string, unknown> = {};
      fields.forEach((f, i) => {
        if (values[i] !== undefined) assign(init, f, values[i]);
      });
      return create(desc, init);
    });
}

/** A valid-ish request for `method` with exactly one field broken (when it has fields). */
function request(method: DescMethod): fc.Arbitrary<unknown> {
  const fields = method.input.fields;
  if (fields.length === 0) return message(method.input, 0);
  return fc
    .tuple(message(method.input, 0), fc.nat({ max: fields.length - 1 }))
    .chain(([base, index]) => {
      const field = fields[index] as DescField;
      return brokenValue(field, 0).map((broken) => {
        const init = { ...(base as Record<string, unknown>) };
        assign(init, field, broken);
        return create(method.input, init);
      });
    });
}

const refused = new Set<Code>([
  Code.InvalidArgument,
  Code.Unauthenticated,
  Code.PermissionDenied,
  Code.NotFound,
  Code.ResourceExhausted,
  Code.Unimplemented,
  Code.OutOfRange,
  Code.FailedPrecondition,
  Code.AlreadyExists,
  Code.Aborted,
  Code.DataLoss,
  Code.Canceled,
  Code.DeadlineExceeded,
]);

it(`answers ${RUNS} valid-ish requests with one broken field without INTERNAL or UNKNOWN, and loses nothing`, async () => {
  const { t, owner, backend } = target;
  const methods = (await generatedServices())
    .flatMap((s) => s.methods)
    .filter((m) => m.methodKind === "unary");
  expect(methods.length).toBeGreaterThan(40);
  const clients = callers.map((token) =>
    createConnectTransport({
      baseUrl: t.url,
      httpVersion: "2",
      useBinaryFormat: true,
      interceptors: [
        (next) => (req) => {
          req.header.set("Authorization", `Bearer ${token}`);
          return next(req);
        },
      ],
    }),
  );
  const outcomes = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(
      fc
        .constantFrom(...methods)
        .chain((m) => fc.tuple(fc.constant(m), request(m), fc.nat({ max: clients.length - 1 }))),
      async ([method, input, who]) => {
        const client = createClient(method.parent, clients[who] as never) as unknown as Record<
          string,
          (input: unknown, options: { timeoutMs: number }) => Promise<unknown>
        >;
        const call = client[method.localName];
        if (!call) throw new Error(`no client method ${method.localName}`);
        try {
          // A request-reply call waits for a reply that never comes; the deadline ends it.
          await call(input, { timeoutMs: 2_000 });
          outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1);
        } catch (err) {
          const e = ConnectError.from(err);
          outcomes.set(Code[e.code], (outcomes.get(Code[e.code]) ?? 0) + 1);
          if (!refused.has(e.code)) {
            throw new Error(
              `${method.parent.typeName}/${method.name} answered ${Code[e.code]}: ${e.message}`,
            );
          }
        }
      },
    ),
    { numRuns: RUNS },
  );
  // Most requests are refused (one field is always broken).
  expect(outcomes.get("InvalidArgument") ?? 0).toBeGreaterThan(RUNS / 4);

  // The hub is up and the data written before is as it was.
  await expectHubUpWithContexts(target, CONTEXTS);
  expect((await owner.meetings.getMeeting({ meetingId: "m-keep" })).meeting?.title).toBe("kept");
  expect(await backend.messages.backlog(tenantId, "victim")).toBeGreaterThanOrEqual(MESSAGES);
  expect(await backend.messages.inFlight(tenantId, "victim")).toBe(0);
  expect((await backend.registry.get(tenantId, "owner"))?.type).toBe("svc");
  expect((await backend.registry.get(tenantId, "victim"))?.type).toBe("svc");
  expect(await backend.tenants.get(tenantId)).toBeDefined();
}, 180_000);
