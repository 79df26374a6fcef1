// X.509 certificates (RFC 5280 §4): a strict parser into an immutable model with the extensions SVIDs use decoded.
import { createHash, type KeyObject } from 'node:crypto';
import { SpiffeError } from '../errors.js';
import { decodePem, encodePem, looksLikePem } from '../pem.js';
import {
  children,
  content,
  DerError,
  expectTlv,
  readBitString,
  readBoolean,
  readOid,
  readRoot,
  readSmallInt,
  readTime,
  Tag,
  whole,
  type Tlv,
} from './der.js';
import { type DistinguishedName, formatIp, GN, parseGeneralNames, parseName, type GeneralNames } from './name.js';
import { extKeyUsageNames, OID } from './oids.js';
import {
  curveName,
  parseSignatureAlgorithm,
  parseSpkiAlgorithm,
  publicKeyFromSpki,
  verifySignature,
  type SignatureAlgorithm,
} from './signature.js';

export const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** The DER inside extnValue's OCTET STRING. */
  readonly value: Uint8Array;
}

export interface BasicConstraints {
  readonly ca: boolean;
  readonly pathLen?: number;
  readonly critical: boolean;
}

export interface KeyUsageExtension {
  readonly usages: ReadonlySet<KeyUsage>;
  readonly critical: boolean;
}

export interface ExtKeyUsageExtension {
  /** OIDs; see `names` for short names of the common ones. */
  readonly oids: readonly string[];
  readonly names: readonly string[];
  readonly critical: boolean;
}

export interface SubjectAltName extends GeneralNames {
  readonly critical: boolean;
}

/** One subtree of a name constraint; only the types SVID chains use are decoded. */
export type GeneralSubtree =
  | { readonly type: 'uri' | 'dns' | 'email'; readonly value: string }
  | { readonly type: 'ip'; readonly address: Uint8Array; readonly mask: Uint8Array; readonly value: string }
  | { readonly type: 'other'; readonly tag: number };

export interface NameConstraints {
  readonly permitted: readonly GeneralSubtree[];
  readonly excluded: readonly GeneralSubtree[];
  readonly critical: boolean;
}

export interface PublicKeyInfo {
  /** ec, rsa, ed25519, or the algorithm OID. */
  readonly type: string;
  /** P-256, P-384, P-521 for EC keys. */
  readonly curve?: string;
  /** Modulus size for RSA keys. */
  readonly bits?: number;
}

/** A parsed X.509 certificate. Build one with `parseCertificate`, never directly. */
export class Certificate {
  /** The whole certificate, DER. */
  readonly der: Buffer;
  /** The signed part (tbsCertificate), DER. */
  readonly tbs: Uint8Array;
  /** 1, 2 or 3. */
  readonly version: number;
  /** Lowercase hex of the serial number's content octets. */
  readonly serialNumber: string;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  readonly issuer: DistinguishedName;
  readonly subject: DistinguishedName;
  /** Validity bounds in epoch milliseconds, both inclusive. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKeyInfo: Uint8Array;
  readonly publicKeyAlgorithm: PublicKeyInfo;
  readonly extensions: readonly Extension[];
  readonly basicConstraints: BasicConstraints | undefined;
  readonly keyUsage: KeyUsageExtension | undefined;
  readonly extKeyUsage: ExtKeyUsageExtension | undefined;
  readonly subjectAltName: SubjectAltName | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
  #publicKey: KeyObject | undefined;
  #fingerprint: string | undefined;

  /** @internal */
  constructor(fields: CertificateFields) {
    this.der = fields.der;
    this.tbs = fields.tbs;
    this.version = fields.version;
    this.serialNumber = fields.serialNumber;
    this.signatureAlgorithm = fields.signatureAlgorithm;
    this.signature = fields.signature;
    this.issuer = fields.issuer;
    this.subject = fields.subject;
    this.notBefore = fields.notBefore;
    this.notAfter = fields.notAfter;
    this.publicKeyInfo = fields.publicKeyInfo;
    this.publicKeyAlgorithm = fields.publicKeyAlgorithm;
    this.extensions = fields.extensions;
    this.basicConstraints = fields.basicConstraints;
    this.keyUsage = fields.keyUsage;
    this.extKeyUsage = fields.extKeyUsage;
    this.subjectAltName = fields.subjectAltName;
    this.nameConstraints = fields.nameConstraints;
    this.subjectKeyId = fields.subjectKeyId;
    this.authorityKeyId = fields.authorityKeyId;
  }

