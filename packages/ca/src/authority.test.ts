import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock, MeshError } from '@mesh/core';
import {
  createCertificateRequest,
  generatePrivateKey,
  parseCertificates,
  verifyX509Svid,
  X509Bundle,
} from '@mesh/spiffe';
import { CertificateAuthority, type IssueEvent, type RotationEvent } from './authority.js';
import { readCacerts, writeCacerts, YEAR_MS } from './material.js';
import { memoryMetrics } from './metrics.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const start = Date.parse('2026-06-01T00:00:00Z');
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!MeshError.is(e)) throw e;
    return e.code;
  }
};
const csrFor = (uris: string[] = []) => createCertificateRequest({ privateKey: generatePrivateKey(), uris }).toPem();

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-ca-'));
  dirs.push(dir);
  return dir;
}

describe('self-signed root', () => {
  it("uses Istio's profile: O=<trust domain>, CA, keyCertSign, 10 years, ECDSA P-256 by default", () => {
    const clock = new ManualClock(start);
    const ca = CertificateAuthority.selfSigned({ trustDomain: 'mesh.example', clock });
    const root = ca.signingCertificate;
    expect(root.subject.toString()).toBe('O=mesh.example');
    expect(root.isSelfIssued).toBe(true);
    expect(root.basicConstraints).toMatchObject({ ca: true, critical: true });
    expect(root.keyUsage?.usages.has('keyCertSign')).toBe(true);
    expect(root.keyUsage?.critical).toBe(true);
    expect(root.uris).toEqual(['spiffe://mesh.example']);
    expect(root.notAfter - start).toBe(10 * YEAR_MS);
    expect(root.publicKeyAlgorithm).toEqual({ type: 'ec', curve: 'P-256' });
    expect(ca.roots).toHaveLength(1);
    expect(ca.rootCertPem).toBe(root.toPem());
    expect(ca.bundle.sequence).toBe(1n);
  });

  it('can use RSA 2048 (Istio default)', () => {
    const ca = CertificateAuthority.selfSigned({ keyType: 'rsa' });
    expect(ca.signingCertificate.publicKeyAlgorithm).toEqual({ type: 'rsa', bits: 2048 });
    expect(ca.trustDomain.name).toBe('cluster.local');
    const issued = ca.issue({ identity: 'spiffe://cluster.local/ns/a/sa/b' });
    expect(issued.certificate.signatureAlgorithm.name).toBe('sha256WithRSAEncryption');
  });
});

