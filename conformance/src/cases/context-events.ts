// A shared check of the contexts cases: a subscription's next event carries the context exactly
// as GetContext reads it.

import {
  type Context,
  SubscribeContextsResponse_Kind as ContextKind,
  ContextSchema,
  type SubscribeContextsResponse,
} from "@acb/gen/acb/v1/contexts_pb";
import { toJson } from "@bufbuild/protobuf";
import { check } from "../case.js";
import type { CaseContext } from "../harness.js";
import type { StreamReader } from "../wire.js";

/** Checks that the next event is `kind` and carries the context as `want` reads, field by field. */
export async function nextIs(
  t: CaseContext,
  stream: StreamReader<SubscribeContextsResponse>,
  kind: ContextKind,
  want: Context | undefined,
  what: string,
) {
  const e = await stream.waitFor(
    (x) => x.kind !== ContextKind.READY,
    `the ${ContextKind[kind]} event ${what}`,
    t.settings.waitMs,
  );
  check(
    e.kind === kind,
    `${what}: the next event is ${ContextKind[e.kind]}, not ${ContextKind[kind]}`,
  );
  check(want && e.context, `${what}: no context to compare`);
  const got = toJson(ContextSchema, e.context) as Record<string, unknown>;
  const read = toJson(ContextSchema, want) as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(got), ...Object.keys(read)])];
  const wrong = keys.filter((k) => JSON.stringify(got[k]) !== JSON.stringify(read[k]));
  check(
    wrong.length === 0,
    `${what}: the event's context differs from GetContext in ${wrong.map((k) => `${k} (${JSON.stringify(got[k])} against ${JSON.stringify(read[k])})`).join(", ")}`,
  );
}