  /** The subject public key as a node:crypto KeyObject (created on first use). */
  get publicKey(): KeyObject {
    this.#publicKey ??= publicKeyFromSpki(this.publicKeyInfo);
    return this.#publicKey;
  }

  /** URI SANs (for an SVID: exactly one, the SPIFFE ID). */
  get uris(): readonly string[] {
    return this.subjectAltName?.uris ?? [];
  }

  get dnsNames(): readonly string[] {
    return this.subjectAltName?.dnsNames ?? [];
  }

  get ipAddresses(): readonly string[] {
    return this.subjectAltName?.ipAddresses ?? [];
  }

  /** basicConstraints cA=true. */
  get isCA(): boolean {
    return this.basicConstraints?.ca === true;
  }

  /** Subject and issuer names are the same (a root, or a re-keyed CA). */
  get isSelfIssued(): boolean {
    return this.subject.equals(this.issuer);
  }

  /** SHA-256 of the DER, lowercase hex. */
  get fingerprint256(): string {
    this.#fingerprint ??= createHash('sha256').update(this.der).digest('hex');
    return this.#fingerprint;
  }

  /** Inclusive validity check at `atMs` (epoch milliseconds). */
  isValidAt(atMs: number): boolean {
    return atMs >= this.notBefore && atMs <= this.notAfter;
  }

  /** Whether `issuer`'s key verifies this certificate's signature (no other check). */
  isSignedBy(issuer: Certificate | KeyObject): boolean {
    const key = issuer instanceof Certificate ? issuer.publicKey : issuer;
    return verifySignature(this.signatureAlgorithm, this.tbs, this.signature, key);
  }

  extension(oid: string): Extension | undefined {
    return this.extensions.find((e) => e.oid === oid);
  }

  equals(other: Certificate): boolean {
    return this.der.equals(other.der);
  }

  toPem(): string {
    return encodePem('CERTIFICATE', this.der);
  }

  /** A plain summary for logs and JSON output (no key material). */
  toJSON(): Record<string, unknown> {
    return describeCertificate(this);
  }
}

/** @internal What the parser hands the constructor. */
export interface CertificateFields {
  der: Buffer;
  tbs: Uint8Array;
  version: number;
  serialNumber: string;
  signatureAlgorithm: SignatureAlgorithm;
  signature: Uint8Array;
  issuer: DistinguishedName;
  subject: DistinguishedName;
  notBefore: number;
  notAfter: number;
  publicKeyInfo: Uint8Array;
  publicKeyAlgorithm: PublicKeyInfo;
  extensions: readonly Extension[];
  basicConstraints: BasicConstraints | undefined;
  keyUsage: KeyUsageExtension | undefined;
  extKeyUsage: ExtKeyUsageExtension | undefined;
  subjectAltName: SubjectAltName | undefined;
  nameConstraints: NameConstraints | undefined;
  subjectKeyId: Uint8Array | undefined;
  authorityKeyId: Uint8Array | undefined;
}

/** A JSON-friendly description of a certificate (what meshctl ca inspect prints). */
export function describeCertificate(cert: Certificate): Record<string, unknown> {
  return {
    subject: cert.subject.toString(),
    issuer: cert.issuer.toString(),
    serialNumber: cert.serialNumber,
    notBefore: new Date(cert.notBefore).toISOString(),
    notAfter: new Date(cert.notAfter).toISOString(),
    signatureAlgorithm: cert.signatureAlgorithm.name,
    publicKey: cert.publicKeyAlgorithm,
    ca: cert.basicConstraints ? cert.basicConstraints.ca : null,
    pathLen: cert.basicConstraints?.pathLen ?? null,
    keyUsage: cert.keyUsage ? [...cert.keyUsage.usages] : null,
    extKeyUsage: cert.extKeyUsage ? cert.extKeyUsage.names : null,
    uris: cert.uris,
    dnsNames: cert.dnsNames,
    ipAddresses: cert.ipAddresses,
    subjectKeyId: cert.subjectKeyId ? Buffer.from(cert.subjectKeyId).toString('hex') : null,
    authorityKeyId: cert.authorityKeyId ? Buffer.from(cert.authorityKeyId).toString('hex') : null,
    fingerprintSha256: cert.fingerprint256,
  };
}

function badCertificate(message: string, cause?: unknown): SpiffeError {
  return new SpiffeError('ERR_SPIFFE_BAD_CERTIFICATE', message, cause === undefined ? {} : { cause });
}

