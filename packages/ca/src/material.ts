// CA material: the signing certificate and key, the intermediates up to the roots, and the roots. Created here
// (self-signed roots, intermediates) or read from / written to Istio's `cacerts` layout.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from '@mesh/core';
import {
  type Certificate,
  createCertificate,
  generatePrivateKey,
  keyMatchesPublicKeyInfo,
  type KeyType,
  type NameConstraintsTemplate,
  parseCertificates,
  parsePrivateKey,
  privateKeyToPem,
  SpiffeError,
  TrustDomain,
  verifyX509Svid,
  X509Bundle,
} from '@mesh/spiffe';
import { CaError } from './errors.js';

export interface CaMaterial {
  /** The certificate leaves are signed with (Istio's ca-cert.pem): a root or an intermediate. */
  readonly signingCert: Certificate;
  /** Its private key (ca-key.pem). */
  readonly signingKey: KeyObject;
  /** Certificates between the signing certificate and the roots, nearest first (never the roots). */
  readonly intermediates: readonly Certificate[];
  /** The trust anchors (root-cert.pem); may hold several during a rotation. */
  readonly roots: readonly Certificate[];
}

export const YEAR_MS = 365 * 86_400_000;
export const DEFAULT_ROOT_TTL_MS = 10 * YEAR_MS;
/** Istio back-dates certificates by two minutes for clock skew. */
export const DEFAULT_BACKDATE_MS = 2 * 60_000;

export interface SelfSignedRootOptions {
  trustDomain: TrustDomain | string;
  /** ec (ECDSA P-256, the default) or rsa (2048 bits, Istio's default). */
  keyType?: Extract<KeyType, 'ec' | 'rsa'>;
  /** Reuse a key (root renewal keeps the key); a new one is generated otherwise. */
  key?: KeyObject;
  /** Default 10 years (Istio's CITADEL_SELF_SIGNED_CA_CERT_TTL). */
  ttlMs?: number;
  /** Default O=<trust domain> (Istio's self-signed root subject). */
  subject?: ReadonlyArray<readonly [string, string]>;
  now: number;
  backdateMs?: number;
}

/**
 * A self-signed root: subject O=<trust domain>, cA=true, keyUsage keyCertSign (critical), the trust domain's SPIFFE ID
 * as URI SAN (X509-SVID §3.2: signing certificates should be SVIDs with a path-less ID), subject key identifier.
 */
export function createSelfSignedRoot(options: SelfSignedRootOptions): { cert: Certificate; key: KeyObject } {
  const td = TrustDomain.parse(options.trustDomain);
  const key = options.key ?? generatePrivateKey({ type: options.keyType ?? 'ec' });
  const ttl = options.ttlMs ?? DEFAULT_ROOT_TTL_MS;
  if (!(ttl > 0)) throw new CaError('ERR_CA_INVALID_OPTION', `root lifetime must be positive, not ${ttl} ms`);
  const cert = createCertificate(
    {
      publicKey: createPublicKey(key),
      subject: options.subject ?? [['O', td.name]],
      notBefore: options.now - (options.backdateMs ?? DEFAULT_BACKDATE_MS),
      notAfter: options.now + ttl,
      basicConstraints: { ca: true },
      keyUsage: ['keyCertSign', 'cRLSign'],
      uris: [td.id],
    },
    { signingKey: key },
  );
  return { cert, key };
}

export interface IntermediateOptions {
  /** Default O=<trust domain>, CN=Intermediate CA. */
  subject?: ReadonlyArray<readonly [string, string]>;
  /** Default 1 year, never beyond the issuer's chain. */
  ttlMs?: number;
  /** pathLenConstraint; default 0 (it may only sign leaves). */
  pathLen?: number;
  keyType?: Extract<KeyType, 'ec' | 'rsa'>;
  /** Limit what the intermediate may sign (URI constraints apply to the trust domain, X509-SVID §4.2). */
  nameConstraints?: NameConstraintsTemplate;
}

