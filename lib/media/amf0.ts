/**
 * AMF0 (Action Message Format 0), the value encoding of RTMP command and data messages
 * (`connect`, `publish`, `onStatus`, `@setDataFrame`/`onMetaData`). Decoding is defensive
 * because it runs on whatever a publisher sends: nesting is bounded, references may not
 * form cycles or blow the value up far beyond the input, and every malformed input ends
 * in one `AmfError`. Objects and ECMA arrays decode to plain objects, strict arrays to
 * arrays, dates to `Date`, long strings and XML documents to strings, and undefined and
 * unsupported to `undefined`. A typed object's class name and an ECMA array's origin are
 * kept under the non-enumerable symbols `AMF0_CLASS_NAME` and `AMF0_ECMA_ARRAY`, which the
 * encoder honours, so relayed metadata keeps its wire shape.
 */
import { ByteReader, ByteWriter } from "./bytes.ts";

export type AmfValue =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | AmfValue[]
  | { [k: string]: AmfValue };

/** AMF0 type markers (AMF0 spec, section 2.1). */
export const AMF0_MARKER = {
  NUMBER: 0x00,
  BOOLEAN: 0x01,
  STRING: 0x02,
  OBJECT: 0x03,
  MOVIECLIP: 0x04,
  NULL: 0x05,
  UNDEFINED: 0x06,
  REFERENCE: 0x07,
  ECMA_ARRAY: 0x08,
  OBJECT_END: 0x09,
  STRICT_ARRAY: 0x0a,
  DATE: 0x0b,
  LONG_STRING: 0x0c,
  UNSUPPORTED: 0x0d,
  RECORDSET: 0x0e,
  XML_DOCUMENT: 0x0f,
  TYPED_OBJECT: 0x10,
  AVMPLUS_OBJECT: 0x11,
} as const;

/** Nesting limit for objects and arrays, in both directions. */
export const AMF0_MAX_DEPTH = 64;

/** Symbol holding a typed object's class name; set by the decoder, read by the encoder. */
export const AMF0_CLASS_NAME: unique symbol = Symbol("amf0.className");
/** Symbol marking an object that came from (or should be written as) an ECMA array. */
export const AMF0_ECMA_ARRAY: unique symbol = Symbol("amf0.ecmaArray");

/** Malformed or unsupported AMF0 input. */
export class AmfError extends SyntaxError {
  override name = "AmfError";
}

type AmfObject = { [k: string]: AmfValue };

/** Marks `obj` so `encodeAmf0` writes it as an ECMA array (as `onMetaData` customarily is). */
export function asEcmaArray<T extends AmfObject>(obj: T): T {
  Object.defineProperty(obj, AMF0_ECMA_ARRAY, { value: true, configurable: true });
  return obj;
}

/** Gives `obj` a class name so `encodeAmf0` writes it as a typed object. */
export function withClassName<T extends AmfObject>(obj: T, className: string): T {
  Object.defineProperty(obj, AMF0_CLASS_NAME, { value: className, configurable: true });
  return obj;
}

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

/** One entry of the reference table: the complex value and how many values it expands to. */
interface RefEntry {
  value: AmfValue;
  /** Values inside it, counted through references; -1 while it is still being decoded. */
  size: number;
}

/** Decoding state shared by the values of one message: reference table and budgets. */
class Decoder {
  readonly r: ByteReader;
  readonly refs: RefEntry[] = [];
  /** Values produced so far, counting what references expand to. */
  produced = 0;
  readonly maxProduced: number;

  constructor(r: ByteReader) {
    this.r = r;
    // Without references every value costs at least one input byte, so this only ever
    // stops reference fan-out (a few bytes standing for an exponentially large tree).
    this.maxProduced = Math.max(1 << 16, 4 * r.remaining);
  }

