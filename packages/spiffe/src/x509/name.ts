// Distinguished names and general names (RFC 5280 §4.1.2.4, §4.2.1.6): parsing, printing and encoding.
import {
  children,
  content,
  DerError,
  expectTlv,
  oid,
  readOid,
  readRoot,
  readString,
  sequence,
  set,
  Tag,
  tlv,
  whole,
  type Tlv,
} from './der.js';
import { attributeNames, attributeOids } from './oids.js';

export interface NameAttribute {
  /** The attribute type's OID, e.g. 2.5.4.10. */
  readonly oid: string;
  /** Its short name (O, CN, OU, …) or the OID when it has none. */
  readonly type: string;
  readonly value: string;
}

/** An X.501 distinguished name: ordered relative distinguished names, each a set of attributes. */
export class DistinguishedName {
  /** The DER encoding, compared byte for byte when matching issuers to subjects (as Go and OpenSSL index them). */
  readonly der: Uint8Array;
  readonly rdns: ReadonlyArray<ReadonlyArray<NameAttribute>>;

  constructor(der: Uint8Array, rdns: ReadonlyArray<ReadonlyArray<NameAttribute>>) {
    this.der = der;
    this.rdns = rdns;
  }

  static empty(): DistinguishedName {
    return new DistinguishedName(sequence(), []);
  }

  /** Builds a name from `[type, value]` pairs in order (types by short name such as O or CN, or by OID). */
  static of(attributes: ReadonlyArray<readonly [string, string]>): DistinguishedName {
    const rdns = attributes.map(([type, value]) => {
      const oidText = attributeOids[type] ?? (/^\d+(\.\d+)+$/.test(type) ? type : undefined);
      if (!oidText) throw new RangeError(`unknown name attribute type ${JSON.stringify(type)}`);
      return [{ oid: oidText, type: attributeNames[oidText] ?? oidText, value }];
    });
    const der = sequence(
      ...rdns.map((rdn) =>
        set(
          ...rdn.map((a) =>
            sequence(
              oid(a.oid),
              tlv(printable(a.oid, a.value) ? Tag.PRINTABLE_STRING : Tag.UTF8_STRING, Buffer.from(a.value, 'utf8')),
            ),
          ),
        ),
      ),
    );
    return new DistinguishedName(der, rdns);
  }

  get isEmpty(): boolean {
    return this.rdns.length === 0;
  }

  /** Values of one attribute type (short name or OID), in order. */
  get(type: string): string[] {
    const oidText = attributeOids[type] ?? type;
    return this.rdns.flatMap((rdn) => rdn.filter((a) => a.oid === oidText).map((a) => a.value));
  }

  equals(other: DistinguishedName): boolean {
    return Buffer.from(this.der).equals(other.der);
  }

  /** `O=cluster.local, CN=istiod` in encoded order; special characters escaped as in RFC 4514. */
  toString(): string {
    return this.rdns.map((rdn) => rdn.map((a) => `${a.type}=${escapeValue(a.value)}`).join('+')).join(', ');
  }
}

// Country codes and serial numbers must be PrintableString; elsewhere PrintableString when it fits (as Go does).
function printable(oidText: string, value: string): boolean {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value) || oidText === attributeOids.C;
}

function escapeValue(value: string): string {
  return value.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}

export function parseName(buf: Uint8Array, tlvName: Tlv): DistinguishedName {
  if (tlvName.tag !== Tag.SEQUENCE) throw new DerError('Name: expected a SEQUENCE');
  const rdns = children(buf, tlvName).map((rdnTlv) => {
    if (rdnTlv.tag !== Tag.SET) throw new DerError('Name: expected a SET for each RDN');
    const attrs = children(buf, rdnTlv).map((attrTlv) => {
      if (attrTlv.tag !== Tag.SEQUENCE) throw new DerError('Name: malformed attribute');
      const [typeTlv, valueTlv, extra] = children(buf, attrTlv);
      if (!typeTlv || !valueTlv || extra) throw new DerError('Name: malformed attribute');
      const oidText = readOid(buf, typeTlv);
      return { oid: oidText, type: attributeNames[oidText] ?? oidText, value: readString(buf, valueTlv) };
    });
    if (attrs.length === 0) throw new DerError('Name: empty RDN');
    return attrs;
  });
  return new DistinguishedName(whole(buf, tlvName), rdns);
}

