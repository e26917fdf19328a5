// Records are kept as JSON documents (jsonb) beside the columns that queries filter and sort on.
// JSON has no bytes, so every Uint8Array travels as {"$b": base64} and comes back as a Uint8Array.

/** The JSON text of a record, with byte arrays as {"$b": base64}. */
export function encodeDoc(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key]; // before toJSON: a Buffer would otherwise arrive as {type, data}
    if (raw instanceof Uint8Array) {
      return { $b: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64") };
    }
    return v;
  });
}

/** Turns a parsed document back into the record: {"$b": base64} objects become Uint8Arrays. */
export function decodeDoc<T>(value: unknown): T {
  return revive(typeof value === "string" ? JSON.parse(value) : value) as T;
}

function revive(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = revive(v[i]);
    return v;
  }
  const o = v as Record<string, unknown>;
  if (typeof o.$b === "string" && Object.keys(o).length === 1) {
    const b = Buffer.from(o.$b, "base64");
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  for (const k of Object.keys(o)) o[k] = revive(o[k]);
  return o;
}

/** A bigint column (node-postgres returns text, PGlite a number) as a number; undefined for NULL. */
export function num(v: unknown): number {
  return typeof v === "number" ? v : Number(v);
}

export function optNum(v: unknown): number | undefined {
  return v === null || v === undefined ? undefined : num(v);
}
