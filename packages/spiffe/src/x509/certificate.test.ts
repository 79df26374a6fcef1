import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { generatePrivateKey } from '../keys.js';
import { createCertificate } from './build.js';
import { parseCertificate, parseCertificates } from './certificate.js';
import { createCertificateRequest, parseCertificateRequest } from './csr.js';
import { seededRng } from '@mesh/core';

const now = Date.parse('2026-06-01T00:00:00Z');
const key = generatePrivateKey();
const root = createCertificate(
  {
    publicKey: key,
    subject: [
      ['O', 'example.org'],
      ['CN', 'root, with comma'],
    ],
    notBefore: now,
    notAfter: now + 86_400_000,
    basicConstraints: { ca: true, pathLen: 1 },
    keyUsage: ['keyCertSign'],
    uris: ['spiffe://example.org'],
    nameConstraints: { permitted: { uris: ['example.org'], ipRanges: ['10.0.0.0/8'] } },
  },
  { signingKey: key },
);

describe('certificates', () => {
  it('decodes what the builder encodes', () => {
    expect(root.version).toBe(3);
    expect(root.subject.toString()).toBe('O=example.org, CN=root\\, with comma');
    expect(root.subject.get('O')).toEqual(['example.org']);
    expect(root.isSelfIssued).toBe(true);
    expect(root.basicConstraints).toEqual({ ca: true, pathLen: 1, critical: true });
    expect([...root.keyUsage!.usages]).toEqual(['keyCertSign']);
    expect(root.uris).toEqual(['spiffe://example.org']);
    expect(root.subjectAltName?.critical).toBe(false);
    expect(root.nameConstraints?.permitted.map((s) => s.type)).toEqual(['uri', 'ip']);
    expect(root.nameConstraints?.permitted[1]).toMatchObject({ value: '10.0.0.0/255.0.0.0' });
    expect(root.notBefore).toBe(now);
    expect(root.publicKeyAlgorithm).toEqual({ type: 'ec', curve: 'P-256' });
    expect(root.signatureAlgorithm.name).toBe('ecdsa-with-SHA256');
    expect(root.isSignedBy(root)).toBe(true);
    expect(root.subjectKeyId).toHaveLength(20);
    expect(parseCertificate(root.toPem()).equals(root)).toBe(true);
    expect(parseCertificates(Buffer.concat([root.der, root.der]))).toHaveLength(2);
    expect(root.toJSON()).toMatchObject({ ca: true, pathLen: 1, uris: ['spiffe://example.org'] });
  });

  it('describes RSA keys and IPv6 SANs', () => {
    const rsa = generatePrivateKey({ type: 'rsa' });
    const cert = createCertificate(
      {
        publicKey: createPublicKey(rsa),
        subject: [['CN', 'rsa']],
        notBefore: now,
        notAfter: now + 1000,
        ipAddresses: ['2001:db8::1', '10.1.2.3'],
      },
      { signingKey: rsa },
    );
    expect(cert.publicKeyAlgorithm).toEqual({ type: 'rsa', bits: 2048 });
    expect(cert.ipAddresses).toEqual(['2001:db8::1', '10.1.2.3']);
    expect(cert.signatureAlgorithm.name).toBe('sha256WithRSAEncryption');
  });

  it('rejects garbage with clear codes, and never crashes on mutated input', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
        return 'ok';
      } catch (e) {
        if (!MeshError.is(e)) throw e;
        return e.code;
      }
    };
    expect(code(() => parseCertificate('hello'))).toBe('ERR_SPIFFE_BAD_PEM');
    expect(code(() => parseCertificate('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n'))).toBe(
      'ERR_SPIFFE_BAD_PEM',
    );
    expect(code(() => parseCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n'))).toBe('ERR_SPIFFE_BAD_PEM');
    expect(code(() => parseCertificate(root.der.subarray(0, root.der.length - 10)))).toBe('ERR_SPIFFE_BAD_CERTIFICATE');
    expect(code(() => parseCertificate(Buffer.alloc(0)))).toBe('ERR_SPIFFE_BAD_CERTIFICATE');
    expect(code(() => parseCertificate(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])))).toBe(
      'ERR_SPIFFE_BAD_CERTIFICATE',
    );
    const rng = seededRng(7);
    for (let i = 0; i < 2000; i++) {
      const der = Buffer.from(root.der);
      const flips = 1 + Math.floor(rng.next() * 3);
      for (let f = 0; f < flips; f++) der[Math.floor(rng.next() * der.length)] = Math.floor(rng.next() * 256);
      const cut = rng.next() < 0.2 ? Math.floor(rng.next() * der.length) : der.length;
      expect(['ok', 'ERR_SPIFFE_BAD_CERTIFICATE']).toContain(code(() => parseCertificate(der.subarray(0, cut))));
    }
  });
});

describe('certificate requests', () => {
  it('round-trips and verifies the proof of possession', () => {
    const leafKey = generatePrivateKey();
    const csr = createCertificateRequest({ privateKey: leafKey, uris: ['spiffe://example.org/w'], dnsNames: ['w'] });
    const parsed = parseCertificateRequest(csr.toPem());
    expect(parsed.uris).toEqual(['spiffe://example.org/w']);
    expect(parsed.subjectAltName?.dnsNames).toEqual(['w']);
    expect(parsed.subjectAltName?.critical).toBe(true);
    expect(parsed.subject.isEmpty).toBe(true);
    expect(parsed.verifySignature()).toBe(true);
    expect(parsed.publicKeyAlgorithm).toEqual({ type: 'ec', curve: 'P-256' });

    const tampered = Buffer.from(parsed.der);
    tampered[tampered.length - 3]! ^= 0xff;
    expect(parseCertificateRequest(tampered).verifySignature()).toBe(false);
    expect(() => parseCertificateRequest('garbage')).toThrow(expect.objectContaining({ code: 'ERR_SPIFFE_BAD_CSR' }));
    expect(() => parseCertificateRequest(parsed.der.subarray(0, 50))).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_BAD_CSR' }),
    );
    expect(() => parseCertificateRequest(root.toPem())).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_BAD_CSR' }),
    );
  });
});
