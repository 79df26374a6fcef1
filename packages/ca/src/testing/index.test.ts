import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { authorizeIds, createPeerVerifier, verifyX509Svid } from '@mesh/spiffe';
import { createTestCa } from './index.js';

describe('createTestCa', () => {
  it('issues SVIDs with PEM chain, key and bundle in one call', () => {
    const test = createTestCa();
    const web = test.issue('spiffe://cluster.local/ns/default/sa/web', { ttl: '10m' });
    expect(web.id.toString()).toBe('spiffe://cluster.local/ns/default/sa/web');
    expect(web.chainPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(web.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(web.bundlePem).toBe(test.bundlePem);
    expect(web.leaf.notAfter - web.leaf.notBefore).toBe(10 * 60_000 + 2 * 60_000);
    expect(verifyX509Svid(web.chainPem, test.bundles).id.equals(web.id)).toBe(true);
    const db = test.issue({ namespace: 'data', serviceAccount: 'db' });
    expect(db.id.toString()).toBe('spiffe://cluster.local/ns/data/sa/db');
  });

  it('makes expired SVIDs on request, which verifiers refuse', () => {
    const test = createTestCa({ trustDomain: 'example.org' });
    const now = Date.now();
    const old = test.issueWithValidity('spiffe://example.org/w', {
      notBefore: now - 7_200_000,
      notAfter: now - 3_600_000,
    });
    expect(() => verifyX509Svid(old.chainPem, test.bundles)).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_EXPIRED' }),
    );
  });

  it('works through an intermediate', () => {
    const test = createTestCa({ intermediate: true });
    const svid = test.issue('spiffe://cluster.local/ns/a/sa/b');
    expect(svid.svid.certificates).toHaveLength(2);
    expect(svid.certChain).toHaveLength(3);
    expect(verifyX509Svid(svid.chainPem, test.bundles).path).toHaveLength(3);
  });

  it('gives TLS options that complete a real mutual handshake', async () => {
    await using test = createTestCa();
    const server = test.issue({ namespace: 'default', serviceAccount: 'server' });
    const client = test.issue({ namespace: 'default', serviceAccount: 'client' });
    const verifier = createPeerVerifier({ bundles: test.bundles, authorize: authorizeIds(client.id) });
    const seen: string[] = [];
    const srv = tls.createServer(server.serverTls(), (socket) => {
      seen.push(verifier.verify(socket.getPeerCertificate(true)).id.toString());
      socket.end('ok');
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const socket = tls.connect({
      ...client.clientTls(authorizeIds(server.id)),
      port: (srv.address() as AddressInfo).port,
      host: '127.0.0.1',
    });
    const [data] = (await once(socket, 'data')) as [Buffer];
    expect(data.toString()).toBe('ok');
    socket.destroy();
    await new Promise((r) => srv.close(r));
    expect(seen).toEqual(['spiffe://cluster.local/ns/default/sa/client']);
  });
});
