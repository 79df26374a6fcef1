// Proxyless gRPC through istiod: three gRPC echo servers on 127.0.0.x are the Pods of a Service; an independent xDS
// client (@grpc/grpc-js-xds) dials xds:///<service>:<port> against istiod's plaintext port and spreads its calls over
// them; deleting one Pod's file moves the calls to the other two, with the same client. Its own worker process:
// grpc-js-xds registers its xds: resolver globally.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { register } from '@grpc/grpc-js-xds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, startIstiod, tempDir, type IstiodProcess } from './helpers.js';

register();

const BOOTSTRAP = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const ECHO = '/mesh.test.Echo/Echo';
const raw = (b: Buffer) => b;
const IPS = ['127.0.0.21', '127.0.0.22', '127.0.0.23'];

interface Echo {
  ip: string;
  calls: number;
  server: grpc.Server;
}

async function startEchoes(): Promise<{ port: number; echoes: Echo[] }> {
  // One port number on three loopback addresses (a Service has one targetPort); retry on a taken port.
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 24_000 + Math.floor(Math.random() * 1_000);
    const echoes: Echo[] = [];
    try {
      for (const ip of IPS) {
        const server = new grpc.Server();
        const echo: Echo = { ip, calls: 0, server };
        server.addService(
          {
            echo: {
              path: ECHO,
              requestStream: false,
              responseStream: false,
              requestSerialize: raw,
              requestDeserialize: raw,
              responseSerialize: raw,
              responseDeserialize: raw,
            },
          },
          {
            echo: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
              echo.calls++;
              callback(null, Buffer.from(ip));
            },
          },
        );
        echoes.push(echo);
        await new Promise<void>((resolve, reject) =>
          server.bindAsync(`${ip}:${port}`, grpc.ServerCredentials.createInsecure(), (e) =>
            e ? reject(e) : resolve(),
          ),
        );
      }
      return { port, echoes };
    } catch {
      for (const e of echoes) e.server.forceShutdown();
    }
  }
  throw new Error('no free port in 24000-24999 on 127.0.0.21-23');
}

const pod = (i: number, ip: string) => `apiVersion: v1
kind: Pod
metadata: {name: echo-${i}, namespace: grpc, labels: {app: echo, version: ${i === 1 ? 'b' : 'a'}}}
spec: {nodeName: node-a, serviceAccountName: echo, containers: [{name: echo}]}
status: {podIP: ${ip}}
`;

describe('proxyless gRPC (@grpc/grpc-js-xds) through istiod', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let istiod: IstiodProcess;
  let echoes: Echo[] = [];
  let client: grpc.Client;

  beforeAll(async () => {
    assertBuilt();
    dir = await tempDir('istiod-proxyless-');
    const started = await startEchoes();
    echoes = started.echoes;
    const config = join(dir.path, 'config');
    await mkdir(config);
    await writeFile(
      join(config, 'echo.yaml'),
      `apiVersion: v1
kind: Namespace
metadata: {name: grpc}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: grpc}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 7070, targetPort: ${started.port}}]
`,
    );
    for (const [i, ip] of IPS.entries()) await writeFile(join(config, `pod-${i}.yaml`), pod(i, ip));
    istiod = await startIstiod({ configDir: config, caDir: join(dir.path, 'ca') });
    const bootstrap = JSON.stringify({
      xds_servers: [
        {
          server_uri: `127.0.0.1:${istiod.ports.grpc}`,
          channel_creds: [{ type: 'insecure' }],
          server_features: ['xds_v3'],
        },
      ],
      node: {
        id: 'sidecar~127.0.0.30~client.grpc~grpc.svc.cluster.local',
        locality: {},
        metadata: { GENERATOR: 'grpc', NAMESPACE: 'grpc' },
      },
    });
    client = new grpc.Client('xds:///echo.grpc.svc.cluster.local:7070', grpc.credentials.createInsecure(), {
      [BOOTSTRAP]: bootstrap,
    });
  });

  afterAll(async () => {
    client?.close();
    for (const e of echoes) e.server.forceShutdown();
    await istiod?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  const call = () =>
    new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest(ECHO, raw, raw, Buffer.from('hi'), { deadline: Date.now() + 10_000 }, (e, r) =>
        e ? reject(e) : resolve(r!.toString()),
      ),
    );

  async function calls(n: number): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const who = await call();
      seen.set(who, (seen.get(who) ?? 0) + 1);
    }
    return seen;
  }

  it('spreads 300 calls over every Pod of the Service', async () => {
    // The picker fills in as the three subchannels connect: warm up until each answered once (bounded).
    const end = Date.now() + 15_000;
    while (new Set([...(await calls(10)).keys()]).size < 3 && Date.now() < end);
    for (const e of echoes) e.calls = 0;
    const seen = await calls(300);
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(300);
    for (const ip of IPS) expect(seen.get(ip) ?? 0, ip).toBeGreaterThan(0);
    expect(echoes.map((e) => e.calls).reduce((a, b) => a + b, 0)).toBe(300);
    const adsz = JSON.parse((await istiod.get('/debug/adsz')).text) as { principal: { type: string } }[];
    expect(adsz.map((c) => c.principal.type)).toContain('grpc');
  });

  it('moves the calls to the other two when a Pod is deleted, without restarting the client', async () => {
    await rm(join(dir.path, 'config', 'pod-2.yaml'));
    // Until the client's endpoint list drops the pod: a batch of 30 calls that misses it (bounded).
    const end = Date.now() + 15_000;
    for (;;) {
      const batch = await calls(30);
      if (!batch.has(IPS[2]!)) break;
      if (Date.now() > end) throw new Error('calls still reach the deleted pod after 15 s');
    }
    const seen = await calls(300);
    expect(seen.get(IPS[2]!) ?? 0).toBe(0);
    expect(seen.get(IPS[0]!) ?? 0).toBeGreaterThan(0);
    expect(seen.get(IPS[1]!) ?? 0).toBeGreaterThan(0);
  });

  it('honours VirtualService weights over DestinationRule subsets', async () => {
    const routing = (a: number, b: number) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: grpc}
spec:
  host: echo
  subsets: [{name: a, labels: {version: a}}, {name: b, labels: {version: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: grpc}
spec:
  hosts: [echo]
  http:
  - route:
    - {destination: {host: echo, subset: a}, weight: ${a}}
    - {destination: {host: echo, subset: b}, weight: ${b}}
`;
    // Everything to subset b (only echo-1, 127.0.0.22): weight 0 takes nothing.
    await writeFile(join(dir.path, 'config', 'routing.yaml'), routing(0, 100));
    const end = Date.now() + 15_000;
    while ((await calls(20)).size !== 1 && Date.now() < end);
    expect([...(await calls(100)).keys()]).toEqual([IPS[1]]);
    // 75/25 between a (echo-0) and b (echo-1): both get calls, a more than b.
    await writeFile(join(dir.path, 'config', 'routing.yaml'), routing(75, 25));
    while ((await calls(20)).size !== 2 && Date.now() < end + 15_000);
    const seen = await calls(400);
    expect(seen.get(IPS[0]!) ?? 0).toBeGreaterThan(seen.get(IPS[1]!) ?? 0);
    expect(seen.get(IPS[1]!) ?? 0).toBeGreaterThan(0);
  });
});