/** A new intermediate CA signed by `parent`; returns material that can run its own CertificateAuthority. */
export function createIntermediate(
  parent: CaMaterial,
  trustDomain: TrustDomain,
  now: number,
  options: IntermediateOptions = {},
): CaMaterial {
  const key = generatePrivateKey({ type: options.keyType ?? 'ec' });
  const ttl = options.ttlMs ?? YEAR_MS;
  if (!(ttl > 0)) throw new CaError('ERR_CA_INVALID_OPTION', `intermediate lifetime must be positive, not ${ttl} ms`);
  const chainEnd = Math.min(...[parent.signingCert, ...parent.intermediates].map((c) => c.notAfter));
  const cert = createCertificate(
    {
      publicKey: createPublicKey(key),
      subject: options.subject ?? [
        ['O', trustDomain.name],
        ['CN', 'Intermediate CA'],
      ],
      notBefore: Math.max(now - DEFAULT_BACKDATE_MS, parent.signingCert.notBefore),
      notAfter: Math.min(now + ttl, chainEnd),
      basicConstraints: { ca: true, pathLen: options.pathLen ?? 0 },
      keyUsage: ['keyCertSign', 'cRLSign'],
      uris: [trustDomain.id],
      ...(options.nameConstraints ? { nameConstraints: options.nameConstraints } : {}),
    },
    { signingKey: parent.signingKey, issuer: parent.signingCert },
  );
  return {
    signingCert: cert,
    signingKey: key,
    intermediates: isRoot(parent.signingCert, parent.roots) ? [] : [parent.signingCert, ...parent.intermediates],
    roots: parent.roots,
  };
}

function isRoot(cert: Certificate, roots: readonly Certificate[]): boolean {
  return roots.some((r) => r.equals(cert));
}

/**
 * Checks material before it is used: the key belongs to the signing certificate, which is a CA with keyCertSign and
 * chains through the intermediates to one of the roots at `now`. Also normalises the intermediates (drops the signing
 * certificate and roots, which Istio's cert-chain.pem often repeats).
 */
export function validateMaterial(material: CaMaterial, trustDomain: TrustDomain, now: number): CaMaterial {
  const { signingCert, signingKey } = material;
  if (!keyMatchesPublicKeyInfo(signingKey, signingCert.publicKeyInfo))
    throw new CaError('ERR_CA_KEY_MISMATCH', 'the CA private key does not belong to the CA signing certificate');
  if (!signingCert.isCA || !signingCert.keyUsage?.usages.has('keyCertSign'))
    throw new CaError(
      'ERR_CA_NOT_A_CA',
      `the signing certificate (${signingCert.subject.toString() || 'empty subject'}) is not a CA with keyCertSign`,
    );
  if (material.roots.length === 0)
    throw new CaError('ERR_CA_CHAIN_INVALID', 'no trust anchors (root-cert.pem is empty)');
  const intermediates = material.intermediates.filter((c) => !c.equals(signingCert) && !isRoot(c, material.roots));
  if (now > signingCert.notAfter)
    throw new CaError(
      'ERR_CA_EXPIRED',
      `the CA certificate expired at ${new Date(signingCert.notAfter).toISOString()}`,
    );
  if (now < signingCert.notBefore)
    throw new CaError(
      'ERR_CA_NOT_YET_VALID',
      `the CA certificate is not valid before ${new Date(signingCert.notBefore).toISOString()}`,
    );
  if (!isRoot(signingCert, material.roots)) {
    // Path-validate the signing certificate as if it were a leaf of a chain to the roots (CA flags, key usage, path
    // length, validity). The SPIFFE leaf rules do not apply to a CA, so build the path through a probe leaf.
    try {
      verifyCaChain(signingCert, signingKey, intermediates, material.roots, trustDomain, now);
    } catch (error) {
      if (error instanceof SpiffeError) {
        if (error.code === 'ERR_SPIFFE_EXPIRED')
          throw new CaError('ERR_CA_EXPIRED', `the CA chain has expired: ${error.message}`, { cause: error });
        throw new CaError(
          'ERR_CA_CHAIN_INVALID',
          `the CA certificate does not chain to root-cert.pem: ${error.message}`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }
  return { signingCert, signingKey, intermediates, roots: [...material.roots] };
}

/** Verifies signingCert → intermediates → roots by issuing a throwaway probe leaf and verifying it as an SVID. */
function verifyCaChain(
  signingCert: Certificate,
  signingKey: KeyObject,
  intermediates: readonly Certificate[],
  roots: readonly Certificate[],
  trustDomain: TrustDomain,
  now: number,
): void {
  const probeKey = generatePrivateKey();
  const probe = createCertificate(
    {
      publicKey: createPublicKey(probeKey),
      notBefore: now - 1000,
      notAfter: now + 1000,
      uris: [trustDomain.idFromSegments('probe')],
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['serverAuth', 'clientAuth'],
    },
    { signingKey, issuer: signingCert },
  );
  verifyX509Svid([probe, signingCert, ...intermediates], new X509Bundle(trustDomain, roots), { at: now });
}

// ---- Istio's cacerts layout ----

export const CACERTS_FILES = {
  signingCert: 'ca-cert.pem',
  signingKey: 'ca-key.pem',
  roots: 'root-cert.pem',
  chain: 'cert-chain.pem',
} as const;

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parseFile<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof SpiffeError)
      throw new CaError('ERR_CA_CACERTS_INVALID', `${file}: ${error.message}`, { cause: error, details: { file } });
    throw error;
  }
}

