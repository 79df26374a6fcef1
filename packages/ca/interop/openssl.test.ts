// OpenSSL as the independent judge: it verifies what our CA issues, it makes CSRs and certificates our code must
// accept (or refuse), and its s_server/s_client handshake with our SVIDs through node:tls.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, MeshError } from '@mesh/core';
import {
  authorizeIds,
  authorizeMemberOf,
  createPeerVerifier,
  parseCertificate,
  parseCertificateRequest,
  verifyX509Svid,
  X509Bundle,
  X509BundleSet,
} from '@mesh/spiffe';
import { CertificateAuthority } from '../src/index.js';
import { createTestCa } from '../src/testing/index.js';

let dir = '';
const file = (name: string) => join(dir, name);

function openssl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('openssl', args, { cwd: dir, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.on('error', () => {}); // the peer may exit before reading its input
    child.stdin?.end(input ?? '');
  });
}

async function mustOpenssl(args: string[]): Promise<string> {
  const r = await openssl(args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const code = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!MeshError.is(e)) throw e;
    return e.code;
  }
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mesh-openssl-'));
  expect((await openssl(['version'])).code, 'openssl must be installed (tools/bootstrap/peers.mjs)').toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OpenSSL accepts what we issue', () => {
  it('verifies a leaf issued by the root, with -x509_strict, and shows the SPIFFE profile', async () => {
    const ca = CertificateAuthority.selfSigned({ trustDomain: 'example.org' });
    const issued = ca.issue({ identity: 'spiffe://example.org/ns/default/sa/web' });
    await writeFile(file('root.pem'), ca.rootCertPem);
    await writeFile(file('leaf.pem'), issued.chainPem);
    expect(await mustOpenssl(['verify', '-x509_strict', '-CAfile', 'root.pem', 'leaf.pem'])).toMatch(/leaf\.pem: OK/);
    const text = await mustOpenssl(['x509', '-noout', '-text', '-in', 'leaf.pem']);
    expect(text).toMatch(
      /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/example\.org\/ns\/default\/sa\/web/,
    );
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/Subject: *\n/);
    const rootText = await mustOpenssl(['x509', '-noout', '-text', '-in', 'root.pem']);
    expect(rootText).toMatch(/Subject: O ?= ?example\.org/);
    expect(rootText).toMatch(/CA:TRUE/);
    expect(rootText).toMatch(/URI:spiffe:\/\/example\.org\n/);
  });

  it('verifies through an intermediate (-untrusted), and an RSA root', async () => {
    const root = CertificateAuthority.selfSigned({ trustDomain: 'example.org', keyType: 'rsa' });
    const ca = CertificateAuthority.fromMaterial(root.createIntermediate(), { trustDomain: 'example.org' });
    const issued = ca.issue({ identity: 'spiffe://example.org/ns/default/sa/web' });
    await writeFile(file('root.pem'), root.rootCertPem);
    await writeFile(file('inter.pem'), issued.certChain.slice(1, -1).join(''));
    await writeFile(file('leaf.pem'), issued.certificate.toPem());
    expect(
      await mustOpenssl(['verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'inter.pem', 'leaf.pem']),
    ).toMatch(/OK/);
    // Without the intermediate OpenSSL cannot build the path either.
    expect((await openssl(['verify', '-CAfile', 'root.pem', 'leaf.pem'])).code).not.toBe(0);
  });

  it('verifies leaves of both roots against the bundle published during a planned rotation', async () => {
    const clock = new ManualClock(Date.now());
    const ca = CertificateAuthority.selfSigned({ clock });
    const before = ca.issue({ identity: 'spiffe://cluster.local/ns/a/sa/old' });
    ca.prepareRootRotation();
    ca.activatePendingRoot();
    const after = ca.issue({ identity: 'spiffe://cluster.local/ns/a/sa/new' });
    await writeFile(file('bundle.pem'), ca.rootCertPem);
    await writeFile(file('old.pem'), before.chainPem);
    await writeFile(file('new.pem'), after.chainPem);
    expect(await mustOpenssl(['verify', '-CAfile', 'bundle.pem', 'old.pem', 'new.pem'])).toMatch(
      /old\.pem: OK\s+new\.pem: OK/,
    );
  });

  it('accepts a root re-issued with the same key for leaves of the old root', async () => {
    const clock = new ManualClock(Date.now());
    const ca = CertificateAuthority.selfSigned({ clock, rootTtlMs: 10 * 86_400_000 });
    const leaf = ca.issue({ identity: 'spiffe://cluster.local/ns/a/sa/b', ttlMs: 9 * 86_400_000 });
    clock.advance(8.5 * 86_400_000);
    expect(ca.checkRotation()).toEqual(['renewed']);
    await writeFile(file('new-root.pem'), ca.signingCertificate.toPem());
    await writeFile(file('leaf.pem'), leaf.chainPem);
    const at = String(Math.floor(clock.now() / 1000));
    expect(await mustOpenssl(['verify', '-attime', at, '-CAfile', 'new-root.pem', 'leaf.pem'])).toMatch(/OK/);
  });
});