  value(depth: number): AmfValue {
    const r = this.r;
    const at = r.offset;
    const marker = r.u8();
    this.produced++;
    switch (marker) {
      case AMF0_MARKER.NUMBER:
        return r.f64();
      case AMF0_MARKER.BOOLEAN:
        return r.u8() !== 0;
      case AMF0_MARKER.STRING:
        return this.utf8(r.u16());
      case AMF0_MARKER.LONG_STRING:
      case AMF0_MARKER.XML_DOCUMENT:
        return this.utf8(r.u32());
      case AMF0_MARKER.NULL:
        return null;
      case AMF0_MARKER.UNDEFINED:
      case AMF0_MARKER.UNSUPPORTED:
        return undefined;
      case AMF0_MARKER.DATE: {
        const ms = r.f64();
        r.skip(2); // time-zone: reserved, should be 0x0000
        return new Date(ms);
      }
      case AMF0_MARKER.OBJECT:
        return this.complex(depth, () => this.properties({}, depth));
      case AMF0_MARKER.TYPED_OBJECT: {
        const className = this.utf8(r.u16());
        return this.complex(depth, () => this.properties(withClassName({}, className), depth));
      }
      case AMF0_MARKER.ECMA_ARRAY:
        r.skip(4); // associative-count: encoders get it wrong, the end marker decides
        return this.complex(depth, () => this.properties(asEcmaArray({}), depth));
      case AMF0_MARKER.STRICT_ARRAY: {
        const count = r.u32(); // array-count
        if (count > r.remaining) {
          throw new AmfError(
            `Cannot parse AMF0 strict array: ${count} items but only ${r.remaining} bytes left`,
          );
        }
        return this.complex(depth, () => {
          const items: AmfValue[] = [];
          for (let i = 0; i < count; i++) items.push(this.value(depth + 1));
          return items;
        });
      }
      case AMF0_MARKER.REFERENCE:
        return this.reference(r.u16());
      case AMF0_MARKER.OBJECT_END:
        throw new AmfError(`Cannot parse AMF0 value: object-end marker outside an object at ${at}`);
      case AMF0_MARKER.AVMPLUS_OBJECT:
        throw new AmfError(`Cannot parse AMF0 value: AMF3 (avmplus-object marker) at ${at}`);
      case AMF0_MARKER.MOVIECLIP:
      case AMF0_MARKER.RECORDSET:
        throw new AmfError(`Cannot parse AMF0 value: reserved marker 0x0${marker.toString(16)}`);
      default:
        throw new AmfError(
          `Cannot parse AMF0 value: unknown marker 0x${marker.toString(16)} at ${at}`,
        );
    }
  }

  /** Decodes an object, typed object or array, keeping its reference table entry right. */
  complex<T extends AmfValue>(depth: number, decode: () => T): T {
    if (depth >= AMF0_MAX_DEPTH) {
      throw new AmfError(`Cannot parse AMF0 value: nested deeper than ${AMF0_MAX_DEPTH}`);
    }
    // The table takes the value at its opening marker, before its members.
    const entry: RefEntry = { value: undefined, size: -1 };
    this.refs.push(entry);
    const before = this.produced;
    const value = decode();
    entry.value = value;
    entry.size = this.produced - before;
    return value;
  }

