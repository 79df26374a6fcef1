// Signature and public-key algorithms: parsing AlgorithmIdentifiers, verifying and creating signatures with node:crypto.
import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { importPublicKeyInfo } from '../keys.js';
import { children, DerError, nullValue, oid, readOid, readSmallInt, sequence, Tag, type Tlv } from './der.js';
import { OID } from './oids.js';

export type HashName = 'sha256' | 'sha384' | 'sha512';

export interface SignatureAlgorithm {
  readonly oid: string;
  /** e.g. ecdsa-with-SHA256, sha256WithRSAEncryption, RSASSA-PSS, Ed25519. */
  readonly name: string;
  readonly kind: 'ecdsa' | 'rsa' | 'rsa-pss' | 'ed25519' | 'unsupported';
  readonly hash: HashName | null;
  /** RSASSA-PSS salt length. */
  readonly saltLength?: number;
}

const simple: Record<string, Omit<SignatureAlgorithm, 'oid'>> = {
  [OID.ecdsaWithSha256]: { name: 'ecdsa-with-SHA256', kind: 'ecdsa', hash: 'sha256' },
  [OID.ecdsaWithSha384]: { name: 'ecdsa-with-SHA384', kind: 'ecdsa', hash: 'sha384' },
  [OID.ecdsaWithSha512]: { name: 'ecdsa-with-SHA512', kind: 'ecdsa', hash: 'sha512' },
  [OID.sha256WithRsa]: { name: 'sha256WithRSAEncryption', kind: 'rsa', hash: 'sha256' },
  [OID.sha384WithRsa]: { name: 'sha384WithRSAEncryption', kind: 'rsa', hash: 'sha384' },
  [OID.sha512WithRsa]: { name: 'sha512WithRSAEncryption', kind: 'rsa', hash: 'sha512' },
  [OID.ed25519]: { name: 'Ed25519', kind: 'ed25519', hash: null },
  [OID.sha1WithRsa]: { name: 'sha1WithRSAEncryption', kind: 'unsupported', hash: null },
  [OID.ecdsaWithSha1]: { name: 'ecdsa-with-SHA1', kind: 'unsupported', hash: null },
};

const hashOids: Record<string, HashName> = { [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };

/** Reads an AlgorithmIdentifier used for a signature. Unknown or weak algorithms parse with kind `unsupported`. */
export function parseSignatureAlgorithm(buf: Uint8Array, tlv: Tlv): SignatureAlgorithm {
  if (tlv.tag !== Tag.SEQUENCE) throw new DerError('AlgorithmIdentifier: expected a SEQUENCE');
  const [oidTlv, params, extra] = children(buf, tlv);
  if (!oidTlv || extra) throw new DerError('AlgorithmIdentifier: malformed');
  const oidText = readOid(buf, oidTlv);
  const known = simple[oidText];
  if (known) {
    // ECDSA and EdDSA identifiers have absent parameters; RSA PKCS#1 v1.5 ones have NULL (RFC 5758, 8410, 4055).
    if (known.kind === 'rsa' && params && params.tag !== Tag.NULL) throw new DerError(`${known.name}: bad parameters`);
    if ((known.kind === 'ecdsa' || known.kind === 'ed25519') && params)
      throw new DerError(`${known.name}: parameters must be absent`);
    return { oid: oidText, ...known };
  }
  if (oidText === OID.rsassaPss) return parsePssParams(buf, params);
  return { oid: oidText, name: oidText, kind: 'unsupported', hash: null };
}

function parsePssParams(buf: Uint8Array, params: Tlv | undefined): SignatureAlgorithm {
  const unsupported = { oid: OID.rsassaPss, name: 'RSASSA-PSS', kind: 'unsupported', hash: null } as const;
  if (!params || params.tag !== Tag.SEQUENCE) return unsupported; // SHA-1 defaults
  let hash: HashName | undefined;
  let mgfHash: HashName | undefined;
  let saltLength = 20;
  for (const field of children(buf, params)) {
    const [inner] = children(buf, field);
    if (!inner) throw new DerError('RSASSA-PSS: malformed parameters');
    if (field.tag === 0xa0) {
      const [h] = children(buf, inner);
      hash = h ? hashOids[readOid(buf, h)] : undefined;
    } else if (field.tag === 0xa1) {
      const [mgf, mgfParams] = children(buf, inner);
      if (!mgf || readOid(buf, mgf) !== OID.mgf1 || !mgfParams) return unsupported;
      const [h] = children(buf, mgfParams);
      mgfHash = h ? hashOids[readOid(buf, h)] : undefined;
    } else if (field.tag === 0xa2) saltLength = readSmallInt(buf, inner, 'RSASSA-PSS saltLength');
    else if (field.tag === 0xa3 && readSmallInt(buf, inner, 'RSASSA-PSS trailerField') !== 1) return unsupported;
  }
  if (!hash || hash !== mgfHash) return unsupported;
  return { oid: OID.rsassaPss, name: 'RSASSA-PSS', kind: 'rsa-pss', hash, saltLength };
}

/** Verifies `signature` over `data`; false on a bad signature or a key that does not fit the algorithm. */
export function verifySignature(
  alg: SignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): boolean {
  const type = key.asymmetricKeyType;
  try {
    switch (alg.kind) {
      case 'ecdsa':
        return type === 'ec' && verify(alg.hash, data, { key, dsaEncoding: 'der' }, signature);
      case 'rsa':
        return type === 'rsa' && verify(alg.hash, data, key, signature);
      case 'rsa-pss':
        return (
          (type === 'rsa' || type === 'rsa-pss') &&
          verify(
            alg.hash,
            data,
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength ?? 20 },
            signature,
          )
        );
      case 'ed25519':
        return type === 'ed25519' && verify(null, data, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

export interface PublicKeyAlgorithm {
  /** ec, rsa, ed25519, or the SPKI algorithm OID when it is none of those. */
  readonly type: string;
  /** EC curve: P-256, P-384 or P-521. */
  readonly curve?: string;
  /** RSA modulus size. */
  readonly bits?: number;
}

const curves: Record<string, string> = { [OID.p256]: 'P-256', [OID.p384]: 'P-384', [OID.p521]: 'P-521' };

export function describePublicKey(key: KeyObject): PublicKeyAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }[details.namedCurve ?? ''];
      return { type: 'ec', curve: curve ?? details.namedCurve ?? 'unknown' };
    }
    case 'rsa':
    case 'rsa-pss':
      return { type: 'rsa', bits: details.modulusLength ?? 0 };
    default:
      return { type: key.asymmetricKeyType ?? 'unknown' };
  }
}

