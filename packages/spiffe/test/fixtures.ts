// Small certificate factories for this package's tests (the CA package has the real thing).
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  type Certificate,
  createCertificate,
  generatePrivateKey,
  SpiffeId,
  X509Bundle,
  X509Svid,
} from '../src/index.js';

export const HOUR = 3_600_000;

export interface TestCa {
  cert: Certificate;
  key: KeyObject;
  bundle: X509Bundle;
  issue(id: string, options?: { notBefore?: number; notAfter?: number; dnsNames?: string[] }): X509Svid;
}

export function testCa(trustDomain: string, now: number = Date.now()): TestCa {
  const key = generatePrivateKey();
  const cert = createCertificate(
    {
      publicKey: createPublicKey(key),
      subject: [['O', trustDomain]],
      notBefore: now - HOUR,
      notAfter: now + 24 * HOUR,
      basicConstraints: { ca: true },
      keyUsage: ['keyCertSign', 'cRLSign'],
      uris: [SpiffeId.parse(`spiffe://${trustDomain}`)],
    },
    { signingKey: key },
  );
  return {
    cert,
    key,
    bundle: new X509Bundle(trustDomain, [cert]),
    issue(id, options = {}) {
      const leafKey = generatePrivateKey();
      const leaf = createCertificate(
        {
          publicKey: createPublicKey(leafKey),
          notBefore: options.notBefore ?? now - HOUR,
          notAfter: options.notAfter ?? now + HOUR,
          uris: [id],
          dnsNames: options.dnsNames ?? [],
          keyUsage: ['digitalSignature', 'keyEncipherment'],
          extKeyUsage: ['serverAuth', 'clientAuth'],
        },
        { signingKey: key, issuer: cert },
      );
      return X509Svid.parse({ certificates: [leaf], privateKey: leafKey });
    },
  };
}