describe('signing', () => {
  const clock = new ManualClock(start);
  const metrics = memoryMetrics();
  const events: IssueEvent[] = [];
  const rejects: string[] = [];
  const ca = CertificateAuthority.selfSigned({
    clock,
    metrics,
    hooks: { onIssue: (e) => events.push(e), onReject: (e) => rejects.push(e.code) },
  });

  it("issues Istio's workload profile for the caller's identity, not the CSR's", () => {
    const issued = ca.sign({
      csr: csrFor(['spiffe://cluster.local/ns/evil/sa/admin']),
      identity: 'spiffe://cluster.local/ns/default/sa/web',
      caller: 'spiffe://cluster.local/ns/default/sa/web',
    });
    const leaf = issued.certificate;
    expect(leaf.uris).toEqual(['spiffe://cluster.local/ns/default/sa/web']);
    expect(leaf.subject.isEmpty).toBe(true);
    expect(leaf.subjectAltName?.critical).toBe(true);
    expect([...leaf.keyUsage!.usages]).toEqual(['digitalSignature', 'keyEncipherment']);
    expect(leaf.extKeyUsage?.names).toEqual(['serverAuth', 'clientAuth']);
    expect(leaf.basicConstraints).toMatchObject({ ca: false });
    expect(leaf.serialNumber.length).toBeGreaterThanOrEqual(30);
    expect(leaf.notBefore).toBe(start - 2 * 60_000);
    expect(leaf.notAfter).toBe(start + DAY);
    expect(leaf.authorityKeyId).toEqual(ca.signingCertificate.subjectKeyId);
    expect(issued.certChain).toHaveLength(2);
    expect(issued.certChain[0]).toBe(leaf.toPem());
    expect(issued.certChain[1]).toBe(ca.rootCertPem);
    expect(verifyX509Svid(issued.chainPem, ca.bundle, { clock }).id.toString()).toBe(
      'spiffe://cluster.local/ns/default/sa/web',
    );
    expect(events.at(-1)).toMatchObject({
      identity: 'spiffe://cluster.local/ns/default/sa/web',
      serialNumber: leaf.serialNumber,
      caller: 'spiffe://cluster.local/ns/default/sa/web',
    });
    expect(events.at(-1)!.notAfter.getTime()).toBe(leaf.notAfter);
    expect(metrics.counts.get('citadel_server_success_cert_issuance_count')).toBeGreaterThan(0);
    expect(metrics.gauges.get('citadel_server_root_cert_expiry_timestamp')).toBe(ca.signingCertificate.notAfter / 1000);
  });

  it('applies the requested TTL, refuses more than the maximum, and never outlives the CA', () => {
    expect(
      ca.sign({ csr: csrFor(), identity: 'spiffe://cluster.local/ns/a/sa/b', ttlMs: HOUR }).certificate.notAfter,
    ).toBe(start + HOUR);
    expect(
      ca.sign({ csr: csrFor(), identity: 'spiffe://cluster.local/ns/a/sa/b', ttlMs: -5 }).certificate.notAfter,
    ).toBe(start + DAY);
    expect(code(() => ca.sign({ csr: csrFor(), identity: 'spiffe://cluster.local/ns/a/sa/b', ttlMs: 91 * DAY }))).toBe(
      'ERR_CA_TTL_TOO_LONG',
    );
    const shortLived = CertificateAuthority.selfSigned({ clock, rootTtlMs: 10 * HOUR });
    expect(shortLived.issue({ identity: 'spiffe://cluster.local/ns/a/sa/b' }).certificate.notAfter).toBe(
      shortLived.signingCertificate.notAfter,
    );
  });

  it('rejects bad requests with clear codes', () => {
    const id = 'spiffe://cluster.local/ns/a/sa/b';
    expect(code(() => ca.sign({ csr: 'garbage', identity: id }))).toBe('ERR_CA_BAD_CSR');
    const pem = csrFor();
    const der = Buffer.from(pem.split('\n').slice(1, -2).join(''), 'base64');
    expect(code(() => ca.sign({ csr: der.subarray(0, der.length - 20), identity: id }))).toBe('ERR_CA_BAD_CSR');
    const tampered = Buffer.from(der);
    tampered[tampered.length - 4]! ^= 0x55;
    expect(code(() => ca.sign({ csr: tampered, identity: id }))).toBe('ERR_CA_CSR_SIGNATURE');
    const weak = createCertificateRequest({ privateKey: generatePrivateKey({ type: 'rsa', bits: 1024 }) }).der;
    expect(code(() => ca.sign({ csr: weak, identity: id }))).toBe('ERR_CA_KEY_NOT_ALLOWED');
    expect(code(() => ca.sign({ csr: pem, identity: 'spiffe://other.example/ns/a/sa/b' }))).toBe(
      'ERR_CA_FOREIGN_TRUST_DOMAIN',
    );
    expect(code(() => ca.sign({ csr: pem, identity: 'spiffe://cluster.local' }))).toBe('ERR_CA_BAD_IDENTITY');
    expect(code(() => ca.sign({ csr: pem, identity: 'not an id' }))).toBe('ERR_CA_BAD_IDENTITY');
    expect(code(() => ca.sign({ csr: pem }))).toBe('ERR_CA_BAD_IDENTITY');
    expect(rejects).toContain('ERR_CA_CSR_SIGNATURE');
    expect(metrics.counts.get('citadel_server_csr_parsing_err_count')).toBeGreaterThan(0);
  });

  it('issues DNS serving certificates', () => {
    const issued = ca.issue({ dnsNames: ['istiod.istio-system.svc'] });
    expect(issued.certificate.dnsNames).toEqual(['istiod.istio-system.svc']);
    expect(issued.certificate.uris).toEqual([]);
  });

  it('refuses to issue once the CA has expired', () => {
    const c = new ManualClock(start);
    const shortCa = CertificateAuthority.selfSigned({ clock: c, rootTtlMs: HOUR });
    c.advance(2 * HOUR);
    expect(code(() => shortCa.sign({ csr: csrFor(), identity: 'spiffe://cluster.local/ns/a/sa/b' }))).toBe(
      'ERR_CA_EXPIRED',
    );
  });

  it('enforces the strict (istio-csr) CSR policy when asked', () => {
    const strict = CertificateAuthority.selfSigned({ clock, csrPolicy: 'strict' });
    const id = 'spiffe://cluster.local/ns/a/sa/b';
    expect(strict.sign({ csr: csrFor([id]), identity: id }).identity?.toString()).toBe(id);
    expect(code(() => strict.sign({ csr: csrFor(['spiffe://cluster.local/ns/x/sa/y']), identity: id }))).toBe(
      'ERR_CA_CSR_POLICY',
    );
    const withDns = createCertificateRequest({ privateKey: generatePrivateKey(), uris: [id], dnsNames: ['x'] }).der;
    expect(code(() => strict.sign({ csr: withDns, identity: id }))).toBe('ERR_CA_CSR_POLICY');
    const withSubject = createCertificateRequest({
      privateKey: generatePrivateKey(),
      uris: [id],
      subject: [['CN', 'x']],
    }).der;
    expect(code(() => strict.sign({ csr: withSubject, identity: id }))).toBe('ERR_CA_CSR_POLICY');
    expect(strict.issue({ identity: id }).svid?.id.toString()).toBe(id);
  });
});

