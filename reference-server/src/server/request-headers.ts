// A call's request headers as Fetch API Headers, read from the object Node already made of them.
//
// Node keeps each request's headers as an object for the life of its stream; a Headers copy of
// them (a Map, its table, a list and a sorted cache) cost an open stream about half a kilobyte
// more, for headers read a few times at the call's start. This view answers get() and has() from
// Node's object as a copy would, and makes the copy (then answers from it) for everything else:
// iteration, changes, and names that are not plain lower-case tokens (a copy's get() checks
// them, and throws for invalid ones).

import { headerPairs } from "./direct-common.js";

/** A header name as Node stores it and Headers accepts it unchanged: a lower-case token. */
const PLAIN_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** A value with whitespace at either end, which Headers trims. */
const PADDED = /^[\t\n\r ]|[\t\n\r ]$/;

export class RequestHeaders implements Headers {
  #node: NodeJS.Dict<string | string[]> | undefined;
  #copy: Headers | undefined;

  constructor(node: NodeJS.Dict<string | string[]>) {
    this.#node = node;
  }

  /** The copy, made at the first call that needs one (Node's object is not used after). */
  private get copy(): Headers {
    if (this.#copy === undefined) {
      this.#copy = new Headers(headerPairs(this.#node ?? {}));
      this.#node = undefined;
    }
    return this.#copy;
  }

  get(name: string): string | null {
    const node = this.#node;
    if (node === undefined || !PLAIN_NAME.test(name)) return this.copy.get(name);
    const value = node[name];
    if (value === undefined) return null;
    // Headers joins the values of a repeated header with ", ", and trims each of whitespace.
    if (Array.isArray(value) || PADDED.test(value)) return this.copy.get(name);
    return value;
  }

  has(name: string): boolean {
    const node = this.#node;
    if (node === undefined || !PLAIN_NAME.test(name)) return this.copy.has(name);
    return node[name] !== undefined;
  }

  getSetCookie(): string[] {
    return this.copy.getSetCookie();
  }

  append(name: string, value: string): void {
    this.copy.append(name, value);
  }

  set(name: string, value: string): void {
    this.copy.set(name, value);
  }

  delete(name: string): void {
    this.copy.delete(name);
  }

  forEach(
    callback: (value: string, key: string, parent: Headers) => void,
    thisArg?: unknown,
  ): void {
    this.copy.forEach((value, key) => {
      callback.call(thisArg, value, key, this);
    });
  }

  entries(): ReturnType<Headers["entries"]> {
    return this.copy.entries();
  }

  keys(): ReturnType<Headers["keys"]> {
    return this.copy.keys();
  }

  values(): ReturnType<Headers["values"]> {
    return this.copy.values();
  }

  [Symbol.iterator](): ReturnType<Headers[typeof Symbol.iterator]> {
    return this.copy[Symbol.iterator]();
  }
}
