// Bodies through the built waypoint: request bodies stream (an 8 MiB upload passes a 1 MiB replay buffer), retries and
// mirrors work under the buffer's limit and are abandoned past it (as Envoy does), and a bidirectional gRPC stream
// (grpc-js on both ends) runs message by message through it with its trailers.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHboneServer, createHbonePool, relay, type HbonePool, type HboneServer } from '@mesh/hbone';
import {
  assertBuilt,
  createTestPki,
  eventually,
  startWaypointProcess,
  tempDir,
  writeSvidFiles,
  type WaypointProcess,
} from './helpers.js';

const HOST = '127.40.0.2';
const VIP = '127.40.0.10';
const WAYPOINT_PORT = 29101;
const POD_HBONE = 29008;
const HTTP_PORT = 29080;
const GRPC_PORT = 29081;
const LIMIT = 1024 * 1024;
const WAYPOINT_ID = 'spiffe://cluster.local/ns/shop/sa/waypoint';

const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 127.40.0.1}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop, labels: {istio.io/waypoint-for: service}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: files, namespace: shop, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: files}
  clusterIP: ${VIP}
  ports:
  - {name: http, port: 80, targetPort: ${HTTP_PORT}}
  - {name: grpc, port: 81, targetPort: ${GRPC_PORT}}
---
apiVersion: v1
kind: Pod
metadata: {name: files-v1, namespace: shop, labels: {app: files, version: v1}}
spec: {nodeName: node-a, serviceAccountName: files, containers: [{name: files}]}
status: {podIP: 127.40.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: files-v2, namespace: shop, labels: {app: files, version: v2}}
spec: {nodeName: node-a, serviceAccountName: files, containers: [{name: files}]}
status: {podIP: 127.40.1.2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: files, namespace: shop}
spec:
  host: files
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: files, namespace: shop}
spec:
  hosts: [files]
  http:
  - match: [{port: 80}]
    route: [{destination: {host: files, subset: v1, port: {number: 80}}}]
    mirror: {host: files, subset: v2}
    retries: {attempts: 2, retryOn: 5xx}
  - route: [{destination: {host: files, subset: v1, port: {number: 81}}}]
