// Encoding and signing X.509 certificates from a template. Pure: the caller supplies times, keys and (optionally) the
// serial number; only the default serial draws from node:crypto's CSPRNG.
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { SpiffeError } from '../errors.js';
import type { SpiffeId } from '../id.js';
import { publicKeyInfoOf } from '../keys.js';
import { KEY_USAGES, parseCertificate, type Certificate, type Extension, type KeyUsage } from './certificate.js';
import {
  bitString,
  boolean,
  context,
  explicit,
  integer,
  octetString,
  oid,
  readRoot,
  sequence,
  Tag,
  time,
  tlv,
  children,
  readBitString,
} from './der.js';
import { DistinguishedName, encodeGeneralNames, GN, parseIp } from './name.js';
import { OID } from './oids.js';
import { parseSpkiAlgorithm, signerFor } from './signature.js';

export type NameInput = DistinguishedName | ReadonlyArray<readonly [string, string]>;

export interface NameConstraintsTemplate {
  permitted?: { uris?: readonly string[]; dnsNames?: readonly string[]; ipRanges?: readonly string[] };
  excluded?: { uris?: readonly string[]; dnsNames?: readonly string[]; ipRanges?: readonly string[] };
  /** Default true (RFC 5280 requires conforming CAs to mark it critical). */
  critical?: boolean;
}

export interface CertificateTemplate {
  /**
   * The subject public key: a KeyObject (a private key's public half is used) or DER SubjectPublicKeyInfo bytes, such
   * as a CSR's `publicKeyInfo` (the fast path: exporting a KeyObject costs more than signing).
   */
  publicKey: KeyObject | Uint8Array;
  /** Validity, epoch milliseconds or Date (whole seconds are encoded). */
  notBefore: number | Date;
  notAfter: number | Date;
  /** Empty by default (as Istio's workload certificates). CA certificates must have one. */
  subject?: NameInput;
  /** Big-endian unsigned bytes; 128 random bits by default. */
  serialNumber?: Uint8Array;
  uris?: ReadonlyArray<string | SpiffeId>;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  emails?: readonly string[];
  /** Default: critical exactly when the subject is empty (RFC 5280 §4.1.2.6). */
  subjectAltNameCritical?: boolean;
  /** Default `{ ca: false }`; `null` omits the extension. Critical unless told otherwise. */
  basicConstraints?: { ca: boolean; pathLen?: number; critical?: boolean } | null;
  /** Omitted when undefined or null. */
  keyUsage?: readonly KeyUsage[] | null;
  /** Default true. */
  keyUsageCritical?: boolean;
  /** Short names (serverAuth, clientAuth) or OIDs; omitted when undefined or null. */
  extKeyUsage?: readonly string[] | null;
  extKeyUsageCritical?: boolean;
  /** Subject key identifier: true computes it (RFC 5280 method 1); default true for CA certificates. */
  subjectKeyId?: boolean | Uint8Array;
  /** Authority key identifier; default the issuer's subject key identifier when it has one. */
  authorityKeyId?: boolean | Uint8Array;
  nameConstraints?: NameConstraintsTemplate;
  /** Extra extensions, appended verbatim (tests use this for unusual certificates). */
  extensions?: readonly Extension[];
}

export interface SignOptions {
  /** The key that signs. For a self-signed certificate, the subject's own private key. */
  signingKey: KeyObject;
  /** The issuing CA certificate; omit for a self-signed certificate (issuer name = subject name). */
  issuer?: Certificate;
}

const ekuOids: Record<string, string> = {
  serverAuth: OID.serverAuth,
  clientAuth: OID.clientAuth,
  anyExtendedKeyUsage: OID.anyExtendedKeyUsage,
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  OCSPSigning: '1.3.6.1.5.5.7.3.9',
};

function invalid(message: string): SpiffeError {
  return new SpiffeError('ERR_SPIFFE_INVALID_TEMPLATE', message);
}