describe('our CA signs what OpenSSL requests', () => {
  it('signs an OpenSSL P-256 CSR with the identity from the caller, and OpenSSL verifies the result', async () => {
    await mustOpenssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'w.key',
      '-subj',
      '/',
      '-addext',
      'subjectAltName=critical,URI:spiffe://cluster.local/ns/default/sa/web',
      '-out',
      'w.csr',
    ]);
    const ca = CertificateAuthority.selfSigned();
    const csr = await readFile(file('w.csr'), 'utf8');
    expect(parseCertificateRequest(csr).uris).toEqual(['spiffe://cluster.local/ns/default/sa/web']);
    const issued = ca.sign({ csr, identity: 'spiffe://cluster.local/ns/default/sa/web' });
    await writeFile(file('root.pem'), ca.rootCertPem);
    await writeFile(file('w.pem'), issued.chainPem);
    expect(await mustOpenssl(['verify', '-CAfile', 'root.pem', 'w.pem'])).toMatch(/OK/);
    // The certificate carries the CSR's key: OpenSSL's key and certificate moduli match.
    const certKey = await mustOpenssl(['x509', '-noout', '-pubkey', '-in', 'w.pem']);
    const csrKey = await mustOpenssl(['pkey', '-pubout', '-in', 'w.key']);
    expect(certKey).toBe(csrKey);
  });

  it('signs an RSA 2048 CSR and refuses RSA 1024 and a CSR with a broken signature', async () => {
    const ca = CertificateAuthority.selfSigned();
    const id = 'spiffe://cluster.local/ns/default/sa/rsa';
    await mustOpenssl([
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'r.key',
      '-subj',
      '/CN=rsa',
      '-out',
      'r.csr',
    ]);
    expect(ca.sign({ csr: await readFile(file('r.csr'), 'utf8'), identity: id }).identity?.toString()).toBe(id);
    await mustOpenssl([
      'req',
      '-new',
      '-newkey',
      'rsa:1024',
      '-nodes',
      '-keyout',
      'weak.key',
      '-subj',
      '/CN=weak',
      '-out',
      'weak.csr',
    ]);
    const weak = await readFile(file('weak.csr'), 'utf8');
    expect(code(() => ca.sign({ csr: weak, identity: id }))).toBe('ERR_CA_KEY_NOT_ALLOWED');
    await mustOpenssl(['req', '-in', 'r.csr', '-outform', 'DER', '-out', 'r.der']);
    const bytes = await readFile(file('r.der'));
    bytes[bytes.length - 10]! ^= 0xff;
    expect(code(() => ca.sign({ csr: bytes, identity: id }))).toBe('ERR_CA_CSR_SIGNATURE');
    await writeFile(file('broken.der'), bytes);
    // OpenSSL agrees (it reports the failure, though `req -verify` exits 0 in OpenSSL 3.0).
    const judged = await openssl(['req', '-inform', 'DER', '-in', 'broken.der', '-noout', '-verify']);
    expect(judged.stdout + judged.stderr).toMatch(/self-signature verify failure|did not match/);
  });
});

describe('we verify what OpenSSL issues', () => {
  const ext = (lines: string[]) => `${lines.join('\n')}\n`;
  beforeAll(async () => {
    await mustOpenssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'oroot.key',
      '-subj',
      '/O=openssl.example',
      '-days',
      '30',
      '-out',
      'oroot.pem',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-addext',
      'subjectAltName=URI:spiffe://openssl.example',
    ]);
  });

  async function opensslLeaf(name: string, extensions: string[]): Promise<string> {
    await writeFile(file(`${name}.ext`), ext(extensions));
    await mustOpenssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-subj',
      '/',
      '-out',
      `${name}.csr`,
    ]);
    await mustOpenssl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'oroot.pem',
      '-CAkey',
      'oroot.key',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ]);
    return readFile(file(`${name}.pem`), 'utf8');
  }

  const svidExtensions = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
    'subjectAltName=critical,URI:spiffe://openssl.example/ns/default/sa/web',
  ];

  it('accepts an OpenSSL-issued SVID and refuses broken ones', async () => {
    const bundles = new X509BundleSet([X509Bundle.fromPem('openssl.example', await readFile(file('oroot.pem')))]);
    const good = await opensslLeaf('good', svidExtensions);
    expect(verifyX509Svid(good, bundles).id.toString()).toBe('spiffe://openssl.example/ns/default/sa/web');
    const ca = await opensslLeaf('ca-leaf', [
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,digitalSignature',
      'subjectAltName=critical,URI:spiffe://openssl.example/ns/default/sa/web',
    ]);
    expect(code(() => verifyX509Svid(ca, bundles))).toBe('ERR_SPIFFE_LEAF_IS_CA');
    const two = await opensslLeaf('two', [
      ...svidExtensions.slice(0, 3),
      'subjectAltName=critical,URI:spiffe://openssl.example/a,URI:spiffe://openssl.example/b',
    ]);
    expect(code(() => verifyX509Svid(two, bundles))).toBe('ERR_SPIFFE_MULTIPLE_URI_SANS');
    const noDigital = await opensslLeaf('nodigital', [
      svidExtensions[0]!,
      'keyUsage=critical,keyAgreement',
      ...svidExtensions.slice(2),
    ]);
    expect(code(() => verifyX509Svid(noDigital, bundles))).toBe('ERR_SPIFFE_LEAF_KEY_USAGE');
    // Parsed fields agree with OpenSSL's view.
    const parsed = parseCertificate(good);
    const serial = (await mustOpenssl(['x509', '-noout', '-serial', '-in', 'good.pem'])).trim().split('=')[1]!;
    expect(parsed.serialNumber.replace(/^0+/, '')).toBe(serial.toLowerCase().replace(/^0+/, ''));
    const fingerprint = (await mustOpenssl(['x509', '-noout', '-fingerprint', '-sha256', '-in', 'good.pem'])).trim();
    expect(fingerprint.split('=')[1]!.replace(/:/g, '').toLowerCase()).toBe(parsed.fingerprint256);
  });
});