/** Reads the algorithm of a SubjectPublicKeyInfo without creating a key object. */
export function parseSpkiAlgorithm(buf: Uint8Array, spki: Tlv): { oid: string; curveOid?: string } {
  if (spki.tag !== Tag.SEQUENCE) throw new DerError('SubjectPublicKeyInfo: expected a SEQUENCE');
  const [algTlv, keyTlv, extra] = children(buf, spki);
  if (!algTlv || !keyTlv || extra || algTlv.tag !== Tag.SEQUENCE || keyTlv.tag !== Tag.BIT_STRING)
    throw new DerError('SubjectPublicKeyInfo: malformed');
  const [oidTlv, params] = children(buf, algTlv);
  if (!oidTlv) throw new DerError('SubjectPublicKeyInfo: missing algorithm');
  const oidText = readOid(buf, oidTlv);
  if (oidText === OID.ecPublicKey) {
    if (!params || params.tag !== Tag.OID) throw new DerError('EC public key: named curve required');
    return { oid: oidText, curveOid: readOid(buf, params) };
  }
  return { oid: oidText };
}

export function curveName(curveOid: string | undefined): string | undefined {
  return curveOid === undefined ? undefined : curves[curveOid];
}

/** Imports a DER SubjectPublicKeyInfo. */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  return importPublicKeyInfo(spki);
}

export interface Signer {
  /** The AlgorithmIdentifier (DER) that goes into the TBS structure and next to the signature. */
  readonly algorithm: Buffer;
  readonly algorithmName: string;
  sign(data: Uint8Array): Buffer;
}

/**
 * The signature algorithm a private key signs with: ECDSA with the curve's matching hash (P-256 → SHA-256, P-384 →
 * SHA-384, P-521 → SHA-512), RSA PKCS#1 v1.5 with SHA-256, or Ed25519. These are Go's defaults, which Istio uses.
 */
export function signerFor(privateKey: KeyObject): Signer {
  if (privateKey.type !== 'private') throw new TypeError('a private key is required to sign');
  const type = privateKey.asymmetricKeyType;
  if (type === 'ec') {
    const curve = privateKey.asymmetricKeyDetails?.namedCurve;
    const [algOid, hash, name] =
      curve === 'secp384r1'
        ? [OID.ecdsaWithSha384, 'sha384', 'ecdsa-with-SHA384']
        : curve === 'secp521r1'
          ? [OID.ecdsaWithSha512, 'sha512', 'ecdsa-with-SHA512']
          : [OID.ecdsaWithSha256, 'sha256', 'ecdsa-with-SHA256'];
    const algorithm = sequence(oid(algOid));
    return {
      algorithm,
      algorithmName: name,
      sign: (data) => sign(hash, data, { key: privateKey, dsaEncoding: 'der' }),
    };
  }
  if (type === 'rsa') {
    const algorithm = sequence(oid(OID.sha256WithRsa), nullValue());
    return { algorithm, algorithmName: 'sha256WithRSAEncryption', sign: (data) => sign('sha256', data, privateKey) };
  }
  if (type === 'ed25519') {
    const algorithm = sequence(oid(OID.ed25519));
    return { algorithm, algorithmName: 'Ed25519', sign: (data) => sign(null, data, privateKey) };
  }
  throw new TypeError(`cannot sign with a ${type ?? 'unknown'} key`);
}