/** Parses one DER certificate, or a PEM text holding exactly one CERTIFICATE block. */
export function parseCertificate(input: Uint8Array | string): Certificate {
  if (looksLikePem(input)) {
    const certs = parseCertificates(input);
    if (certs.length !== 1) throw badCertificate(`expected one certificate, found ${certs.length}`);
    return certs[0]!;
  }
  return parseCertificateDer(Buffer.from(input as Uint8Array));
}

/**
 * Parses certificates from PEM text (every CERTIFICATE block, in order), from DER bytes (one or several concatenated
 * certificates), or from an array of either.
 */
export function parseCertificates(
  input: string | Uint8Array | ReadonlyArray<string | Uint8Array | Certificate>,
): Certificate[] {
  if (Array.isArray(input))
    return (input as ReadonlyArray<string | Uint8Array | Certificate>).flatMap((item) =>
      item instanceof Certificate ? [item] : parseCertificates(item),
    );
  const single = input as string | Uint8Array;
  if (looksLikePem(single))
    return decodePem(single, { labels: ['CERTIFICATE'] }).map((block) => parseCertificateDer(block.der));
  const der = Buffer.from(single);
  const out: Certificate[] = [];
  for (let at = 0; at < der.length;) {
    let tlv: Tlv;
    try {
      tlv = expectTlv(der, at, der.length, Tag.SEQUENCE, 'Certificate');
    } catch (error) {
      throw badCertificate(`certificate ${out.length + 1}: ${(error as Error).message}`, error);
    }
    out.push(parseCertificateDer(der.subarray(at, tlv.end)));
    at = tlv.end;
  }
  if (out.length === 0) throw badCertificate('no certificate in an empty input');
  return out;
}

function parseCertificateDer(der: Buffer): Certificate {
  try {
    return new Certificate(readCertificate(der));
  } catch (error) {
    if (error instanceof DerError) throw badCertificate(error.message, error);
    throw error;
  }
}

function readCertificate(der: Buffer): CertificateFields {
  const root = readRoot(der, Tag.SEQUENCE, 'Certificate');
  const [tbsTlv, sigAlgTlv, sigTlv, extra] = children(der, root);
  if (!tbsTlv || !sigAlgTlv || !sigTlv || extra) throw new DerError('Certificate: expected 3 elements');
  if (tbsTlv.tag !== Tag.SEQUENCE) throw new DerError('tbsCertificate: expected a SEQUENCE');
  const signatureAlgorithm = parseSignatureAlgorithm(der, sigAlgTlv);
  const signature = readBitString(der, sigTlv, 'signatureValue');
  if (signature.unused !== 0) throw new DerError('signatureValue: unused bits');

  const fields = children(der, tbsTlv);
  let i = 0;
  let version = 1;
  if (fields[i]?.tag === 0xa0) {
    const [v, more] = children(der, fields[i]!);
    if (!v || more || v.tag !== Tag.INTEGER) throw new DerError('version: malformed');
    version = readSmallInt(der, v, 'version') + 1;
    if (version < 1 || version > 3) throw new DerError(`unknown certificate version ${version}`);
    i++;
  }
  const serialTlv = fields[i++];
  if (!serialTlv || serialTlv.tag !== Tag.INTEGER || serialTlv.end === serialTlv.contentStart)
    throw new DerError('serialNumber: expected an INTEGER');
  const innerAlgTlv = fields[i++];
  if (!innerAlgTlv) throw new DerError('tbsCertificate: missing signature algorithm');
  if (!Buffer.from(whole(der, innerAlgTlv)).equals(whole(der, sigAlgTlv)))
    throw new DerError('the signature algorithm inside tbsCertificate differs from the outer one (RFC 5280 §4.1.1.2)');
  const issuerTlv = fields[i++];
  const validityTlv = fields[i++];
  const subjectTlv = fields[i++];
  const spkiTlv = fields[i++];
  if (!issuerTlv || !validityTlv || !subjectTlv || !spkiTlv) throw new DerError('tbsCertificate: missing fields');
  const issuer = parseName(der, issuerTlv);
  if (issuer.isEmpty) throw new DerError('issuer: empty name (RFC 5280 §4.1.2.4)');
  if (validityTlv.tag !== Tag.SEQUENCE) throw new DerError('validity: expected a SEQUENCE');
  const [nbTlv, naTlv, moreValidity] = children(der, validityTlv);
  if (!nbTlv || !naTlv || moreValidity) throw new DerError('validity: expected notBefore and notAfter');
  const notBefore = readTime(der, nbTlv);
  const notAfter = readTime(der, naTlv);
  const subject = parseName(der, subjectTlv);
  const spkiAlg = parseSpkiAlgorithm(der, spkiTlv);
  const publicKeyInfo = whole(der, spkiTlv);

  // Optional issuerUniqueID [1], subjectUniqueID [2], extensions [3].
  let extensionsTlv: Tlv | undefined;
  for (; i < fields.length; i++) {
    const f = fields[i]!;
    if ((f.tag === 0x81 || f.tag === 0x82) && version >= 2) continue;
    if (f.tag === 0xa3 && version === 3 && !extensionsTlv) {
      extensionsTlv = f;
      continue;
    }
    throw new DerError(`tbsCertificate: unexpected field with tag 0x${f.tag.toString(16)}`);
  }

  const extensions = extensionsTlv ? readExtensions(der, extensionsTlv) : [];
  const decoded = decodeExtensions(extensions);
  return {
    der,
    tbs: whole(der, tbsTlv),
    version,
    serialNumber: Buffer.from(content(der, serialTlv)).toString('hex'),
    signatureAlgorithm,
    signature: signature.bytes,
    issuer,
    subject,
    notBefore,
    notAfter,
    publicKeyInfo,
    publicKeyAlgorithm: describeSpki(der, spkiTlv, spkiAlg),
    extensions,
    ...decoded,
  };
}

