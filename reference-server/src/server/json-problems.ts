// Finds what is wrong in a JSON request, by field path, for the INVALID_ARGUMENT answer: the
// protobuf JSON parser names an unknown enum value's type but not the field that holds it.
import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";

/**
 * The first unknown field or unknown enum name in `json` read as `desc`, e.g.
 * `field "type": "RESPONSE" is not a value of acb.v1.MessageType (expected one of ...)`, or
 * undefined when there is none (other mistakes are left to the parser's own message).
 */
export function jsonProblem(desc: DescMessage, json: unknown, path = ""): string | undefined {
  // Well-known types have their own JSON forms (Timestamp strings, Struct objects...).
  if (desc.typeName.startsWith("google.protobuf.")) return undefined;
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const at = path === "" ? key : `${path}.${key}`;
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) {
      return `unknown field "${at}" (${desc.typeName} has no field "${key}")`;
    }
    if (value === null) continue;
    const problem = valueProblem(field, value, at);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function valueProblem(field: DescField, value: unknown, at: string): string | undefined {
  switch (field.fieldKind) {
    case "enum":
      return enumProblem(field.enum, value, at);
    case "message":
      return jsonProblem(field.message, value, at);
    case "list":
      if (!Array.isArray(value)) return undefined;
      for (const [i, item] of value.entries()) {
        const p =
          field.listKind === "enum"
            ? enumProblem(field.enum, item, `${at}[${i}]`)
            : field.listKind === "message"
              ? jsonProblem(field.message, item, `${at}[${i}]`)
              : undefined;
        if (p !== undefined) return p;
      }
      return undefined;
    case "map":
      if (typeof value !== "object" || value === null) return undefined;
      for (const [k, item] of Object.entries(value)) {
        const p =
          field.mapKind === "enum"
            ? enumProblem(field.enum, item, `${at}["${k}"]`)
            : field.mapKind === "message"
              ? jsonProblem(field.message, item, `${at}["${k}"]`)
              : undefined;
        if (p !== undefined) return p;
      }
      return undefined;
    default:
      return undefined;
  }
}

function enumProblem(e: DescEnum, value: unknown, at: string): string | undefined {
  if (typeof value !== "string" || e.typeName === "google.protobuf.NullValue") return undefined;
  if (e.values.some((v) => v.name === value)) return undefined;
  const names = e.values.map((v) => v.name).join(", ");
  return `field "${at}": ${JSON.stringify(value)} is not a value of ${e.typeName} (expected one of ${names})`;
}