`;

interface Upload {
  pod: string;
  path: string;
  bytes: number;
  sha: string;
  shadow: boolean;
}

/** A pod: HTTP/1.1 that hashes what it receives (the first try of a /flaky path gets a 503), and a gRPC server. */
async function startPod(pki: ReturnType<typeof createTestPki>, ip: string, name: string) {
  const uploads: Upload[] = [];
  const seen = new Set<string>();
  const http: Server = createHttpServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    req.on('end', () => {
      const path = req.url ?? '/';
      const upload = {
        pod: name,
        path,
        bytes,
        sha: hash.digest('hex'),
        shadow: String(req.headers.host).endsWith('-shadow'),
      };
      uploads.push(upload);
      const first = !upload.shadow && path.startsWith('/flaky') && !seen.has(path);
      if (!upload.shadow) seen.add(path);
      res.writeHead(first ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(upload));
    });
  });
  await new Promise<void>((resolve) => http.listen(HTTP_PORT, ip, resolve));
  // gRPC: a bidirectional stream answering each message as it comes, with a count in the trailers at the end.
  const server = new grpc.Server();
  const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
  server.addService(
    {
      Chat: {
        path: '/mesh.test.Files/Chat',
        requestStream: true,
        responseStream: true,
        requestSerialize: raw.serialize,
        requestDeserialize: raw.deserialize,
        responseSerialize: raw.serialize,
        responseDeserialize: raw.deserialize,
      },
    },
    {
      Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        let n = 0;
        call.on('data', (m: Buffer) => call.write(Buffer.from(`${name}:${++n}:${m.toString()}`)));
        call.on('end', () => {
          const trailers = new grpc.Metadata();
          trailers.set('x-messages', String(n));
          call.end(trailers);
        });
      },
    },
  );
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${ip}:${GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
  const hbone: HboneServer = createHboneServer({
    certificate: () => pki.issue('/ns/shop/sa/files'),
    bundles: pki.bundles,
    handler: () => ({ action: 'forward' }),
  });
  await hbone.listen({ host: ip, port: POD_HBONE });
  return {
    uploads,
    async close() {
      await hbone.destroy();
      server.forceShutdown();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/** What ztunnel does for a client: a local TCP port whose connections go to the service through the waypoint. */
async function startOutbound(pool: HbonePool, port: number, local: number, waypointPort: () => number) {
  const server: NetServer = createNetServer((socket) => {
    socket.on('error', () => {});
    pool
      .dial({ target: `${VIP}:${port}`, via: `${HOST}:${waypointPort()}`, expectedIdentities: [WAYPOINT_ID] })
      .then((tunnel) => relay(socket, tunnel))
      .catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(local, HOST, resolve));
  return server;
}

function upload(path: string, payload: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: HOST, port: 29090, path, method: 'PUT', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // Written in pieces, as a client streaming a file would (no content-length: chunked).
    const piece = 64 * 1024;
    let at = 0;
    const more = () => {
      while (at < payload.length) {
        const ok = req.write(payload.subarray(at, (at += piece)));
        if (!ok) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('waypoint request and response bodies (real process)', () => {
  const pki = createTestPki();
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let waypoint: WaypointProcess;
  let pods: Awaited<ReturnType<typeof startPod>>[] = [];
  let pool: HbonePool;
  const outbound: NetServer[] = [];

  beforeAll(async () => {
    assertBuilt();
    dir = await tempDir('waypoint-bodies-');
    const configDir = join(dir.path, 'config');
    const certDir = join(dir.path, 'certs');
    await writeSvidFiles(pki, certDir, '/ns/shop/sa/waypoint');
    await mkdir(configDir);
    await writeFile(join(configDir, 'world.yaml'), WORLD);
    pods = [await startPod(pki, '127.40.1.1', 'files-v1'), await startPod(pki, '127.40.1.2', 'files-v2')];
    waypoint = await startWaypointProcess({
      host: HOST,
      hbonePort: WAYPOINT_PORT,
      args: [
        '--waypoint',
        'shop/waypoint',
        '--config-dir',
        configDir,
        '--cert-dir',
        certDir,
        '--upstream-hbone-port',
        String(POD_HBONE),
        '--max-request-buffer-bytes',
        String(LIMIT),
      ],
    });
    const svid = pki.issue('/ns/shop/sa/client');
    pool = createHbonePool({ certificate: () => svid, bundles: pki.bundles });
    outbound.push(await startOutbound(pool, 80, 29090, () => waypoint.hbonePort));
    outbound.push(await startOutbound(pool, 81, 29091, () => waypoint.hbonePort));
  });

  afterAll(async () => {
    for (const s of outbound) s.close();
    await pool?.destroy();
    await waypoint?.stop();
    for (const p of pods) await p.close();
    await dir?.[Symbol.asyncDispose]();
  });

  const uploadsOf = (path: string) => pods.flatMap((p) => p.uploads).filter((u) => u.path === path);

  it('retries and mirrors a body under the buffer limit, each copy whole', async () => {
    const payload = randomBytes(512 * 1024);
    const r = await upload('/flaky-small', payload);
    expect(r.status).toBe(200);
    const got = await eventually(() => {
      const u = uploadsOf('/flaky-small');
      return u.length === 3 ? u : undefined;
    }, 'the try, the retry and the mirror');
    // The 503'd try and the retry on v1, the mirror on v2: every copy has all the bytes.
    expect(got.filter((u) => !u.shadow).map((u) => u.pod)).toEqual(['files-v1', 'files-v1']);
    expect(got.filter((u) => u.shadow).map((u) => u.pod)).toEqual(['files-v2']);
    for (const u of got) expect(u).toMatchObject({ bytes: payload.length, sha: sha(payload) });
  });

  it('streams an 8 MiB body past the 1 MiB buffer: delivered whole once, not retried, not mirrored', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const ok = await upload('/big', payload);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ pod: 'files-v1', bytes: payload.length, sha: sha(payload) });

    // The first try answers 503 after reading everything: the body is past the buffer, so (like Envoy) no retry;
    // the client gets that answer.
    const flaky = await upload('/flaky-big', payload);
    expect(flaky.status).toBe(503);
    expect(uploadsOf('/flaky-big')).toEqual([
      { pod: 'files-v1', path: '/flaky-big', bytes: payload.length, sha: sha(payload), shadow: false },
    ]);
    const metrics = await eventually(async () => {
      const text = (await waypoint.admin('/metrics')).text;
      return /waypoint_retry_or_shadow_abandoned_total\{[^}]*kind="mirror"[^}]*\} 2/.test(text) ? text : undefined;
    }, 'two abandoned mirrors');
    expect(metrics).toMatch(/waypoint_retry_or_shadow_abandoned_total\{[^}]*kind="retry"[^}]*\} 1/);
    // No shadow of either big upload reached v2.
    expect(uploadsOf('/big').filter((u) => u.shadow)).toEqual([]);
    expect(uploadsOf('/flaky-big').filter((u) => u.shadow)).toEqual([]);
  });

  it('carries a bidirectional gRPC stream message by message, with its trailers', async () => {
    const client = new grpc.Client(`${HOST}:29091`, grpc.credentials.createInsecure());
    try {
      const call = client.makeBidiStreamRequest(
        '/mesh.test.Files/Chat',
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      const replies: string[] = [];
      const status = new Promise<grpc.StatusObject>((resolve) => call.once('status', resolve));
      const next = () => new Promise<string>((resolve) => call.once('data', (d: Buffer) => resolve(d.toString())));
      // Each message is answered before the next is sent: neither direction may wait for the other's end.
      for (let i = 1; i <= 5; i++) {
        const reply = next();
        call.write(Buffer.from(`m${i}`));
        replies.push(await reply);
      }
      call.end();
      expect(replies).toEqual(['files-v1:1:m1', 'files-v1:2:m2', 'files-v1:3:m3', 'files-v1:4:m4', 'files-v1:5:m5']);
      const end = await status;
      expect(end.code).toBe(grpc.status.OK);
      // Trailers that only the server's end sends: they crossed the waypoint as HTTP/2 trailers.
      expect(end.metadata.get('x-messages')).toEqual(['5']);
    } finally {
      client.close();
    }
  });
});