  /** Reads `key value` pairs into `target` until the empty key and object-end marker. */
  properties<T extends AmfObject>(target: T, depth: number): T {
    const r = this.r;
    for (;;) {
      const key = this.utf8(r.u16());
      if (key === "" && r.bytes[r.offset] === AMF0_MARKER.OBJECT_END) {
        r.skip(1);
        return target;
      }
      const value = this.value(depth + 1);
      // A "__proto__" key must become an own property, not replace the prototype.
      if (key === "__proto__") {
        Object.defineProperty(target, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        (target as AmfObject)[key] = value;
      }
    }
  }

  reference(index: number): AmfValue {
    const entry = this.refs[index];
    if (entry === undefined) {
      throw new AmfError(
        `Cannot parse AMF0 reference: index ${index} but only ${this.refs.length} objects so far`,
      );
    }
    if (entry.size < 0) {
      throw new AmfError(`Cannot parse AMF0 reference: index ${index} refers to itself (a cycle)`);
    }
    this.produced += entry.size;
    if (this.produced > this.maxProduced) {
      throw new AmfError(
        `Cannot parse AMF0 reference: references expand to more than ${this.maxProduced} values`,
      );
    }
    return entry.value;
  }

  utf8(length: number): string {
    // Invalid UTF-8 becomes U+FFFD: a publisher's odd bytes in a name are not worth a failure.
    return utf8Decoder.decode(this.r.bytesView(length));
  }
}

function run<T>(r: ByteReader, body: (d: Decoder) => T): T {
  try {
    return body(new Decoder(r));
  } catch (err) {
    if (err instanceof AmfError) throw err;
    if (err instanceof RangeError) {
      throw new AmfError(`Cannot parse AMF0 value: truncated input (${err.message})`, {
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Decodes one AMF0 value at the reader's offset and advances past it. References resolve
 * only within this one value.
 */
export function decodeAmf0Value(reader: ByteReader): AmfValue {
  return run(reader, (d) => d.value(0));
}

/**
 * Decodes the AMF0 values filling `bytes`, as in an RTMP command or data message body.
 * They share one reference table, so a later value may refer to an earlier object.
 */
export function decodeAmf0(bytes: Uint8Array): AmfValue[] {
  return run(new ByteReader(bytes), (d) => {
    const values: AmfValue[] = [];
    while (d.r.remaining > 0) values.push(d.value(0));
    return values;
  });
}

/** Encodes `values` one after another, as an RTMP command message body. */
export function encodeAmf0(...values: AmfValue[]): Uint8Array {
  let size = 0;
  for (const v of values) size += encodedSize(v, 0);
  // Sized exactly up front: one allocation, and the writer never has to grow.
  const w = new ByteWriter(size);
  for (const v of values) writeValue(w, v);
  return w.finish();
}

/** Bytes `v` takes when encoded; also rejects what AMF0 cannot carry, before any writing. */
function encodedSize(v: AmfValue, depth: number): number {
  if (v === null || v === undefined) return 1;
  switch (typeof v) {
    case "number":
      return 9;
    case "boolean":
      return 2;
    case "string": {
      const n = utf8Length(v);
      return (n > 0xffff ? 5 : 3) + n;
    }
    case "object":
      break;
    default:
      throw new TypeError(`Cannot encode AMF0 value: unsupported type ${typeof v}`);
  }
  if (v instanceof Date) return 11;
  if (depth >= AMF0_MAX_DEPTH) {
    throw new RangeError(
      `Cannot encode AMF0 value: nested deeper than ${AMF0_MAX_DEPTH} (or cyclic)`,
    );
  }
  if (Array.isArray(v)) {
    let size = 5;
    for (const item of v) size += encodedSize(item, depth + 1);
    return size;
  }
  const className = classNameOf(v);
  let size = className !== undefined ? 1 + keySize(className) : isEcmaArray(v) ? 5 : 1;
  for (const [key, item] of Object.entries(v)) {
    size += keySize(key) + encodedSize(item, depth + 1);
  }
  return size + 3;
}

function keySize(key: string): number {
  const n = utf8Length(key);
  if (n > 0xffff) throw new RangeError(`Cannot encode AMF0 key: ${n} bytes is over 65535`);
  return 2 + n;
}

/** UTF-8 length as `TextEncoder` would produce it (a lone surrogate becomes 3-byte U+FFFD). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next < 0xe000) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    } else n += 3;
  }
  return n;
}

function classNameOf(obj: object): string | undefined {
  const name = (obj as { [AMF0_CLASS_NAME]?: unknown })[AMF0_CLASS_NAME];
  return typeof name === "string" ? name : undefined;
}

function isEcmaArray(obj: object): boolean {
  return (obj as { [AMF0_ECMA_ARRAY]?: unknown })[AMF0_ECMA_ARRAY] === true;
}

/** Writes a value `encodedSize` has already accepted. */
function writeValue(w: ByteWriter, v: AmfValue): void {
  if (v === null) {
    w.u8(AMF0_MARKER.NULL);
  } else if (v === undefined) {
    w.u8(AMF0_MARKER.UNDEFINED);
  } else if (typeof v === "number") {
    w.u8(AMF0_MARKER.NUMBER).f64(v);
  } else if (typeof v === "boolean") {
    w.u8(AMF0_MARKER.BOOLEAN).u8(v ? 1 : 0);
  } else if (typeof v === "string") {
    const utf8 = utf8Encoder.encode(v);
    if (utf8.length > 0xffff) w.u8(AMF0_MARKER.LONG_STRING).u32(utf8.length);
    else w.u8(AMF0_MARKER.STRING).u16(utf8.length);
    w.bytes(utf8);
  } else if (v instanceof Date) {
    w.u8(AMF0_MARKER.DATE).f64(v.getTime()).u16(0); // time-zone: reserved, 0x0000
  } else if (Array.isArray(v)) {
    w.u8(AMF0_MARKER.STRICT_ARRAY).u32(v.length); // array-count
    for (const item of v) writeValue(w, item);
  } else {
    const className = classNameOf(v);
    if (className !== undefined) {
      w.u8(AMF0_MARKER.TYPED_OBJECT);
      writeKey(w, className);
    } else if (isEcmaArray(v)) {
      w.u8(AMF0_MARKER.ECMA_ARRAY).u32(Object.keys(v).length); // associative-count
    } else {
      w.u8(AMF0_MARKER.OBJECT);
    }
    for (const [key, item] of Object.entries(v)) {
      writeKey(w, key);
      writeValue(w, item);
    }
    w.u16(0).u8(AMF0_MARKER.OBJECT_END); // empty UTF-8 key, then object-end-marker
  }
}

function writeKey(w: ByteWriter, key: string): void {
  const utf8 = utf8Encoder.encode(key);
  w.u16(utf8.length).bytes(utf8);
}
