import { describe, expect, it } from 'vitest';
import { ManualClock } from '@mesh/core';
import { HOUR, testCa } from '../test/fixtures.js';
import { X509BundleSet } from './bundle.js';
import { generatePrivateKey, privateKeyToPem } from './keys.js';
import { CertificateCache, verifyX509Svid, X509Svid } from './svid.js';
import { createCertificate } from './x509/build.js';

describe('X509Svid', () => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  const ca = testCa('example.org', now);
  const svid = ca.issue('spiffe://example.org/ns/default/sa/web');

  it('parses a chain with its key and writes both back', () => {
    const again = X509Svid.parse({ certificates: svid.chainPem(), privateKey: svid.keyPem() });
    expect(again.id.toString()).toBe('spiffe://example.org/ns/default/sa/web');
    expect(again.leaf.equals(svid.leaf)).toBe(true);
    expect(again.expiresAt).toBe(svid.leaf.notAfter);
    expect(X509Svid.parse({ certificates: svid.chainPem() }).privateKey).toBeUndefined();
  });

  it('refuses a key of another certificate, a CA as leaf, and a non-CA intermediate', () => {
    expect(() =>
      X509Svid.parse({ certificates: svid.chainPem(), privateKey: privateKeyToPem(generatePrivateKey()) }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SPIFFE_KEY_MISMATCH' }));
    expect(() => X509Svid.parse({ certificates: ca.cert.toPem() })).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_LEAF_ROOT_PATH' }),
    );
    expect(() => X509Svid.parse({ certificates: [svid.leaf, svid.leaf] })).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_SIGNER_NOT_CA' }),
    );
    expect(() => X509Svid.parse({ certificates: [] })).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_EMPTY_CHAIN' }),
    );
    expect(() => X509Svid.parse({ certificates: svid.chainPem(), privateKey: 'nope' })).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_BAD_KEY' }),
    );
  });

  it('verifies at the injected clock time', () => {
    const clock = new ManualClock(now);
    const bundles = new X509BundleSet([ca.bundle]);
    expect(verifyX509Svid(svid.chainPem(), bundles, { clock }).id.toString()).toBe(svid.id.toString());
    clock.advance(2 * HOUR);
    expect(() => verifyX509Svid(svid.chainPem(), bundles, { clock })).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_EXPIRED' }),
    );
    expect(verifyX509Svid(svid.leaf.der, ca.bundle, { at: new Date(now) }).path).toHaveLength(2);
    expect(() => verifyX509Svid([], ca.bundle)).toThrow(expect.objectContaining({ code: 'ERR_SPIFFE_EMPTY_CHAIN' }));
  });
});

describe('CertificateCache', () => {
  it('reuses parsed intermediates (and their keys) and evicts the least recently used', () => {
    const gen = generatePrivateKey;
    const now = Date.parse('2026-06-01T00:00:00Z');
    const ca = testCa('example.org', now);
    const interKey = gen();
    const inter = createCertificate(
      {
        publicKey: interKey,
        subject: [['CN', 'inter']],
        notBefore: now - HOUR,
        notAfter: now + HOUR,
        basicConstraints: { ca: true },
        keyUsage: ['keyCertSign'],
      },
      { signingKey: ca.key, issuer: ca.cert },
    );
    const leaf = createCertificate(
      {
        publicKey: gen(),
        notBefore: now - HOUR,
        notAfter: now + HOUR,
        uris: ['spiffe://example.org/w'],
        keyUsage: ['digitalSignature'],
      },
      { signingKey: interKey, issuer: inter },
    );
    const cache = new CertificateCache({ maxEntries: 2 });
    const first = verifyX509Svid([leaf.der, Buffer.from(inter.der)], ca.bundle, { at: now, cache });
    const second = verifyX509Svid([leaf.der, Buffer.from(inter.der)], ca.bundle, { at: now, cache });
    expect(second.path[1]).toBe(first.path[1]);
    expect(cache.size).toBe(1);
    cache.get(ca.cert.der);
    cache.get(leaf.der);
    expect(cache.size).toBe(2);
    expect(cache.get(inter.der)[0]).not.toBe(first.path[1]); // evicted, parsed again
    expect(
      verifyX509Svid([leaf.der, Buffer.concat([inter.der, ca.cert.der])], ca.bundle, { at: now, cache }).path,
    ).toHaveLength(3);
  });
});
