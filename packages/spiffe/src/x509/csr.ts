// PKCS#10 certificate signing requests (RFC 2986): parsing with signature verification, and creation.
import type { KeyObject } from 'node:crypto';
import { SpiffeError } from '../errors.js';
import type { SpiffeId } from '../id.js';
import { publicKeyInfoOf } from '../keys.js';
import { decodePem, encodePem, looksLikePem } from '../pem.js';
import {
  type BasicConstraints,
  decodeExtensions,
  describeSpki,
  type Extension,
  type ExtKeyUsageExtension,
  type KeyUsageExtension,
  type PublicKeyInfo,
  readExtensionList,
  type SubjectAltName,
} from './certificate.js';
import {
  bitString,
  boolean,
  children,
  context,
  DerError,
  integer,
  octetString,
  oid,
  readBitString,
  readOid,
  readRoot,
  readSmallInt,
  sequence,
  set,
  Tag,
  tlv,
  whole,
} from './der.js';
import { type DistinguishedName, encodeGeneralNames, parseName } from './name.js';
import { OID } from './oids.js';
import { type NameInput, toName } from './build.js';
import {
  parseSignatureAlgorithm,
  parseSpkiAlgorithm,
  publicKeyFromSpki,
  signerFor,
  verifySignature,
  type SignatureAlgorithm,
} from './signature.js';

/** A parsed PKCS#10 request. Its signature is not checked by parsing: call `verifySignature()`. */
export class CertificateRequest {
  readonly der: Buffer;
  /** certificationRequestInfo, DER (the signed part). */
  readonly info: Uint8Array;
  readonly subject: DistinguishedName;
  readonly publicKeyInfo: Uint8Array;
  readonly publicKeyAlgorithm: PublicKeyInfo;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  /** Requested extensions (from the PKCS#9 extensionRequest attribute). */
  readonly extensions: readonly Extension[];
  /** OIDs of attributes other than extensionRequest. */
  readonly otherAttributes: readonly string[];
  readonly subjectAltName: SubjectAltName | undefined;
  readonly keyUsage: KeyUsageExtension | undefined;
  readonly extKeyUsage: ExtKeyUsageExtension | undefined;
  readonly basicConstraints: BasicConstraints | undefined;
  #publicKey: KeyObject | undefined;
  #signatureValid: boolean | undefined;

  /** @internal */
  constructor(fields: {
    der: Buffer;
    info: Uint8Array;
    subject: DistinguishedName;
    publicKeyInfo: Uint8Array;
    publicKeyAlgorithm: PublicKeyInfo;
    signatureAlgorithm: SignatureAlgorithm;
    signature: Uint8Array;
    extensions: readonly Extension[];
    otherAttributes: readonly string[];
  }) {
    this.der = fields.der;
    this.info = fields.info;
    this.subject = fields.subject;
    this.publicKeyInfo = fields.publicKeyInfo;
    this.publicKeyAlgorithm = fields.publicKeyAlgorithm;
    this.signatureAlgorithm = fields.signatureAlgorithm;
    this.signature = fields.signature;
    this.extensions = fields.extensions;
    this.otherAttributes = fields.otherAttributes;
    const decoded = decodeExtensions(fields.extensions);
    this.subjectAltName = decoded.subjectAltName;
    this.keyUsage = decoded.keyUsage;
    this.extKeyUsage = decoded.extKeyUsage;
    this.basicConstraints = decoded.basicConstraints;
  }

  get publicKey(): KeyObject {
    this.#publicKey ??= publicKeyFromSpki(this.publicKeyInfo);
    return this.#publicKey;
  }

  get uris(): readonly string[] {
    return this.subjectAltName?.uris ?? [];
  }

