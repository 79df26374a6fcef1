// A local Kubernetes-style service account token issuer, for istiod without a Kubernetes API server (file mode):
// the signing key lives next to the CA material (`sa.key`, the name kubeadm gives the service account signing key)
// and the verification keys in `sa.pub` (one or more PEM public keys, so a key can be rotated without invalidating
// tokens that are still valid). Tokens have the shape of bound service account tokens (TokenRequest API): `iss`,
// `sub: system:serviceaccount:<ns>:<sa>`, `aud`, `exp`/`iat`/`nbf`, `jti` and the `kubernetes.io` claims with the
// pod and node bindings, signed ES256 (P-256 key) or RS256 (RSA key, e.g. kubeadm's sa.key), `kid` as Kubernetes
// computes it (base64url SHA-256 of the DER public key).
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, throwIfAborted, type Clock } from '@mesh/core';
import { generatePrivateKey } from '@mesh/spiffe';
import { CaError } from './errors.js';
import type { Jwks } from './grpc/jwt.js';

/** File names in the CA directory. */
export const TOKEN_KEY_FILES = Object.freeze({
  /** The signing key (PKCS#8 PEM, mode 0600). */
  signingKey: 'sa.key',
  /** The verification keys (PEM public keys, several allowed). */
  publicKeys: 'sa.pub',
});

/** The issuer of in-cluster service account tokens (the Kubernetes default). */
export const DEFAULT_TOKEN_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface TokenSigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** `kid` header: base64url SHA-256 of the DER SubjectPublicKeyInfo (as kube-apiserver). */
  readonly kid: string;
  readonly alg: 'ES256' | 'ES384' | 'RS256';
}