export function describeSpki(der: Uint8Array, spkiTlv: Tlv, alg: { oid: string; curveOid?: string }): PublicKeyInfo {
  if (alg.oid === OID.ecPublicKey) return { type: 'ec', curve: curveName(alg.curveOid) ?? alg.curveOid ?? 'unknown' };
  if (alg.oid === OID.ed25519) return { type: 'ed25519' };
  if (alg.oid === OID.rsaEncryption) {
    const [, keyTlv] = children(der, spkiTlv);
    const bits = readBitString(der, keyTlv!, 'subjectPublicKey').bytes;
    const rsa = readRoot(bits, Tag.SEQUENCE, 'RSAPublicKey');
    const [n] = children(bits, rsa);
    if (!n || n.tag !== Tag.INTEGER) throw new DerError('RSAPublicKey: malformed');
    let start = n.contentStart;
    while (start < n.end && bits[start] === 0) start++;
    const top = bits[start] ?? 0;
    return { type: 'rsa', bits: (n.end - start - 1) * 8 + (32 - Math.clz32(top)) };
  }
  return { type: alg.oid };
}

/** The Extensions SEQUENCE inside [3] (certificates) or inside an extensionRequest attribute (CSRs). */
export function readExtensions(der: Uint8Array, wrapper: Tlv): Extension[] {
  const [seq, extra] = children(der, wrapper);
  if (!seq || extra || seq.tag !== Tag.SEQUENCE) throw new DerError('extensions: expected a SEQUENCE');
  return readExtensionList(der, seq);
}

export function readExtensionList(der: Uint8Array, seq: Tlv): Extension[] {
  const out: Extension[] = [];
  const seen = new Set<string>();
  for (const extTlv of children(der, seq)) {
    if (extTlv.tag !== Tag.SEQUENCE) throw new DerError('extension: expected a SEQUENCE');
    const parts = children(der, extTlv);
    const oidText = readOid(der, parts[0] ?? fail('extension: missing OID'));
    let critical = false;
    let valueTlv = parts[1];
    if (valueTlv?.tag === Tag.BOOLEAN) {
      critical = readBoolean(der, valueTlv);
      valueTlv = parts[2];
      if (parts.length !== 3) throw new DerError(`extension ${oidText}: malformed`);
    } else if (parts.length !== 2) throw new DerError(`extension ${oidText}: malformed`);
    if (!valueTlv || valueTlv.tag !== Tag.OCTET_STRING) throw new DerError(`extension ${oidText}: missing extnValue`);
    if (seen.has(oidText)) throw new DerError(`extension ${oidText} appears twice (RFC 5280 §4.2)`);
    seen.add(oidText);
    out.push({ oid: oidText, critical, value: content(der, valueTlv) });
  }
  return out;
}

const fail = (message: string): never => {
  throw new DerError(message);
};

type DecodedExtensions = Pick<
  CertificateFields,
  | 'basicConstraints'
  | 'keyUsage'
  | 'extKeyUsage'
  | 'subjectAltName'
  | 'nameConstraints'
  | 'subjectKeyId'
  | 'authorityKeyId'