export function parseNameDer(der: Uint8Array): DistinguishedName {
  return parseName(der, readRoot(der, Tag.SEQUENCE, 'Name'));
}

/** The names of a SubjectAltName extension (or of a CSR's requested one), grouped by type. */
export interface GeneralNames {
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** Textual IPv4 or IPv6 addresses. */
  readonly ipAddresses: readonly string[];
  readonly emails: readonly string[];
  readonly directoryNames: readonly DistinguishedName[];
  /** How many names of other types (otherName, x400Address, ediPartyName, registeredID) there were. */
  readonly others: number;
}

export const GN = {
  email: 0x81,
  dns: 0x82,
  uri: 0x86,
  ip: 0x87,
  directoryName: 0xa4,
} as const;

export function parseGeneralNames(buf: Uint8Array, seq: Tlv, what: string): GeneralNames {
  if (seq.tag !== Tag.SEQUENCE) throw new DerError(`${what}: expected a SEQUENCE of names`);
  const out = {
    uris: [] as string[],
    dnsNames: [] as string[],
    ipAddresses: [] as string[],
    emails: [] as string[],
    directoryNames: [] as DistinguishedName[],
    others: 0,
  };
  const items = children(buf, seq);
  if (items.length === 0) throw new DerError(`${what}: empty list of names`);
  for (const item of items) {
    const text = () => Buffer.from(content(buf, item)).toString('latin1');
    switch (item.tag) {
      case GN.uri:
        out.uris.push(text());
        break;
      case GN.dns:
        out.dnsNames.push(text());
        break;
      case GN.email:
        out.emails.push(text());
        break;
      case GN.ip:
        out.ipAddresses.push(formatIp(content(buf, item), what));
        break;
      case GN.directoryName: {
        const inner = expectTlv(buf, item.contentStart, item.end, Tag.SEQUENCE, `${what} directoryName`);
        out.directoryNames.push(parseName(buf, inner));
        break;
      }
      default:
        out.others++;
    }
  }
  return out;
}

export function formatIp(bytes: Uint8Array, what = 'iPAddress'): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    // Compress the longest run of zero groups (RFC 5952).
    let best = -1;
    let bestLen = 0;
    for (let i = 0; i < 8;) {
      if (groups[i] !== '0') {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
      i = j;
    }
    if (best === -1) return groups.join(':');
    return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  }
  throw new DerError(`${what}: an IP address must be 4 or 16 bytes, not ${bytes.length}`);
}

/** Parses a textual IPv4 or IPv6 address into 4 or 16 bytes; undefined when it is neither. */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const bytes = v4.slice(1).map(Number);
    return bytes.every((b) => b <= 255) ? Uint8Array.from(bytes) : undefined;
  }
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return undefined;
  const [head = '', tail, extra] = text.split('::');
  if (extra !== undefined) return undefined;
  const words = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4bytes = parseIp(piece);
        if (!v4bytes || v4bytes.length !== 4) return undefined;
        out.push((v4bytes[0]! << 8) | v4bytes[1]!, (v4bytes[2]! << 8) | v4bytes[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) out.push(Number.parseInt(piece, 16));
      else return undefined;
    }
    return out;
  };
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  if (!left || !right) return undefined;
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...left, ...new Array<number>(tail === undefined ? 0 : missing).fill(0), ...right];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** GeneralNames for a SubjectAltName extension value. */
export function encodeGeneralNames(names: {
  uris?: readonly string[];
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  emails?: readonly string[];
}): Buffer {
  const parts: Buffer[] = [];
  for (const email of names.emails ?? []) parts.push(tlv(GN.email, Buffer.from(email, 'latin1')));
  for (const dns of names.dnsNames ?? []) parts.push(tlv(GN.dns, Buffer.from(dns, 'latin1')));
  for (const uri of names.uris ?? []) parts.push(tlv(GN.uri, Buffer.from(uri, 'latin1')));
  for (const ip of names.ipAddresses ?? []) {
    const bytes = parseIp(ip);
    if (!bytes) throw new RangeError(`not an IP address: ${JSON.stringify(ip)}`);
    parts.push(tlv(GN.ip, bytes));
  }
  return sequence(...parts);
}
