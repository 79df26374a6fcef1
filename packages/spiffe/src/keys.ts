// Private keys: reading the common encodings, writing PKCS#8, generating, and matching keys with certificates.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, KeyObject } from 'node:crypto';
import { children, content, readBitString, readOid, readRoot, Tag } from './x509/der.js';
import { SpiffeError } from './errors.js';
import { decodePem, looksLikePem } from './pem.js';

export type KeyType = 'ec' | 'rsa' | 'ed25519';

export interface GenerateKeyOptions {
  /** ec (the default: ECDSA P-256, what ztunnel uses), rsa, or ed25519. */
  type?: KeyType;
  /** EC curve; P-256 by default. */
  curve?: 'P-256' | 'P-384' | 'P-521';
  /** RSA modulus size; 2048 by default (Istio's default). */
  bits?: number;
}

const curveNames = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' } as const;

/** A new private key (its public half is `createPublicKey(key)`). */
export function generatePrivateKey(options: GenerateKeyOptions = {}): KeyObject {
  const type = options.type ?? 'ec';
  switch (type) {
    case 'ec':
      return generateKeyPairSync('ec', { namedCurve: curveNames[options.curve ?? 'P-256'] }).privateKey;
    case 'rsa':
      return generateKeyPairSync('rsa', { modulusLength: options.bits ?? 2048 }).privateKey;
    case 'ed25519':
      return generateKeyPairSync('ed25519').privateKey;
    default:
      throw new TypeError(`unknown key type ${String(type)}`);
  }
}

const KEY_LABELS = ['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY'];

/**
 * Reads an unencrypted private key: PEM (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`; an
 * `EC PARAMETERS` block before it is skipped) or DER PKCS#8. Throws ERR_SPIFFE_BAD_KEY.
 */
export function parsePrivateKey(input: string | Uint8Array | KeyObject): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type !== 'private') throw new SpiffeError('ERR_SPIFFE_BAD_KEY', 'expected a private key object');
    return input;
  }
  try {
    if (looksLikePem(input)) {
      const blocks = decodePem(input).filter((b) => b.label !== 'EC PARAMETERS');
      if (blocks.length !== 1 || !KEY_LABELS.includes(blocks[0]!.label))
        throw new SpiffeError(
          'ERR_SPIFFE_BAD_KEY',
          `expected one private key block (${KEY_LABELS.join(', ')}), found ${blocks.map((b) => b.label).join(', ') || 'none'}`,
        );
      const { label, der } = blocks[0]!;
      const type = label === 'PRIVATE KEY' ? 'pkcs8' : label === 'EC PRIVATE KEY' ? 'sec1' : 'pkcs1';
      return createPrivateKey({ key: der, format: 'der', type });
    }
    return createPrivateKey({ key: Buffer.from(input), format: 'der', type: 'pkcs8' });
  } catch (error) {
    if (error instanceof SpiffeError && error.code === 'ERR_SPIFFE_BAD_KEY') throw error;
    throw new SpiffeError('ERR_SPIFFE_BAD_KEY', `cannot read the private key: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** PKCS#8 PEM, the form Istio and ztunnel write. */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

// Exporting a key through OpenSSL 3's encoders costs ~100 µs, more than an ECDSA signature: remember the encoding of
// keys we imported from DER or exported once.
const spkiOf = new WeakMap<KeyObject, Buffer>();

const CURVES: Record<string, { crv: string; size: number }> = {
  '1.2.840.10045.3.1.7': { crv: 'P-256', size: 32 },
  '1.3.132.0.34': { crv: 'P-384', size: 48 },
  '1.3.132.0.35': { crv: 'P-521', size: 66 },
};

/**
 * The JWK form of an EC (uncompressed point) or RSA SubjectPublicKeyInfo, or undefined for anything else. Node imports
 * JWKs much faster than DER (OpenSSL 3's DER decoder dominates CSR checking otherwise); it validates EC points either way.
 */
function jwkOfSpki(der: Uint8Array): JsonWebKey | undefined {
  const root = readRoot(der, Tag.SEQUENCE, 'SubjectPublicKeyInfo');
  const [algTlv, keyTlv] = children(der, root);
  if (!algTlv || !keyTlv || keyTlv.tag !== Tag.BIT_STRING) return undefined;
  const [oidTlv, params] = children(der, algTlv);
  if (!oidTlv) return undefined;
  const alg = readOid(der, oidTlv);
  const { bytes, unused } = readBitString(der, keyTlv, 'subjectPublicKey');
  if (unused !== 0) return undefined;
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  if (alg === '1.2.840.10045.2.1' && params?.tag === Tag.OID) {
    const curve = CURVES[readOid(der, params)];
    if (!curve || bytes.length !== 1 + 2 * curve.size || bytes[0] !== 0x04) return undefined;
    return {
      kty: 'EC',
      crv: curve.crv,
      x: b64(bytes.subarray(1, 1 + curve.size)),
      y: b64(bytes.subarray(1 + curve.size)),
    };
  }
  if (alg === '1.2.840.113549.1.1.1') {
    const rsa = readRoot(bytes, Tag.SEQUENCE, 'RSAPublicKey');
    const [n, e, extra] = children(bytes, rsa);
    if (!n || !e || extra || n.tag !== Tag.INTEGER || e.tag !== Tag.INTEGER) return undefined;
    const strip = (b: Uint8Array) => {
      let i = 0;
      while (i < b.length - 1 && b[i] === 0) i++;
      return b.subarray(i);
    };
    return { kty: 'RSA', n: b64(strip(content(bytes, n))), e: b64(strip(content(bytes, e))) };
  }
  return undefined;
}

/** Imports a DER SubjectPublicKeyInfo, remembering its encoding for publicKeyInfoOf. */
export function importPublicKeyInfo(spki: Uint8Array): KeyObject {
  const der = Buffer.from(spki);
  let key: KeyObject | undefined;
  try {
    const jwk = jwkOfSpki(der);
    if (jwk) key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    key = undefined; // let the DER decoder have its say (and its error)
  }
  key ??= createPublicKey({ key: der, format: 'der', type: 'spki' });
  spkiOf.set(key, der);
  return key;
}

/** DER SubjectPublicKeyInfo of a private or public key. */
export function publicKeyInfoOf(key: KeyObject): Buffer {
  let der = spkiOf.get(key);
  if (!der) {
    const publicKey = key.type === 'private' ? createPublicKey(key) : key;
    der = publicKey.export({ type: 'spki', format: 'der' });
    spkiOf.set(key, der);
  }
  return der;
}

/** Whether `key` (private or public) is the key of SubjectPublicKeyInfo `spki`. */
export function keyMatchesPublicKeyInfo(key: KeyObject, spki: Uint8Array): boolean {
  return publicKeyInfoOf(key).equals(spki);
}
