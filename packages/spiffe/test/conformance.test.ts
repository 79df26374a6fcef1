// Runs the vectors in conformance/spiffe/ (IDs, X.509-SVID scenarios, bundles). Certificates for the scenarios are
// generated here from the YAML descriptions. Cases listed in known-failures.yaml run as expected failures.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  type Certificate,
  createCertificate,
  DistinguishedName,
  generatePrivateKey,
  type KeyUsage,
  parseCertificate,
  SpiffeError,
  SpiffeId,
  TrustDomain,
  verifyX509Svid,
  X509Bundle,
  X509BundleSet,
} from '../src/index.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'conformance', 'spiffe');
const load = <T>(file: string): T => parse(readFileSync(join(dir, file), 'utf8')) as T;

interface KnownFailure {
  file: string;
  name: string;
  reason: string;
}
const known = load<{ failures: KnownFailure[] }>('known-failures.yaml').failures ?? [];
const used = new Set<string>();

/** `it`, or `it.fails` for a case listed in known-failures.yaml. */
function caseTest(file: string, name: string, source: string | undefined, body: () => void) {
  expect(source, `${file} "${name}" must cite its source`).toBeTruthy();
  const failure = known.find((f) => f.file === file && f.name === name);
  if (failure) used.add(`${file}:${name}`);
  (failure ? it.fails : it)(failure ? `${name} (known failure: ${failure.reason})` : name, body);
}

function expectCode(fn: () => unknown, code: string) {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(SpiffeError);
  expect((thrown as SpiffeError).code).toBe(code);
}

// ---- ids.yaml ----

type Part = string | [string, number];
interface IdCase {
  name: string;
  source: string;
  note?: string;
  input?: string;
  parts?: Part[];
  bytes?: number;
  expect: string | { trustDomain?: string; path?: string };
}

const build = (c: { input?: string; parts?: Part[] }) =>
  c.input ?? (c.parts ?? []).map((p) => (typeof p === 'string' ? p : p[0].repeat(p[1]))).join('');

describe('conformance/spiffe/ids.yaml', () => {
  const file = load<{ ids: IdCase[]; trustDomains: Array<IdCase & { expect: string }> }>('ids.yaml');
  describe('SPIFFE IDs', () => {
    for (const c of file.ids) {
      caseTest('ids.yaml', c.name, c.source, () => {
        const input = build(c);
        if (c.bytes !== undefined) expect(Buffer.byteLength(input)).toBe(c.bytes);
        if (typeof c.expect === 'string') {
          expectCode(() => SpiffeId.parse(input), c.expect);
          expect(SpiffeId.tryParse(input)).toBeUndefined();
        } else {
          const id = SpiffeId.parse(input);
          if (c.expect.trustDomain !== undefined) expect(id.trustDomain.name).toBe(c.expect.trustDomain);
          if (c.expect.path !== undefined) expect(id.path).toBe(c.expect.path);
          // Canonical form round-trips.
          expect(SpiffeId.parse(id.toString()).equals(id)).toBe(true);
          expect(id.toString().startsWith('spiffe://')).toBe(true);
        }
      });
    }
  });
  describe('trust domains', () => {
    for (const c of file.trustDomains) {
      caseTest('ids.yaml', c.name, c.source, () => {
        const input = build(c);
        if (c.expect.startsWith('ERR_')) expectCode(() => TrustDomain.parse(input), c.expect);
        else expect(TrustDomain.parse(input).name).toBe(c.expect);
      });
    }
  });
});

// ---- x509-svid.yaml ----

interface CertSpec {
  ca?: boolean;
  issuer?: string;
  key?: string;
  signedBy?: string;
  keyType?: 'ec' | 'rsa' | 'ed25519';
  uris?: string[];
  dnsNames?: string[];
  subject?: string;
  pathLen?: number;
  basicConstraints?: null;
  keyUsage?: KeyUsage[] | null;
  keyUsageCritical?: boolean;
  extKeyUsage?: string[] | null;
  extKeyUsageCritical?: boolean;
  sanCritical?: boolean;
  notBefore?: string;
  notAfter?: string;
  criticalExtension?: string;
  extension?: string;
  nameConstraints?: {
    permitted?: { uris?: string[]; dnsNames?: string[] };
    excluded?: { uris?: string[]; dnsNames?: string[] };
  };
  tamper?: boolean;
  signatureAlgorithm?: 'ecdsa-with-SHA224';
}

type BundleSpec = string[] | { jwks: unknown };

