// Records every byte the hub hands its storage backend (arguments of every store method), so a
// test can prove what the hub stored, whatever the backend: wrap it, run, search the record.
import type { Backend } from "@acb/hub";

function collect(value: unknown, out: Uint8Array[], seen: Set<unknown>): void {
  if (value === null || value === undefined || seen.has(value)) return;
  if (typeof value === "string") out.push(new TextEncoder().encode(value));
  else if (value instanceof Uint8Array) out.push(value.slice());
  else if (value instanceof ArrayBuffer) out.push(new Uint8Array(value.slice(0)));
  else if (typeof value === "object") {
    seen.add(value);
    const items =
      value instanceof Map
        ? [...value.keys(), ...value.values()]
        : value instanceof Set || Array.isArray(value)
          ? [...(value as Iterable<unknown>)]
          : Object.values(value);
    for (const item of items) collect(item, out, seen);
  }
}

/** `backend`, with every store-method argument copied into `written`. */
export function recordingBackend(backend: Backend, written: Uint8Array[]): Backend {
  const wrapStore = (store: object) =>
    new Proxy(store, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          collect(args, written, new Set());
          return v.apply(target, args);
        };
      },
    });
  const wrapped = new Map<PropertyKey, object>();
  return new Proxy(backend, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (v === null || typeof v !== "object") return v;
      let w = wrapped.get(key);
      if (!w) {
        w = wrapStore(v);
        wrapped.set(key, w);
      }
      return w;
    },
  });
}

/** Whether `needle` occurs in any recorded write. */
export function anyContains(written: Uint8Array[], needle: Uint8Array): boolean {
  return written.some((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength).includes(needle));
}