describe('TLS between node:tls and OpenSSL with SVIDs', () => {
  it('our server identifies an openssl s_client that presents an SVID', async () => {
    const test = createTestCa({ trustDomain: 'example.org' });
    const server = test.issue('spiffe://example.org/ns/default/sa/server');
    const client = test.issue('spiffe://example.org/ns/default/sa/client');
    await writeFile(file('c.pem'), client.chainPem);
    await writeFile(file('c.key'), client.keyPem);
    await writeFile(file('ca.pem'), test.bundlePem);
    const verifier = createPeerVerifier({ bundles: test.bundles, authorize: authorizeMemberOf('example.org') });
    const seen: string[] = [];
    const srv = tls.createServer(server.serverTls(), (socket) => {
      seen.push(verifier.verify(socket.getPeerCertificate(true)).id.toString());
      socket.end('hello from node\n');
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const { port } = srv.address() as AddressInfo;
    const r = await openssl(
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-cert',
        'c.pem',
        '-key',
        'c.key',
        '-CAfile',
        'ca.pem',
        '-verify_return_error',
        '-quiet',
      ],
      '',
    );
    await new Promise((res) => srv.close(res));
    expect(r.stdout).toContain('hello from node');
    expect(seen).toEqual(['spiffe://example.org/ns/default/sa/client']);
  });

  it('our client accepts an openssl s_server of the expected ID and refuses another trust domain', async () => {
    const test = createTestCa({ trustDomain: 'example.org' });
    const foreign = createTestCa({ trustDomain: 'foreign.org' });
    const server = test.issue('spiffe://example.org/ns/default/sa/server');
    const client = test.issue('spiffe://example.org/ns/default/sa/client');
    const stranger = foreign.issue('spiffe://foreign.org/ns/default/sa/server');
    const attempt = async (svid: typeof server, authorize = authorizeIds(server.id)) => {
      await writeFile(file('s.pem'), svid.chainPem);
      await writeFile(file('s.key'), svid.keyPem);
      await using peer = await startSServer();
      return await new Promise<string>((resolve) => {
        const socket = tls.connect({ ...client.clientTls(authorize), host: '127.0.0.1', port: peer.port }, () => {
          socket.destroy();
          resolve('ok');
        });
        socket.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      });
    };
    expect(await attempt(server)).toBe('ok');
    expect(await attempt(server, authorizeIds('spiffe://example.org/ns/default/sa/other'))).toBe(
      'ERR_SPIFFE_UNEXPECTED_ID',
    );
    expect(await attempt(stranger, authorizeMemberOf('example.org', 'foreign.org'))).not.toBe('ok');
  });
});

/** openssl s_server on a port of 21000-21999 (retrying when taken), serving s.pem/s.key from the temp dir. */
async function startSServer(): Promise<{ port: number } & AsyncDisposable> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const port = 21000 + Math.floor(Math.random() * 1000);
    const child: ChildProcess = spawn(
      'openssl',
      ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', 's.pem', '-key', 's.key'],
      {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const ready = await new Promise<boolean>((resolve) => {
      let out = '';
      const timer = setTimeout(() => resolve(false), 10_000);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ACCEPT')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    const dispose = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill();
        await exited;
      }
    };
    if (ready) return { port, [Symbol.asyncDispose]: dispose };
    await dispose();
  }
  throw new Error('openssl s_server did not start on any port in 21000-21999');
}
