// ztunnel without istiod: --local-config (YAML through the same ambient index istiod uses, followed live) and a local
// CA. One node, two pods on it (same-node traffic still goes pod → HBONE → pod). Addresses in 127.15.0.0/16.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, curl, eventually, get, startApp } from './helpers.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'ztunnel.mjs');

const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  clusterIP: 127.15.2.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {nodeName: solo, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.15.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: shop, labels: {app: client}}
spec: {nodeName: solo, serviceAccountName: client, containers: [{name: client}]}
status: {podIP: 127.15.1.20}
`;

const DENY = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: shop}
spec: {selector: {matchLabels: {app: web}}, action: DENY, rules: [{}]}
`;

describe('ztunnel with --local-config (real process, no istiod)', () => {
  let dir = '';
  let ztunnel: ReturnType<typeof spawn>;
  let out = '';
  let app: AsyncDisposable;

  beforeAll(async () => {
    assertBuilt();
    dir = await mkdtemp(join(tmpdir(), 'ztunnel-local-'));
    await writeFile(join(dir, 'world.yaml'), WORLD);
    app = await startApp('web-1', '127.15.1.10', 8080);
    ztunnel = spawn(process.execPath, [bin, '--node-name', 'solo', '--node-ip', '127.15.0.1', '--local-config', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ztunnel.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    ztunnel.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => (out.includes('"msg":"ztunnel ready"') ? true : undefined), 'ztunnel ready', 20_000).catch(
      (error: Error) => {
        throw new Error(`${error.message}: ${out}`);
      },
    );
  });

  afterAll(async () => {
    if (ztunnel && ztunnel.exitCode === null && ztunnel.signalCode === null) {
      const exited = new Promise<number | null>((resolve) => ztunnel.once('exit', (code) => resolve(code)));
      ztunnel.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    await app?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves same-node traffic over HBONE with certificates from the local CA, and follows file edits', async () => {
    expect((await curl('127.15.1.20:15080', 'http://127.15.2.10/')).stdout).toBe('web-1 127.15.1.20\n');
    const dump = JSON.parse((await get('http://127.15.0.1:15000/config_dump')).text) as {
      certificates: { identity: string; state: string }[];
    };
    expect(dump.certificates.map((c) => c.identity).sort()).toEqual([
      'spiffe://cluster.local/ns/shop/sa/client',
      'spiffe://cluster.local/ns/shop/sa/web',
    ]);
    await writeFile(join(dir, 'deny.yaml'), DENY);
    await eventually(
      async () =>
        (await curl('127.15.1.20:15080', 'http://127.15.2.10/', { timeoutS: 2 })).code !== 0 ? true : undefined,
      'denied',
      10_000,
    );
    await rm(join(dir, 'deny.yaml'));
    await eventually(
      async () =>
        (await curl('127.15.1.20:15080', 'http://127.15.2.10/', { timeoutS: 2 })).code === 0 ? true : undefined,
      'allowed again',
      10_000,
    );
  });
});
