import { BinaryWriter, type WireType } from "@bufbuild/protobuf/wire";

/**
 * A protobuf writer into one reused buffer, for the few field kinds of the hub's hand-written
 * encodings (deliveries in delivery-encoding.ts, SendBatch results in batch-encoding.ts). Strings
 * are written as UTF-8 straight into the buffer (no encoded copy of each string, as protobuf-es's
 * writer makes), and a length-delimited field reserves one byte for its length, moving its body
 * only when the length needs more (128 bytes or more). Each use runs from reset() to take()
 * without yielding, so a module keeps one sink for all its encodings.
 */
export class ProtoSink {
  private buf = Buffer.allocUnsafe(65_536);
  private pos = 0;
  /** Where each open length-delimited field's reserved length byte is. */
  private readonly open: number[] = [];

  /** Bytes written since reset(). */
  get length(): number {
    return this.pos;
  }

  reset(): this {
    this.pos = 0;
    this.open.length = 0;
    return this;
  }

  /** A copy of what was written (the buffer is reused); a buffer grown past 64 KiB is dropped. */
  take(): Uint8Array {
    const out = new Uint8Array(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    if (this.buf.length > 65_536) this.buf = Buffer.allocUnsafe(65_536);
    this.pos = 0;
    return out;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A varint of a non-negative integer up to 2^53. */
  varint(n: number): this {
    this.room(10);
    const b = this.buf;
    while (n > 0x7f) {
      b[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    b[this.pos++] = n;
    return this;
  }

  /** An int32 or int64 varint of any safe integer (a negative one takes ten bytes). */
  signed(n: number): this {
    if (n >= 0) return this.varint(n);
    const w = new BinaryWriter().int64(n).finish();
    this.room(w.length);
    this.buf.set(w, this.pos);
    this.pos += w.length;
    return this;
  }

  tag(no: number, wireType: WireType): this {
    return this.varint((no << 3) | wireType);
  }

  string(value: string): this {
    // UTF-8 takes at most three bytes per UTF-16 unit, plus up to five for the length.
    this.room(value.length * 3 + 5);
    const at = this.pos;
    const n = this.buf.write(value, at + 1, "utf8");
    this.pos = at + 1 + n;
    this.fixLength(at, n);
    return this;
  }

  bytes(value: Uint8Array): this {
    this.varint(value.length);
    this.room(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  /** Opens a length-delimited field's body (close with join()). */
  fork(): this {
    this.room(1);
    this.open.push(this.pos++);
    return this;
  }

  join(): this {
    const at = this.open.pop() as number;
    this.fixLength(at, this.pos - at - 1);
    return this;
  }

  /** Writes `n`, the length of the body after `at`, into the byte reserved at `at`. */
  private fixLength(at: number, n: number): void {
    if (n < 128) {
      this.buf[at] = n;
      return;
    }
    let width = 1;
    for (let v = n; v > 0x7f; v = Math.floor(v / 128)) width++;
    this.room(width - 1);
    this.buf.copy(this.buf, at + width, at + 1, at + 1 + n);
    this.pos += width - 1;
    let v = n;
    for (let i = 0; i < width - 1; i++) {
      this.buf[at + i] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[at + width - 1] = v;
  }
}