/**
 * Reads a directory in Istio's `cacerts` layout: ca-cert.pem (signing certificate), ca-key.pem (its key),
 * root-cert.pem (trust anchors, possibly several) and optional cert-chain.pem (the signing certificate's chain; the
 * signing certificate and roots it repeats are dropped). The material is not validated here: CertificateAuthority does.
 */
export async function readCacerts(options: { dir: string; signal?: AbortSignal }): Promise<CaMaterial> {
  const { dir, signal } = options;
  throwIfAborted(signal);
  const [certText, keyText, rootsText, chainText] = await Promise.all(
    [CACERTS_FILES.signingCert, CACERTS_FILES.signingKey, CACERTS_FILES.roots, CACERTS_FILES.chain].map((f) =>
      readOptional(join(dir, f)),
    ),
  );
  throwIfAborted(signal);
  const missing = [
    [CACERTS_FILES.signingCert, certText],
    [CACERTS_FILES.signingKey, keyText],
    [CACERTS_FILES.roots, rootsText],
  ]
    .filter(([, text]) => text === undefined)
    .map(([f]) => f!);
  if (missing.length)
    throw new CaError('ERR_CA_CACERTS_MISSING', `${dir} lacks ${missing.join(', ')}`, { details: { dir, missing } });
  const signingCerts = parseFile(CACERTS_FILES.signingCert, () => parseCertificates(certText!));
  const signingKey = parseFile(CACERTS_FILES.signingKey, () => parsePrivateKey(keyText!));
  const roots = parseFile(CACERTS_FILES.roots, () => parseCertificates(rootsText!));
  const chain = chainText?.trim() ? parseFile(CACERTS_FILES.chain, () => parseCertificates(chainText)) : [];
  return {
    signingCert: signingCerts[0]!,
    signingKey,
    // Some tools put the whole chain into ca-cert.pem; the rest of that file counts as intermediates.
    intermediates: [...signingCerts.slice(1), ...chain],
    roots,
  };
}

/**
 * Writes material in the cacerts layout (ca-key.pem with mode 0600). cert-chain.pem holds the signing certificate,
 * its intermediates and the roots (what Istio's tooling writes). Refuses to replace existing files unless `overwrite`.
 */
export async function writeCacerts(options: {
  dir: string;
  material: CaMaterial;
  overwrite?: boolean;
  signal?: AbortSignal;
}): Promise<string[]> {
  const { dir, material, signal } = options;
  throwIfAborted(signal);
  await mkdir(dir, { recursive: true });
  const files = Object.values(CACERTS_FILES).map((f) => join(dir, f));
  if (!options.overwrite) {
    const existing: string[] = [];
    for (const file of files)
      if (
        await access(file, constants.F_OK).then(
          () => true,
          () => false,
        )
      )
        existing.push(file);
    if (existing.length)
      throw new CaError('ERR_CA_CACERTS_EXISTS', `refusing to overwrite ${existing.join(', ')}`, {
        details: { existing },
      });
  }
  const chain = [material.signingCert, ...material.intermediates, ...material.roots].filter(
    (c, i, all) => all.findIndex((o) => o.equals(c)) === i,
  );
  const contents: Array<[string, string, number]> = [
    [CACERTS_FILES.signingKey, privateKeyToPem(material.signingKey), 0o600],
    [CACERTS_FILES.signingCert, material.signingCert.toPem(), 0o644],
    [CACERTS_FILES.roots, material.roots.map((c) => c.toPem()).join(''), 0o644],
    [CACERTS_FILES.chain, chain.map((c) => c.toPem()).join(''), 0o644],
  ];
  for (const [name, text, mode] of contents) {
    throwIfAborted(signal);
    // Write then rename, so a reader never sees half a file.
    const target = join(dir, name);
    const temp = `${target}.tmp-${process.pid}`;
    await writeFile(temp, text, { mode });
    await rename(temp, target);
  }
  return contents.map(([name]) => join(dir, name));
}
