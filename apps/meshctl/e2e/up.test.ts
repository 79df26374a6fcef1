// meshctl up as a real process: it runs the built istiod and ztunnels, prints progress, the ready table and
// `mesh ready`, starts a ztunnel for a Node added while it runs, stops everything on SIGINT with exit 0, and fails
// with ERR_MESHCTL_UP_FAILED when a port is taken. Addresses in 127.13.0.0/16, istiod on 26310-26314.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer as createHttpServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const apps = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(apps, 'meshctl', 'bin', 'meshctl.mjs');

const node = (name: string, ip: string) => `
apiVersion: v1
kind: Node
metadata: {name: ${name}}
status: {addresses: [{type: InternalIP, address: ${ip}}]}
`;
const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
${node('node-a', '127.13.0.1')}
---
apiVersion: v1
kind: Pod
metadata: {name: app-1, namespace: demo, labels: {app: app}}
spec: {nodeName: node-a, serviceAccountName: app, containers: [{name: app}]}
status: {podIP: 127.13.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: demo, labels: {app: client}}
spec: {nodeName: node-b, serviceAccountName: client, containers: [{name: client}]}
status: {podIP: 127.13.1.20}
`;
const ADDR = [
  '--grpc-addr',
  '127.13.0.100:26310',
  '--secure-grpc-addr',
  '127.13.0.100:26312',
  '--monitoring-addr',
  '127.13.0.100:26314',
];

function curl(socks: string, url: string): Promise<string> {
  return new Promise((resolve) =>
    execFile('curl', ['-sS', '--max-time', '5', '--socks5', socks, url], (_e, stdout, stderr) =>
      resolve(stdout || stderr),
    ),
  );
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('meshctl up (built binary, real processes)', () => {
  let dir = '';
  let app: Server;
  beforeAll(async () => {
    for (const a of ['meshctl', 'istiod', 'ztunnel'])
      expect(existsSync(join(apps, a, 'dist', 'main.js')), `apps/${a} must be built`).toBe(true);
    dir = await mkdtemp(join(tmpdir(), 'meshctl-up-'));
    app = createHttpServer((_req, res) => res.end('app-1\n')) as unknown as Server;
    await new Promise<void>((r) => app.listen(8080, '127.13.1.10', r));
  });
  afterAll(async () => {
    app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the mesh, follows a Node added live, and stops on SIGINT with exit 0', async () => {
    const config = join(dir, 'config');
    await mkdir(config);
    await writeFile(join(config, 'world.yaml'), WORLD);
    const child = spawn(process.execPath, [bin, 'up', '--config', config, '--state-dir', join(dir, 'state'), ...ADDR], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until(() => out.includes('mesh ready'), 'mesh ready');
      expect(out).toContain('warning: Pod demo/client-1 is on node node-b, which has no ztunnel');
      expect(out).toMatch(/istiod\s+ready \(pid \d+\)/);
      expect(out).toMatch(
        /node-a\s+demo\s+app-1\s+127\.13\.1\.10\s+spiffe:\/\/cluster\.local\/ns\/demo\/sa\/app\s+127\.13\.1\.10:15080/,
      );
      expect(out.split('\n').filter((l) => l.includes('mesh ready'))).toHaveLength(1);

      // node-b appears: meshctl starts its ztunnel, and client-1 gets a SOCKS5 port.
      await writeFile(join(config, 'node-b.yaml'), node('node-b', '127.13.0.2'));
      await until(() => /ztunnel\/node-b\s+ready/.test(out), 'the ztunnel of node-b');
      await until(
        async () => (await curl('127.13.1.20:15080', 'http://127.13.1.10:8080/')) === 'app-1\n',
        'traffic from client-1',
      );
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/ztunnel\/node-b\s+stopped[\s\S]*istiod\s+stopped[\s\S]*stopped\n$/);
  });

  it('fails with ERR_MESHCTL_UP_FAILED (exit 1) and stops what it started when istiod cannot listen', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(26312, '127.13.0.100', r));
    const config = join(dir, 'config2');
    await mkdir(config);
    await writeFile(join(config, 'world.yaml'), WORLD);
    try {
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [
          bin,
          'up',
          '--config',
          config,
          '--state-dir',
          join(dir, 'state2'),
          '--ready-timeout',
          '5s',
          ...ADDR,
        ]);
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
      expect(result.code).toBe(1);
      expect(result.stderr.split('\n')[0]).toMatch(/^ERR_MESHCTL_UP_FAILED: the mesh did not start: istiod /);
    } finally {
      busy.close();
    }
  });
});
