// The --expected-failures file: cases a hub knows it fails, each with why. JSON (an array, or an
// object with an "expectedFailures" array) or a YAML-style list:
//
//   - id: delivery.order
//     reason: ordering is per partition in this hub

/** A case the hub is known to fail. */
export interface ExpectedFailure {
  id: string;
  reason: string;
}

export function parseExpectedFailures(text: string): ExpectedFailure[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    const parsed: unknown = JSON.parse(trimmed);
    const list = Array.isArray(parsed)
      ? parsed
      : (parsed as { expectedFailures?: unknown }).expectedFailures;
    if (!Array.isArray(list)) throw new Error("expected a JSON array of {id, reason}");
    return list.map((entry, i) => {
      const { id, reason } = (entry ?? {}) as { id?: unknown; reason?: unknown };
      if (typeof id !== "string" || id === "") throw new Error(`entry ${i + 1} has no "id"`);
      if (typeof reason !== "string" || reason === "")
        throw new Error(`entry "${id}" has no "reason"`);
      return { id, reason };
    });
  }
  const out: ExpectedFailure[] = [];
  let current: Partial<ExpectedFailure> | undefined;
  const finish = () => {
    if (!current) return;
    if (!current.id) throw new Error("an entry has no id");
    if (!current.reason) throw new Error(`entry "${current.id}" has no reason`);
    out.push({ id: current.id, reason: current.reason });
  };
  text.split(/\r?\n/).forEach((raw, n) => {
    const line = raw.replace(/\s+#.*$/, "").trimEnd();
    if (line.trim() === "" || line.trim().startsWith("#")) return;
    const m = /^\s*(-\s+)?(id|reason)\s*:\s*(.*)$/.exec(line);
    if (!m) throw new Error(`line ${n + 1}: expected "- id: ..." or "reason: ..."`);
    if (m[1]) {
      finish();
      current = {};
    }
    if (!current) throw new Error(`line ${n + 1}: an entry starts with "- "`);
    const value = (m[3] ?? "").trim().replace(/^(["'])(.*)\1$/, "$2");
    if (m[2] === "id") current.id = value;
    else current.reason = value;
  });
  finish();
  return out;
}