interface SvidCase {
  name: string;
  source: string;
  certs: Record<string, CertSpec>;
  chain: string[];
  bundles: Record<string, BundleSpec>;
  expect: string;
  id?: string;
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
function offset(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const match = /^([+-]\d+)([smhd])$/.exec(text);
  if (!match) throw new Error(`bad offset ${text}`);
  return Number(match[1]) * UNITS[match[2]!]!;
}

function parseSubject(text: string | undefined, name: string, ca: boolean): DistinguishedName {
  if (text === undefined) return ca ? DistinguishedName.of([['O', name]]) : DistinguishedName.empty();
  if (text === '') return DistinguishedName.empty();
  return DistinguishedName.of(text.split(/,\s*/).map((part) => part.split('=') as [string, string]));
}

const EMPTY_SEQUENCE = Uint8Array.of(0x30, 0x00);

/** Rewrites ecdsa-with-SHA256 (1.2.840.10045.4.3.2) to ecdsa-with-SHA224 (…4.3.1) in both AlgorithmIdentifiers. */
function rewriteToSha224(der: Buffer): Buffer {
  const pattern = Buffer.from('06082a8648ce3d040302', 'hex');
  const out = Buffer.from(der);
  let at = out.indexOf(pattern);
  let count = 0;
  while (at !== -1) {
    out[at + pattern.length - 1] = 0x01;
    count++;
    at = out.indexOf(pattern, at + 1);
  }
  if (count !== 2) throw new Error('expected two ecdsa-with-SHA256 identifiers');
  return out;
}

function generate(specs: Record<string, CertSpec>, at: number): Map<string, { cert: Certificate; key: KeyObject }> {
  const made = new Map<string, { cert: Certificate; key: KeyObject }>();
  for (const [name, spec] of Object.entries(specs)) {
    const ca = spec.ca === true;
    const key = spec.key ? made.get(spec.key)!.key : generatePrivateKey({ type: spec.keyType ?? 'ec' });
    const issuer = spec.issuer ? made.get(spec.issuer) : undefined;
    if (spec.issuer && !issuer) throw new Error(`${name}: issuer ${spec.issuer} is not defined before it`);
    const signer = spec.signedBy ? made.get(spec.signedBy)!.key : (issuer?.key ?? key);
    const subject = parseSubject(spec.subject, name, ca);
    let cert = createCertificate(
      {
        publicKey: createPublicKey(key),
        subject,
        notBefore: at + offset(spec.notBefore, ca ? -30 * UNITS.d! : -UNITS.h!),
        notAfter: at + offset(spec.notAfter, ca ? 365 * UNITS.d! : UNITS.h!),
        uris: spec.uris ?? [],
        dnsNames: spec.dnsNames ?? [],
        ...(spec.sanCritical !== undefined ? { subjectAltNameCritical: spec.sanCritical } : {}),
        basicConstraints:
          spec.basicConstraints === null
            ? null
            : { ca, ...(spec.pathLen !== undefined ? { pathLen: spec.pathLen } : {}) },
        keyUsage:
          spec.keyUsage !== undefined
            ? spec.keyUsage
            : ca
              ? ['keyCertSign', 'cRLSign']
              : ['digitalSignature', 'keyEncipherment'],
        keyUsageCritical: spec.keyUsageCritical ?? true,
        extKeyUsage: spec.extKeyUsage !== undefined ? spec.extKeyUsage : ca ? null : ['serverAuth', 'clientAuth'],
        extKeyUsageCritical: spec.extKeyUsageCritical ?? false,
        subjectKeyId: true,
        ...(spec.nameConstraints ? { nameConstraints: spec.nameConstraints } : {}),
        extensions: [
          ...(spec.criticalExtension ? [{ oid: spec.criticalExtension, critical: true, value: EMPTY_SEQUENCE }] : []),
          ...(spec.extension ? [{ oid: spec.extension, critical: false, value: EMPTY_SEQUENCE }] : []),
        ],
      },
      { signingKey: signer, ...(issuer ? { issuer: issuer.cert } : {}) },
    );
    if (spec.tamper) {
      const der = Buffer.from(cert.der);
      der[der.length - 5]! ^= 0x01;
      cert = parseCertificate(der);
    }
    if (spec.signatureAlgorithm === 'ecdsa-with-SHA224') cert = parseCertificate(rewriteToSha224(cert.der));
    made.set(name, { cert, key });
  }
  return made;
}

/** Replaces "$name" strings in a JWKS document with the base64 DER of the named certificate. */
function substitute(value: unknown, certs: (name: string) => Certificate): unknown {
  if (typeof value === 'string' && value.startsWith('$')) return certs(value.slice(1)).der.toString('base64');
  if (Array.isArray(value)) return value.map((v) => substitute(v, certs));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, certs)]));
  return value;
}