describe('intermediates', () => {
  it('signs through an intermediate; the response chain is leaf, intermediate, root', () => {
    const clock = new ManualClock(start);
    const root = CertificateAuthority.selfSigned({ clock, trustDomain: 'example.org' });
    const material = root.createIntermediate({ ttlMs: 30 * DAY });
    expect(material.signingCert.basicConstraints).toMatchObject({ ca: true, pathLen: 0 });
    expect(material.signingCert.subject.toString()).toBe('O=example.org, CN=Intermediate CA');
    const ca = CertificateAuthority.fromMaterial(material, { clock, trustDomain: 'example.org' });
    expect(ca.selfSigned).toBe(false);
    const issued = ca.issue({ identity: 'spiffe://example.org/ns/a/sa/b', ttlMs: 40 * DAY });
    expect(issued.certificate.notAfter).toBe(material.signingCert.notAfter);
    expect(issued.certChain).toHaveLength(3);
    expect(parseCertificates(issued.certChain[1]!)[0]!.equals(material.signingCert)).toBe(true);
    expect(issued.certChain[2]).toBe(root.rootCertPem);
    expect(verifyX509Svid(issued.chainPem, root.bundle, { clock }).path).toHaveLength(3);
    expect(code(() => ca.prepareRootRotation())).toBe('ERR_CA_ROTATION_STATE');
  });
});