  /** Whether the request is signed by the key it carries (proof of possession). */
  verifySignature(): boolean {
    if (this.#signatureValid === undefined) {
      let key: KeyObject;
      try {
        key = this.publicKey;
      } catch {
        return (this.#signatureValid = false);
      }
      this.#signatureValid = verifySignature(this.signatureAlgorithm, this.info, this.signature, key);
    }
    return this.#signatureValid;
  }

  toPem(): string {
    return encodePem('CERTIFICATE REQUEST', this.der);
  }
}

function badCsr(message: string, cause?: unknown): SpiffeError {
  return new SpiffeError('ERR_SPIFFE_BAD_CSR', message, cause === undefined ? {} : { cause });
}

/** Parses a PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or DER PKCS#10 request. */
export function parseCertificateRequest(input: string | Uint8Array): CertificateRequest {
  let der: Buffer;
  if (looksLikePem(input)) {
    let blocks;
    try {
      blocks = decodePem(input, { labels: ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'] });
    } catch (error) {
      throw badCsr((error as Error).message, error);
    }
    if (blocks.length !== 1) throw badCsr(`expected one CSR, found ${blocks.length}`);
    der = blocks[0]!.der;
  } else der = Buffer.from(input);
  try {
    return readRequest(der);
  } catch (error) {
    if (error instanceof DerError) throw badCsr(error.message, error);
    throw error;
  }
}

function readRequest(der: Buffer): CertificateRequest {
  const root = readRoot(der, Tag.SEQUENCE, 'CertificationRequest');
  const [infoTlv, algTlv, sigTlv, extra] = children(der, root);
  if (!infoTlv || !algTlv || !sigTlv || extra || infoTlv.tag !== Tag.SEQUENCE)
    throw new DerError('CertificationRequest: expected 3 elements');
  const signatureAlgorithm = parseSignatureAlgorithm(der, algTlv);
  const signature = readBitString(der, sigTlv, 'signature');
  const [versionTlv, subjectTlv, spkiTlv, attrsTlv, more] = children(der, infoTlv);
  if (!versionTlv || !subjectTlv || !spkiTlv || more) throw new DerError('certificationRequestInfo: malformed');
  if (versionTlv.tag !== Tag.INTEGER || readSmallInt(der, versionTlv, 'version') !== 0)
    throw new DerError('certificationRequestInfo: version must be 0');
  const subject = parseName(der, subjectTlv);
  const spkiAlg = parseSpkiAlgorithm(der, spkiTlv);
  const extensions: Extension[] = [];
  const otherAttributes: string[] = [];
  if (attrsTlv) {
    if (attrsTlv.tag !== context(0, true)) throw new DerError('certificationRequestInfo: attributes must be [0]');
    for (const attr of children(der, attrsTlv)) {
      const [typeTlv, valuesTlv] = children(der, attr);
      if (!typeTlv || !valuesTlv || valuesTlv.tag !== Tag.SET) throw new DerError('attribute: malformed');
      const type = readOid(der, typeTlv);
      if (type !== OID.extensionRequest) {
        otherAttributes.push(type);
        continue;
      }
      const [extSeq, extraValue] = children(der, valuesTlv);
      if (!extSeq || extraValue || extSeq.tag !== Tag.SEQUENCE) throw new DerError('extensionRequest: malformed');
      extensions.push(...readExtensionList(der, extSeq));
    }
  }
  const publicKeyAlgorithm = describeSpki(der, spkiTlv, spkiAlg);
  return new CertificateRequest({
    der,
    info: whole(der, infoTlv),
    subject,
    publicKeyInfo: whole(der, spkiTlv),
    publicKeyAlgorithm,
    signatureAlgorithm,
    signature: signature.bytes,
    extensions,
    otherAttributes,
  });
}

export interface CertificateRequestTemplate {
  /** The key the request is for; it also signs the request. */
  privateKey: KeyObject;
  /** Empty by default, as ztunnel and istio-agent send. */
  subject?: NameInput;
  uris?: ReadonlyArray<string | SpiffeId>;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

/** Creates a signed PKCS#10 request; the SAN extension is critical when the subject is empty (as ztunnel does). */
export function createCertificateRequest(template: CertificateRequestTemplate): CertificateRequest {
  const subject = toName(template.subject);
  const uris = (template.uris ?? []).map(String);
  const extensions: Buffer[] = [];
  if (uris.length || template.dnsNames?.length || template.ipAddresses?.length) {
    let names: Buffer;
    try {
      names = encodeGeneralNames({ uris, dnsNames: template.dnsNames, ipAddresses: template.ipAddresses });
    } catch (error) {
      throw new SpiffeError('ERR_SPIFFE_INVALID_TEMPLATE', (error as Error).message);
    }
    const critical = subject.isEmpty;
    extensions.push(
      critical
        ? sequence(oid(OID.subjectAltName), boolean(true), octetString(names))
        : sequence(oid(OID.subjectAltName), octetString(names)),
    );
  }
  const attributes = extensions.length ? [sequence(oid(OID.extensionRequest), set(sequence(...extensions)))] : [];
  const signer = signerFor(template.privateKey);
  const info = sequence(
    integer(0),
    Buffer.from(subject.der),
    publicKeyInfoOf(template.privateKey),
    tlv(context(0, true), ...attributes),
  );
  const der = sequence(info, signer.algorithm, bitString(signer.sign(info)));
  return parseCertificateRequest(der);
}