export function toName(input: NameInput | undefined): DistinguishedName {
  if (input === undefined) return DistinguishedName.empty();
  if (input instanceof DistinguishedName) return input;
  try {
    return DistinguishedName.of(input);
  } catch (error) {
    throw invalid((error as Error).message);
  }
}

const toMs = (value: number | Date) => (typeof value === 'number' ? value : value.getTime());

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Uint8Array): Buffer {
  const root = readRoot(spki, Tag.SEQUENCE, 'SubjectPublicKeyInfo');
  const [, keyTlv] = children(spki, root);
  const { bytes } = readBitString(spki, keyTlv!, 'subjectPublicKey');
  return createHash('sha1').update(bytes).digest();
}

// Serial numbers come from a pool refilled 256 at a time: one CSPRNG call per serial is measurable when signing.
let serialPool = Buffer.alloc(0);
let serialOffset = 0;

/** 128 random bits, positive and with a non-zero first octet (as Istio's serials). */
export function randomSerialNumber(): Buffer {
  if (serialOffset + 16 > serialPool.length) {
    serialPool = randomBytes(16 * 256);
    serialOffset = 0;
  }
  const bytes = Buffer.from(serialPool.subarray(serialOffset, serialOffset + 16));
  serialPool.fill(0, serialOffset, serialOffset + 16);
  serialOffset += 16;
  bytes[0]! &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes;
}