describe('root rotation', () => {
  it('re-issues the self-signed root with the same key when 20% of its life remains', () => {
    const clock = new ManualClock(start);
    const rotations: RotationEvent[] = [];
    const bundles: X509Bundle[] = [];
    const ca = CertificateAuthority.selfSigned({
      clock,
      rootTtlMs: 100 * DAY,
      hooks: { onRotate: (e) => rotations.push(e) },
    });
    ca.onBundleChange((b) => bundles.push(b));
    const oldRoot = ca.signingCertificate;
    const oldLeaf = ca.issue({ identity: 'spiffe://cluster.local/ns/a/sa/b', ttlMs: 85 * DAY });
    clock.advance(79 * DAY);
    expect(ca.checkRotation()).toEqual([]);
    clock.advance(2 * DAY);
    expect(ca.checkRotation()).toEqual(['renewed']);
    const newRoot = ca.signingCertificate;
    expect(newRoot.equals(oldRoot)).toBe(false);
    expect(newRoot.publicKeyInfo).toEqual(oldRoot.publicKeyInfo);
    expect(newRoot.subject.equals(oldRoot.subject)).toBe(true);
    expect(newRoot.notAfter).toBe(clock.now() + 100 * DAY);
    expect(ca.roots.map((r) => r.fingerprint256)).toEqual([newRoot.fingerprint256, oldRoot.fingerprint256]);
    expect(rotations.map((r) => r.kind)).toEqual(['renewed']);
    expect(bundles.at(-1)!.sequence).toBe(2n);
    // A leaf issued under the old root certificate verifies against a bundle holding only the new one (same key).
    expect(verifyX509Svid(oldLeaf.chainPem, new X509Bundle('cluster.local', [newRoot]), { clock }).id.path).toBe(
      '/ns/a/sa/b',
    );
    // Once the old root expires it leaves the bundle.
    clock.advance(20 * DAY);
    ca.checkRotation();
    expect(ca.roots.map((r) => r.fingerprint256)).toEqual([newRoot.fingerprint256]);
  });

  it('plans a rotation to a new key: publish, activate, retire, both roots trusted during the overlap', () => {
    const clock = new ManualClock(start);
    const ca = CertificateAuthority.selfSigned({ clock, maxTtlMs: 2 * DAY, defaultTtlMs: DAY });
    const oldRoot = ca.signingCertificate;
    const before = ca.issue({ identity: 'spiffe://cluster.local/ns/a/sa/b' });
    const newRoot = ca.prepareRootRotation({ activateAt: start + HOUR });
    expect(newRoot.publicKeyInfo).not.toEqual(oldRoot.publicKeyInfo);
    expect(ca.roots).toHaveLength(2);
    expect(ca.signingCertificate.equals(oldRoot)).toBe(true);
    expect(code(() => ca.prepareRootRotation())).toBe('ERR_CA_ROTATION_STATE');
    expect(code(() => ca.retireRoot(oldRoot))).toBe('ERR_CA_ROTATION_STATE');

    clock.advance(HOUR);
    expect(ca.checkRotation()).toEqual(['activated']);
    expect(ca.signingCertificate.equals(newRoot)).toBe(true);
    const after = ca.issue({ identity: 'spiffe://cluster.local/ns/a/sa/c' });
    // During the overlap the published bundle verifies leaves of both roots.
    expect(verifyX509Svid(before.chainPem, ca.bundle, { clock }).path.at(-1)!.equals(oldRoot)).toBe(true);
    expect(verifyX509Svid(after.chainPem, ca.bundle, { clock }).path.at(-1)!.equals(newRoot)).toBe(true);
    expect(after.certChain.at(-1)).toBe(oldRoot.toPem() + newRoot.toPem());

    clock.advance(2 * DAY);
    expect(ca.checkRotation()).toEqual(['retired']);
    expect(ca.roots.map((r) => r.fingerprint256)).toEqual([newRoot.fingerprint256]);
    expect(code(() => ca.activatePendingRoot())).toBe('ERR_CA_ROTATION_STATE');
    expect(code(() => ca.retireRoot(newRoot))).toBe('ERR_CA_ROTATION_STATE');
  });

  it('runs checks on a timer until disposed', async () => {
    const ca = CertificateAuthority.selfSigned({ rootTtlMs: 1000 });
    ca.startRotation({ checkIntervalMs: 10 });
    const first = ca.signingCertificate;
    await new Promise((r) => setTimeout(r, 900));
    await ca[Symbol.asyncDispose]();
    expect(ca.signingCertificate.equals(first)).toBe(false);
  });
});