describe('conformance/spiffe/x509-svid.yaml', () => {
  const file = load<{ at: string; cases: SvidCase[] }>('x509-svid.yaml');
  const at = Date.parse(file.at);
  for (const c of file.cases) {
    caseTest('x509-svid.yaml', c.name, c.source, () => {
      const made = generate(c.certs, at);
      const cert = (name: string) => {
        const found = made.get(name);
        if (!found) throw new Error(`unknown cert ${name}`);
        return found.cert;
      };
      const bundles = new X509BundleSet(
        Object.entries(c.bundles).map(([td, spec]) =>
          Array.isArray(spec)
            ? new X509Bundle(td, spec.map(cert))
            : X509Bundle.fromJwks(td, JSON.stringify(substitute(spec.jwks, cert))),
        ),
      );
      const chain = c.chain.map((name) => cert(name).der);
      if (c.expect === 'valid') {
        const verified = verifyX509Svid(chain, bundles, { at });
        if (c.id) expect(verified.id.toString()).toBe(c.id);
        expect(verified.path[0]!.equals(cert(c.chain[0]!))).toBe(true);
        expect(bundles.get(verified.id.trustDomain)!.hasAuthority(verified.path.at(-1)!)).toBe(true);
      } else expectCode(() => verifyX509Svid(chain, bundles, { at }), c.expect);
    });
  }
});

// ---- bundles.yaml ----

interface BundleCase {
  name: string;
  source: string;
  document?: unknown;
  text?: string;
  roundTrip?: boolean;
  expect: string | { authorities?: string[]; jwtAuthorities?: number; sequence?: string; refreshHint?: number };
}

describe('conformance/spiffe/bundles.yaml', () => {
  const file = load<{
    certs: string[];
    bundles: BundleCase[];
    bundleMaps: Array<{ name: string; source: string; text: string; expect: string | { trustDomains: string[] } }>;
  }>('bundles.yaml');
  const now = Date.parse('2026-06-01T00:00:00Z');
  const made = generate(Object.fromEntries(file.certs.map((n) => [n, { ca: true }])), now);
  const cert = (name: string) => made.get(name)!.cert;
  const td = TrustDomain.parse('example.org');

  for (const c of file.bundles) {
    caseTest('bundles.yaml', c.name, c.source, () => {
      const input = c.text ?? JSON.stringify(substitute(c.document, cert));
      if (typeof c.expect === 'string') {
        expectCode(() => X509Bundle.fromJwks(td, input), c.expect);
        return;
      }
      const check = (bundle: X509Bundle) => {
        const e = c.expect as Exclude<BundleCase['expect'], string>;
        if (e.authorities) expect(bundle.authorities.map((a) => a.subject.get('O')[0])).toEqual(e.authorities);
        if (e.jwtAuthorities !== undefined) expect(bundle.jwtAuthorities).toHaveLength(e.jwtAuthorities);
        if (e.sequence !== undefined) expect(bundle.sequence?.toString()).toBe(e.sequence);
        if (e.refreshHint !== undefined) expect(bundle.refreshHint).toBe(e.refreshHint);
      };
      const bundle = X509Bundle.fromJwks(td, input);
      check(bundle);
      if (c.roundTrip) {
        const again = X509Bundle.fromJwks(td, bundle.toJson());
        check(again);
        for (const key of again.toJwks().keys.filter((k) => k.use === 'x509-svid'))
          expect(key).not.toHaveProperty('kid');
      }
    });
  }

  for (const c of file.bundleMaps) {
    caseTest('bundles.yaml', c.name, c.source, () => {
      if (typeof c.expect === 'string') expectCode(() => X509BundleSet.fromBundleMap(c.text), c.expect);
      else
        expect(
          X509BundleSet.fromBundleMap(c.text)
            .trustDomains()
            .map((t) => t.name),
        ).toEqual(c.expect.trustDomains);
    });
  }
});

describe('conformance/spiffe/known-failures.yaml', () => {
  it('lists only cases that exist', () => {
    for (const failure of known) expect(used.has(`${failure.file}:${failure.name}`), failure.name).toBe(true);
  });
});