export function encodeKeyUsage(usages: readonly KeyUsage[]): Buffer {
  const bits = usages.map((u) => {
    const bit = KEY_USAGES.indexOf(u);
    if (bit < 0) throw invalid(`unknown key usage ${JSON.stringify(u)}`);
    return bit;
  });
  if (bits.length === 0) throw invalid('keyUsage cannot be empty');
  const last = Math.max(...bits);
  const bytes = new Uint8Array((last >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return bitString(bytes, 7 - (last & 7));
}

function extension(oidText: string, critical: boolean, value: Uint8Array): Buffer {
  return critical
    ? sequence(oid(oidText), boolean(true), octetString(value))
    : sequence(oid(oidText), octetString(value));
}

function subtrees(spec: NonNullable<NameConstraintsTemplate['permitted']>): Buffer[] {
  const out: Buffer[] = [];
  for (const uri of spec.uris ?? []) out.push(sequence(tlv(GN.uri, Buffer.from(uri, 'latin1'))));
  for (const dns of spec.dnsNames ?? []) out.push(sequence(tlv(GN.dns, Buffer.from(dns, 'latin1'))));
  for (const range of spec.ipRanges ?? []) {
    const [addr = '', prefix = ''] = range.split('/');
    const bytes = parseIp(addr);
    const bits = Number(prefix);
    if (!bytes || !Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8)
      throw invalid(`bad IP range ${JSON.stringify(range)} (expected address/prefix)`);
    const mask = new Uint8Array(bytes.length);
    for (let i = 0; i < bits; i++) mask[i >> 3]! |= 0x80 >> (i & 7);
    out.push(sequence(tlv(GN.ip, Buffer.concat([bytes, mask]))));
  }
  return out;
}

function checkedSpki(bytes: Uint8Array): Buffer {
  try {
    parseSpkiAlgorithm(bytes, readRoot(bytes, Tag.SEQUENCE, 'SubjectPublicKeyInfo'));
  } catch (error) {
    throw invalid(`publicKey is not a DER SubjectPublicKeyInfo: ${(error as Error).message}`);
  }
  return Buffer.from(bytes);
}

/** Encodes and signs a certificate; returns it parsed. */
export function createCertificate(template: CertificateTemplate, options: SignOptions): Certificate {
  const subject = toName(template.subject);
  const issuerName = options.issuer ? options.issuer.subject : subject;
  const notBefore = toMs(template.notBefore);
  const notAfter = toMs(template.notAfter);
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter))
    throw invalid('notBefore and notAfter must be valid times');
  if (notAfter < notBefore) throw invalid('notAfter is before notBefore');
  const basic = template.basicConstraints === undefined ? { ca: false } : template.basicConstraints;
  const isCA = basic?.ca === true;
  if (isCA && subject.isEmpty)
    throw invalid('a CA certificate needs a non-empty subject (OpenSSL takes an empty-subject issuer for self-signed)');
  if (issuerName.isEmpty) throw invalid('the issuer has an empty subject name');
  if (basic && !basic.ca && basic.pathLen !== undefined) throw invalid('pathLen is only allowed on CA certificates');
  const uris = (template.uris ?? []).map(String);
  const hasNames =
    uris.length +
      (template.dnsNames?.length ?? 0) +
      (template.ipAddresses?.length ?? 0) +
      (template.emails?.length ?? 0) >
    0;
  if (subject.isEmpty && !hasNames)
    throw invalid('a certificate with an empty subject needs subject alternative names');

  const spki =
    template.publicKey instanceof Uint8Array ? checkedSpki(template.publicKey) : publicKeyInfoOf(template.publicKey);
  const signer = signerFor(options.signingKey);
  const extensions: Buffer[] = [];
  if (basic) {
    const parts: Buffer[] = [];
    if (basic.ca) parts.push(boolean(true));
    if (basic.pathLen !== undefined) parts.push(integer(basic.pathLen));
    extensions.push(extension(OID.basicConstraints, basic.critical ?? true, sequence(...parts)));
  }
  if (template.keyUsage)
    extensions.push(extension(OID.keyUsage, template.keyUsageCritical ?? true, encodeKeyUsage(template.keyUsage)));
  if (template.extKeyUsage) {
    const oids = template.extKeyUsage.map((name) => ekuOids[name] ?? (/^\d+(\.\d+)+$/.test(name) ? name : undefined));
    if (oids.some((o) => o === undefined))
      throw invalid(`unknown extended key usage in ${template.extKeyUsage.join(', ')}`);
    extensions.push(
      extension(OID.extKeyUsage, template.extKeyUsageCritical ?? false, sequence(...oids.map((o) => oid(o!)))),
    );
  }
  const ski =
    template.subjectKeyId instanceof Uint8Array
      ? template.subjectKeyId
      : (template.subjectKeyId ?? isCA)
        ? keyIdentifier(spki)
        : undefined;
  if (ski) extensions.push(extension(OID.subjectKeyIdentifier, false, octetString(ski)));
  const aki =
    template.authorityKeyId instanceof Uint8Array
      ? template.authorityKeyId
      : template.authorityKeyId === false
        ? undefined
        : options.issuer
          ? options.issuer.subjectKeyId
          : template.authorityKeyId === true
            ? ski
            : undefined;
  if (aki) extensions.push(extension(OID.authorityKeyIdentifier, false, sequence(tlv(context(0, false), aki))));
  if (hasNames) {
    let names: Buffer;
    try {
      names = encodeGeneralNames({
        uris,
        dnsNames: template.dnsNames,
        ipAddresses: template.ipAddresses,
        emails: template.emails,
      });
    } catch (error) {
      throw invalid((error as Error).message);
    }
    extensions.push(extension(OID.subjectAltName, template.subjectAltNameCritical ?? subject.isEmpty, names));
  }
  if (template.nameConstraints) {
    const { permitted, excluded, critical = true } = template.nameConstraints;
    const parts: Buffer[] = [];
    if (permitted) parts.push(tlv(context(0, true), ...subtrees(permitted)));
    if (excluded) parts.push(tlv(context(1, true), ...subtrees(excluded)));
    extensions.push(extension(OID.nameConstraints, critical, sequence(...parts)));
  }
  for (const ext of template.extensions ?? []) extensions.push(extension(ext.oid, ext.critical, ext.value));

  const tbs = sequence(
    explicit(0, integer(2)),
    integer(template.serialNumber ?? randomSerialNumber()),
    signer.algorithm,
    Buffer.from(issuerName.der),
    sequence(time(notBefore), time(notAfter)),
    Buffer.from(subject.der),
    spki,
    ...(extensions.length ? [explicit(3, sequence(...extensions))] : []),
  );
  const der = sequence(tbs, signer.algorithm, bitString(signer.sign(tbs)));
  return parseCertificate(der);
}