describe('cacerts directories', () => {
  it('writes and reads the layout; a self-signed root keeps rotating', async () => {
    const dir = await tempDir();
    const clock = new ManualClock(start);
    const ca = CertificateAuthority.selfSigned({ clock, trustDomain: 'example.org' });
    const files = await writeCacerts({ dir, material: ca.material });
    expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual([
      'ca-cert.pem',
      'ca-key.pem',
      'cert-chain.pem',
      'root-cert.pem',
    ]);
    expect((await stat(join(dir, 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    await expect(writeCacerts({ dir, material: ca.material })).rejects.toMatchObject({ code: 'ERR_CA_CACERTS_EXISTS' });
    const loaded = await CertificateAuthority.fromCacertsDir({ dir, clock, trustDomain: 'example.org' });
    expect(loaded.selfSigned).toBe(true);
    expect(loaded.signingCertificate.equals(ca.signingCertificate)).toBe(true);
    expect(loaded.issue({ identity: 'spiffe://example.org/ns/a/sa/b' }).certChain).toHaveLength(2);
  });

  it('loads a plug-in intermediate and validates it', async () => {
    const clock = new ManualClock(start);
    const root = CertificateAuthority.selfSigned({ clock, trustDomain: 'example.org' });
    const inter = root.createIntermediate();
    const dir = await tempDir();
    await writeCacerts({ dir, material: inter });
    const material = await readCacerts({ dir });
    expect(material.intermediates.length).toBeGreaterThan(0); // cert-chain.pem repeats ca-cert and the root…
    const ca = await CertificateAuthority.fromCacertsDir({ dir, clock, trustDomain: 'example.org' });
    expect(ca.material.intermediates).toHaveLength(0); // …which validation drops.
    expect(ca.selfSigned).toBe(false);
    expect(ca.issue({ identity: 'spiffe://example.org/ns/a/sa/b' }).certChain).toHaveLength(3);

    // Another root in root-cert.pem: ca-cert no longer chains.
    const other = CertificateAuthority.selfSigned({ clock, trustDomain: 'example.org' });
    await writeFile(join(dir, 'root-cert.pem'), other.rootCertPem);
    await expect(CertificateAuthority.fromCacertsDir({ dir, clock, trustDomain: 'example.org' })).rejects.toMatchObject(
      {
        code: 'ERR_CA_CHAIN_INVALID',
      },
    );
    // Reload refuses a disjoint root set (multi-root rule) and keeps working.
    await expect(ca.reload()).rejects.toMatchObject({ code: 'ERR_CA_CHAIN_INVALID' });
    await writeFile(join(dir, 'root-cert.pem'), root.rootCertPem + other.rootCertPem);
    await ca.reload();
    expect(ca.roots).toHaveLength(2);
    // A key of another certificate.
    await writeFile(join(dir, 'ca-key.pem'), await readFile(join(await writeOther(other), 'ca-key.pem')));
    await expect(CertificateAuthority.fromCacertsDir({ dir, clock, trustDomain: 'example.org' })).rejects.toMatchObject(
      {
        code: 'ERR_CA_KEY_MISMATCH',
      },
    );
  });

  it('reports missing files, unreadable files, leaf certificates and expired CAs', async () => {
    const clock = new ManualClock(start);
    const dir = await tempDir();
    await expect(CertificateAuthority.fromCacertsDir({ dir })).rejects.toMatchObject({
      code: 'ERR_CA_CACERTS_MISSING',
    });
    const ca = CertificateAuthority.selfSigned({ clock, rootTtlMs: DAY });
    await writeCacerts({ dir, material: ca.material });
    await writeFile(join(dir, 'root-cert.pem'), 'not pem');
    await expect(CertificateAuthority.fromCacertsDir({ dir, clock })).rejects.toMatchObject({
      code: 'ERR_CA_CACERTS_INVALID',
    });
    await writeCacerts({ dir, material: ca.material, overwrite: true });
    const later = new ManualClock(start + 2 * DAY);
    await expect(CertificateAuthority.fromCacertsDir({ dir, clock: later })).rejects.toMatchObject({
      code: 'ERR_CA_EXPIRED',
    });
    const leaf = ca.issue({ identity: 'spiffe://cluster.local/ns/a/sa/b' });
    await writeFile(join(dir, 'ca-cert.pem'), leaf.certificate.toPem());
    await writeFile(join(dir, 'ca-key.pem'), leaf.keyPem);
    await expect(CertificateAuthority.fromCacertsDir({ dir, clock })).rejects.toMatchObject({
      code: 'ERR_CA_NOT_A_CA',
    });
  });
});

async function writeOther(ca: CertificateAuthority): Promise<string> {
  const dir = await tempDir();
  await writeCacerts({ dir, material: ca.material });
  return dir;
}