function invalid(file: string, why: string, cause?: unknown): CaError {
  return new CaError('ERR_CA_TOKEN_KEY_INVALID', `${file}: ${why}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { file },
  });
}

/** The Kubernetes key id of a public key. */
export function tokenKeyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64url');
}

function algorithmOf(key: KeyObject, file: string): TokenSigningKey['alg'] {
  if (key.asymmetricKeyType === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw invalid(file, 'RSA keys need at least 2048 bits');
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    throw invalid(file, `EC curve ${curve ?? 'unknown'} is not supported (use P-256 or P-384)`);
  }
  throw invalid(file, `${key.asymmetricKeyType ?? 'unknown'} keys are not supported (use EC P-256 or RSA)`);
}

/** A signing key from PEM (PKCS#8, SEC1 or PKCS#1). */
export function parseTokenSigningKey(pem: string | Uint8Array, file = 'token signing key'): TokenSigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: typeof pem === 'string' ? pem : Buffer.from(pem), format: 'pem' });
  } catch (error) {
    throw invalid(file, 'not a PEM private key', error);
  }
  const alg = algorithmOf(privateKey, file);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, kid: tokenKeyId(publicKey), alg };
}

export interface LoadTokenSigningKeyOptions {
  /** The CA directory. */
  dir: string;
  /** Generate the key (ECDSA P-256) and write sa.key and sa.pub (creating the directory) when sa.key does not exist. Default false. */
  create?: boolean;
  signal?: AbortSignal;
}

/**
 * Reads `<dir>/sa.key`, or creates it (and `<dir>/sa.pub`) when asked to. Creation is exclusive: when two processes
 * race, one writes and both end up with the same key.
 */
export async function loadTokenSigningKey(options: LoadTokenSigningKeyOptions): Promise<TokenSigningKey> {
  throwIfAborted(options.signal);
  const keyFile = join(options.dir, TOKEN_KEY_FILES.signingKey);
  let pem: string | undefined;
  try {
    pem = await readFile(keyFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw invalid(keyFile, 'cannot be read', error);
  }
  if (pem === undefined || pem.trim() === '') {
    if (!options.create)
      throw new CaError(
        'ERR_CA_TOKEN_KEY_MISSING',
        `${keyFile} does not exist: start istiod with this CA directory once (it creates the key), or create it with meshctl token create`,
        { details: { file: keyFile } },
      );
    const privateKey = generatePrivateKey();
    const created = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    try {
      await mkdir(options.dir, { recursive: true, mode: 0o700 });
      const handle = await open(keyFile, 'wx', 0o600);
      try {
        await handle.writeFile(created);
      } finally {
        await handle.close();
      }
      const key = parseTokenSigningKey(created, keyFile);
      await addTokenPublicKey(options.dir, key.publicKey);
      return key;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw invalid(keyFile, 'cannot be written', error);
      // Another process created it first: use theirs.
      pem = await readFile(keyFile, 'utf8');
    }
  }
  const key = parseTokenSigningKey(pem, keyFile);
  // A directory that has a signing key but not its public key (e.g. copied from kubeadm) gets it added.
  await addTokenPublicKey(options.dir, key.publicKey);
  return key;
}

/** Appends a public key to `<dir>/sa.pub` unless it is there already. */
export async function addTokenPublicKey(dir: string, publicKey: KeyObject): Promise<void> {
  const file = join(dir, TOKEN_KEY_FILES.publicKeys);
  let existing = '';
  try {
    existing = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw invalid(file, 'cannot be read', error);
  }
  const kid = tokenKeyId(publicKey);
  if (existing && parsePublicKeys(existing, file).some((k) => tokenKeyId(k) === kid)) return;
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const text = existing && !existing.endsWith('\n') ? `${existing}\n${pem}` : `${existing}${pem}`;
  try {
    await writeFile(file, text, { mode: 0o644 });
  } catch (error) {
    throw invalid(file, 'cannot be written', error);
  }
}

function parsePublicKeys(text: string, file: string): KeyObject[] {
  const blocks = text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
  const keys: KeyObject[] = [];
  for (const block of blocks) {
    try {
      // A private key block also yields its public key (kube-apiserver accepts both in --service-account-key-file).
      keys.push(createPublicKey({ key: block, format: 'pem' }));
    } catch (error) {
      throw invalid(file, 'holds a PEM block that is not a public key', error);
    }
  }
  return keys;
}

/** The verification keys of `<dir>/sa.pub` (or any PEM file of public keys) as a JWKS. */
export async function readTokenPublicKeys(options: { file: string; signal?: AbortSignal }): Promise<Jwks> {
  let text: string;
  try {
    text = await readFile(options.file, { encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    throw invalid(options.file, 'cannot be read', error);
  }
  return publicKeysToJwks(parsePublicKeys(text, options.file), options.file);
}

/** Public keys as a JWKS (kid as Kubernetes computes it). */
export function publicKeysToJwks(keys: readonly KeyObject[], file = 'public keys'): Jwks {
  return {
    keys: keys.map((key) => ({
      ...(key.export({ format: 'jwk' }) as Record<string, string>),
      kid: tokenKeyId(key),
      alg: algorithmOf(key, file),
      use: 'sig',
    })),
  };
}

export interface ServiceAccountTokenOptions {
  namespace: string;
  serviceAccount: string;
  /** Default ["istio-ca"] (the audience of the token ztunnel and the agents send to istiod). */
  audiences?: readonly string[];
  /** Lifetime; default 1 hour. */
  ttlMs?: number;
  /** Default https://kubernetes.default.svc.cluster.local. */
  issuer?: string;
  /** Binds the token to a pod (Istio's node authorizer reads it). */
  pod?: { name: string; uid?: string };
  /** Binds the token to a node. */
  node?: { name: string; uid?: string };
  /** The service account uid; random by default. */
  serviceAccountUid?: string;
  clock?: Clock;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** A bound service account token signed with `key`. */
export function signServiceAccountToken(key: TokenSigningKey, options: ServiceAccountTokenOptions): string {
  for (const [what, value] of [
    ['namespace', options.namespace],
    ['service account', options.serviceAccount],
    ['pod name', options.pod?.name],
    ['node name', options.node?.name],
  ] as const) {
    if (value !== undefined && (!NAME.test(value) || value.length > 253))
      throw new CaError('ERR_CA_INVALID_OPTION', `${what} ${JSON.stringify(value)} is not a Kubernetes object name`);
  }
  const ttlMs = options.ttlMs ?? 3_600_000;
  if (!(ttlMs > 0)) throw new CaError('ERR_CA_INVALID_OPTION', 'the token lifetime must be positive');
  const audiences = options.audiences ?? ['istio-ca'];
  if (audiences.length === 0 || audiences.some((a) => !a))
    throw new CaError('ERR_CA_INVALID_OPTION', 'a token needs at least one non-empty audience');
  const now = Math.floor((options.clock ?? systemClock).now() / 1000);
  const header = { alg: key.alg, kid: key.kid };
  const claims = {
    aud: [...audiences],
    exp: now + Math.max(1, Math.round(ttlMs / 1000)),
    iat: now,
    iss: options.issuer ?? DEFAULT_TOKEN_ISSUER,
    jti: randomUUID(),
    'kubernetes.io': {
      namespace: options.namespace,
      ...(options.node ? { node: { name: options.node.name, uid: options.node.uid ?? randomUUID() } } : {}),
      ...(options.pod ? { pod: { name: options.pod.name, uid: options.pod.uid ?? randomUUID() } } : {}),
      serviceaccount: { name: options.serviceAccount, uid: options.serviceAccountUid ?? randomUUID() },
    },
    nbf: now,
    sub: `system:serviceaccount:${options.namespace}:${options.serviceAccount}`,
  };
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${b64(header)}.${b64(claims)}`;
  const signature =
    key.alg === 'RS256'
      ? sign('sha256', Buffer.from(input), key.privateKey)
      : sign(key.alg === 'ES384' ? 'sha384' : 'sha256', Buffer.from(input), {
          key: key.privateKey,
          dsaEncoding: 'ieee-p1363',
        });
  return `${input}.${signature.toString('base64url')}`;
}
