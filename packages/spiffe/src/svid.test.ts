import { describe, expect, it } from 'vitest';
import { ManualClock } from '@mesh/core';
import { HOUR, testCa } from '../test/fixtures.js';
import { X509BundleSet } from './bundle.js';
import { generatePrivateKey, privateKeyToPem } from './keys.js';
import { verifyX509Svid, X509Svid } from './svid.js';

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
