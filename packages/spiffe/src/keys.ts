// Private keys: reading the common encodings, writing PKCS#8, generating, and matching keys with certificates.
import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
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

/** DER SubjectPublicKeyInfo of a private or public key. */
export function publicKeyInfoOf(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ type: 'spki', format: 'der' });
}

/** Whether `key` (private or public) is the key of SubjectPublicKeyInfo `spki`. */
export function keyMatchesPublicKeyInfo(key: KeyObject, spki: Uint8Array): boolean {
  return publicKeyInfoOf(key).equals(spki);
}