>;

export function decodeExtensions(extensions: readonly Extension[]): DecodedExtensions {
  const out: DecodedExtensions = {
    basicConstraints: undefined,
    keyUsage: undefined,
    extKeyUsage: undefined,
    subjectAltName: undefined,
    nameConstraints: undefined,
    subjectKeyId: undefined,
    authorityKeyId: undefined,
  };
  for (const ext of extensions) {
    const v = ext.value;
    switch (ext.oid) {
      case OID.basicConstraints: {
        const seq = readRoot(v, Tag.SEQUENCE, 'basicConstraints');
        let ca = false;
        let pathLen: number | undefined;
        for (const item of children(v, seq)) {
          if (item.tag === Tag.BOOLEAN) ca = readBoolean(v, item);
          else if (item.tag === Tag.INTEGER) pathLen = readSmallInt(v, item, 'pathLenConstraint');
          else throw new DerError('basicConstraints: malformed');
        }
        out.basicConstraints =
          pathLen === undefined ? { ca, critical: ext.critical } : { ca, pathLen, critical: ext.critical };
        break;
      }
      case OID.keyUsage: {
        const { bytes } = readBitString(v, readRoot(v, Tag.BIT_STRING, 'keyUsage'), 'keyUsage');
        const usages = new Set<KeyUsage>();
        KEY_USAGES.forEach((name, bit) => {
          if (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) usages.add(name);
        });
        out.keyUsage = { usages, critical: ext.critical };
        break;
      }
      case OID.extKeyUsage: {
        const seq = readRoot(v, Tag.SEQUENCE, 'extKeyUsage');
        const oids = children(v, seq).map((t) => readOid(v, t));
        if (oids.length === 0) throw new DerError('extKeyUsage: empty');
        out.extKeyUsage = { oids, names: oids.map((o) => extKeyUsageNames[o] ?? o), critical: ext.critical };
        break;
      }
      case OID.subjectAltName:
        out.subjectAltName = {
          ...parseGeneralNames(v, readRoot(v, Tag.SEQUENCE, 'subjectAltName'), 'subjectAltName'),
          critical: ext.critical,
        };
        break;
      case OID.nameConstraints:
        out.nameConstraints = parseNameConstraints(v, ext.critical);
        break;
      case OID.subjectKeyIdentifier:
        out.subjectKeyId = content(v, readRoot(v, Tag.OCTET_STRING, 'subjectKeyIdentifier'));
        break;
      case OID.authorityKeyIdentifier: {
        const seq = readRoot(v, Tag.SEQUENCE, 'authorityKeyIdentifier');
        const keyId = children(v, seq).find((t) => t.tag === 0x80);
        if (keyId) out.authorityKeyId = content(v, keyId);
        break;
      }
    }
  }
  return out;
}

function parseNameConstraints(v: Uint8Array, critical: boolean): NameConstraints {
  const seq = readRoot(v, Tag.SEQUENCE, 'nameConstraints');
  const permitted: GeneralSubtree[] = [];
  const excluded: GeneralSubtree[] = [];
  for (const part of children(v, seq)) {
    const target = part.tag === 0xa0 ? permitted : part.tag === 0xa1 ? excluded : fail('nameConstraints: malformed');
    for (const subtree of children(v, part)) {
      if (subtree.tag !== Tag.SEQUENCE) throw new DerError('nameConstraints: malformed subtree');
      const [base] = children(v, subtree);
      if (!base) throw new DerError('nameConstraints: empty subtree');
      const text = () => Buffer.from(content(v, base)).toString('latin1');
      if (base.tag === GN.uri) target.push({ type: 'uri', value: text() });
      else if (base.tag === GN.dns) target.push({ type: 'dns', value: text() });
      else if (base.tag === GN.email) target.push({ type: 'email', value: text() });
      else if (base.tag === GN.ip) {
        const bytes = content(v, base);
        if (bytes.length !== 8 && bytes.length !== 32) throw new DerError('nameConstraints: bad iPAddress subtree');
        const half = bytes.length / 2;
        const address = bytes.subarray(0, half);
        const mask = bytes.subarray(half);
        target.push({ type: 'ip', address, mask, value: `${formatIp(address)}/${formatIp(mask)}` });
      } else target.push({ type: 'other', tag: base.tag });
    }
  }
  if (permitted.length === 0 && excluded.length === 0) throw new DerError('nameConstraints: no subtrees (RFC 5280)');
  return { permitted, excluded, critical };
}
