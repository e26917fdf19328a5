import type { DescMethod } from "@bufbuild/protobuf";

/** Each method's procedure name, made once: interceptors and the adapter ask for it per call. */
const procedures = new WeakMap<DescMethod, string>();

/** A method's procedure name, "acb.v1.Service/Method" (as access tables, metrics and audit name it). */
export function procedureOf(method: DescMethod): string {
  let name = procedures.get(method);
  if (name === undefined) {
    name = `${method.parent.typeName}/${method.name}`;
    procedures.set(method, name);
  }
  return name;
}
