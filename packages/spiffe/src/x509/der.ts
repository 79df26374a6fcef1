// A small, strict DER reader and writer: just what X.509 certificates and PKCS#10 requests need.
//
// Reading is strict on structure (definite, minimally encoded lengths; no trailing bytes; single-byte tags) because a
// lenient parser is where certificate-validation bugs live. Callers turn `DerError` into their own error codes.

export class DerError extends Error {
  override readonly name = 'DerError';
}

/** Universal and context-specific tags used by X.509 (whole identifier octets). */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** The identifier octet of a context-specific tag: `[n]`, constructed or primitive. */
export const context = (n: number, constructed: boolean) => (constructed ? 0xa0 : 0x80) | n;

/** One decoded TLV: where it sits in `buf`. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

/** Reads the TLV at `offset`, which must end at or before `limit`. */
export function readTlv(buf: Uint8Array, offset: number, limit: number = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated DER: no room for a tag and length at offset ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported multi-byte tag at offset ${offset}`);
  let length = buf[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw new DerError(`indefinite length at offset ${offset} (BER, not DER)`);
    if (count > 4) throw new DerError(`length of ${count} octets at offset ${offset} is too large`);
    if (contentStart + count > limit) throw new DerError(`truncated DER: length octets cut off at offset ${offset}`);
    if (buf[contentStart] === 0) throw new DerError(`non-minimal length encoding at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[contentStart + i]!;
    if (length < 0x80) throw new DerError(`non-minimal length encoding at offset ${offset}`);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`truncated DER: ${length} content octets at offset ${offset} run past the end`);
  return { tag, start: offset, contentStart, end };
}

/** Reads the TLV at `offset` and requires `tag`. */
export function expectTlv(buf: Uint8Array, offset: number, limit: number, tag: number, what: string): Tlv {
  const tlv = readTlv(buf, offset, limit);
  if (tlv.tag !== tag) throw new DerError(`${what}: expected tag 0x${hex2(tag)}, found 0x${hex2(tlv.tag)}`);
  return tlv;
}

/** Reads one whole DER value that must fill `buf` exactly. */
export function readRoot(buf: Uint8Array, tag: number, what: string): Tlv {
  const tlv = expectTlv(buf, 0, buf.length, tag, what);
  if (tlv.end !== buf.length) throw new DerError(`${what}: ${buf.length - tlv.end} trailing bytes after the DER value`);
  return tlv;
}

/** The TLVs directly inside a constructed `parent`. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    const tlv = readTlv(buf, at, parent.end);
    out.push(tlv);
    at = tlv.end;
  }
  return out;
}

export const content = (buf: Uint8Array, tlv: Tlv) => buf.subarray(tlv.contentStart, tlv.end);
export const whole = (buf: Uint8Array, tlv: Tlv) => buf.subarray(tlv.start, tlv.end);

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

export function readBoolean(buf: Uint8Array, tlv: Tlv): boolean {
  if (tlv.tag !== Tag.BOOLEAN || tlv.end - tlv.contentStart !== 1) throw new DerError('malformed BOOLEAN');
  const value = buf[tlv.contentStart]!;
  if (value !== 0 && value !== 0xff) throw new DerError('BOOLEAN must be 0x00 or 0xff in DER');
  return value === 0xff;
}

/** A small non-negative INTEGER (versions, path lengths, salt lengths). */
export function readSmallInt(buf: Uint8Array, tlv: Tlv, what: string): number {
  const bytes = content(buf, tlv);
  if (bytes.length === 0 || bytes.length > 4 || (bytes[0]! & 0x80) !== 0)
    throw new DerError(`${what}: expected a small non-negative INTEGER`);
  let value = 0;
  for (const b of bytes) value = value * 256 + b;
  return value;
}

/** BIT STRING contents without the unused-bits octet; `unused` says how many trailing bits are padding. */
export function readBitString(buf: Uint8Array, tlv: Tlv, what: string): { bytes: Uint8Array; unused: number } {
  if (tlv.tag !== Tag.BIT_STRING || tlv.end === tlv.contentStart) throw new DerError(`${what}: malformed BIT STRING`);
  const unused = buf[tlv.contentStart]!;
  if (unused > 7 || (unused > 0 && tlv.end - tlv.contentStart === 1))
    throw new DerError(`${what}: bad unused-bits count in BIT STRING`);
  return { bytes: buf.subarray(tlv.contentStart + 1, tlv.end), unused };
}

export function readOid(buf: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== Tag.OID || tlv.end === tlv.contentStart) throw new DerError('malformed OBJECT IDENTIFIER');
  const parts: number[] = [];
  let value = 0;
  let first = true;
  for (let i = tlv.contentStart; i < tlv.end; i++) {
    const b = buf[i]!;
    if (value === 0 && b === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc');
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError('OBJECT IDENTIFIER arc too large');
    if (b & 0x80) continue;
    if (first) {
      const top = value < 40 ? 0 : value < 80 ? 1 : 2;
      parts.push(top, value - top * 40);
      first = false;
    } else parts.push(value);
    value = 0;
  }
  if (buf[tlv.end - 1]! & 0x80) throw new DerError('truncated OBJECT IDENTIFIER');
  return parts.join('.');
}

/** UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5 forms: UTC, seconds, no fractions) as epoch milliseconds. */
export function readTime(buf: Uint8Array, tlv: Tlv): number {
  const text = Buffer.from(content(buf, tlv)).toString('latin1');
  let match: RegExpExecArray | null;
  let year: number;
  if (tlv.tag === Tag.UTC_TIME) {
    match = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (!match) throw new DerError(`malformed UTCTime ${JSON.stringify(text)}`);
    const yy = Number(match[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (tlv.tag === Tag.GENERALIZED_TIME) {
    match = /^(\d\d\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (!match) throw new DerError(`malformed GeneralizedTime ${JSON.stringify(text)}`);
    year = Number(match[1]);
  } else throw new DerError(`expected a time, found tag 0x${hex2(tlv.tag)}`);
  const [month, day, hour, minute, second] = match.slice(2).map(Number) as [number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    throw new DerError(`time out of range: ${JSON.stringify(text)}`);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  if (new Date(ms).getUTCDate() !== day) throw new DerError(`no such day: ${JSON.stringify(text)}`);
  return ms;
}

/** Text of the string types found in names (UTF8String, PrintableString, IA5String, BMPString, …). */
export function readString(buf: Uint8Array, tlv: Tlv): string {
  const bytes = Buffer.from(content(buf, tlv));
  switch (tlv.tag) {
    case Tag.UTF8_STRING:
      return bytes.toString('utf8');
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.T61_STRING:
      return bytes.toString('latin1');
    case Tag.BMP_STRING:
      if (bytes.length % 2) throw new DerError('odd-length BMPString');
      return bytes.swap16().toString('utf16le');
    case Tag.UNIVERSAL_STRING: {
      if (bytes.length % 4) throw new DerError('UniversalString length is not a multiple of 4');
      let out = '';
      for (let i = 0; i < bytes.length; i += 4) out += String.fromCodePoint(bytes.readUInt32BE(i));
      return out;
    }
    default:
      return `#${bytes.toString('hex')}`;
  }
}

// ---- writing ----

function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const out: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) out.unshift(n & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV from a tag and content parts (parts are concatenated). */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag, ...lengthOctets(body.length)]), body]);
}

export const sequence = (...parts: Uint8Array[]) => tlv(Tag.SEQUENCE, ...parts);
export const set = (...parts: Uint8Array[]) => tlv(Tag.SET, ...parts);
export const octetString = (bytes: Uint8Array) => tlv(Tag.OCTET_STRING, bytes);
export const nullValue = () => Buffer.from([Tag.NULL, 0]);
export const boolean = (value: boolean) => Buffer.from([Tag.BOOLEAN, 1, value ? 0xff : 0]);
export const explicit = (n: number, ...parts: Uint8Array[]) => tlv(context(n, true), ...parts);

/** A non-negative INTEGER from a number or big-endian unsigned bytes (minimal, with a sign octet when needed). */
export function integer(value: number | Uint8Array): Buffer {
  let bytes: Uint8Array;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot encode ${value} as a DER INTEGER`);
    const out: number[] = [];
    for (let n = value; n > 0; n = Math.floor(n / 256)) out.unshift(n & 0xff);
    bytes = Uint8Array.from(out.length ? out : [0]);
  } else {
    let i = 0;
    while (i < value.length - 1 && value[i] === 0) i++;
    bytes = value.subarray(i);
    if (bytes.length === 0) bytes = Uint8Array.of(0);
  }
  return bytes[0]! & 0x80 ? tlv(Tag.INTEGER, Uint8Array.of(0), bytes) : tlv(Tag.INTEGER, bytes);
}

export function bitString(bytes: Uint8Array, unused = 0): Buffer {
  return tlv(Tag.BIT_STRING, Uint8Array.of(unused), bytes);
}

const oidCache = new Map<string, Buffer>();

export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0))
    throw new RangeError(`bad OBJECT IDENTIFIER ${dotted}`);
  const out: number[] = [];
  const push = (value: number) => {
    const stack = [value & 0x7f];
    for (let n = Math.floor(value / 128); n > 0; n = Math.floor(n / 128)) stack.unshift(0x80 | (n & 0x7f));
    out.push(...stack);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  const encoded = tlv(Tag.OID, Uint8Array.from(out));
  oidCache.set(dotted, encoded);
  return encoded;
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), whole seconds. */
export function time(ms: number): Buffer {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  if (Number.isNaN(d.getTime())) throw new RangeError('invalid date');
  const year = d.getUTCFullYear();
  const pad = (n: number) => String(n).padStart(2, '0');
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) return tlv(Tag.UTC_TIME, Buffer.from(`${pad(year % 100)}${rest}`, 'latin1'));
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} cannot be encoded`);
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${String(year).padStart(4, '0')}${rest}`, 'latin1'));
}
