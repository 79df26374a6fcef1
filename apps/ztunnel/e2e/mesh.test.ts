// The local mesh end to end: `meshctl up` runs the built istiod and two ztunnels (node-a, node-b) as processes on
// 127.10.0.0/16; apps listen on their pod IPs; clients use curl through their pod's SOCKS5 port. Policies are written
// to the config directory while traffic runs; istiod is killed and comes back.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '@mesh/ca';
import { createHboneServer } from '@mesh/hbone';
import { assertBuilt, curl, eventually, get, metricSum, startApp, startMesh, type Mesh } from './helpers.js';

const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 127.10.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 127.10.0.2}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  clusterIP: 127.10.2.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web, version: v1}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.10.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: shop, labels: {app: client}}
spec: {nodeName: node-b, serviceAccountName: client, containers: [{name: client}]}
status: {podIP: 127.10.1.20}
---
apiVersion: v1
kind: Pod
metadata: {name: old-1, namespace: legacy, labels: {app: old}}
spec: {nodeName: node-a, containers: [{name: old}]}
status: {podIP: 127.10.1.40}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  # Manually deployed (Istio's convention): meshctl up runs no waypoint for it; this suite brings a stand-in.
  addresses: [{type: Hostname, value: waypoint.shop.svc.cluster.local}]
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: reviews}
  clusterIP: 127.10.2.20
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-1, namespace: shop, labels: {app: reviews}}
spec: {nodeName: node-a, serviceAccountName: reviews, containers: [{name: reviews}]}
status: {podIP: 127.10.1.50}
`;

// The waypoint's Service and pod (not captured: a waypoint terminates HBONE itself).
const WAYPOINT = `
apiVersion: v1
kind: Service
metadata: {name: waypoint, namespace: shop}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: waypoint}
  clusterIP: 127.10.2.30
  ports: [{name: mesh, port: 15008, targetPort: 15008}]
---
apiVersion: v1
kind: Pod
metadata:
  name: waypoint-1
  namespace: shop
  labels: {gateway.networking.k8s.io/gateway-name: waypoint, istio.io/dataplane-mode: none}
spec: {nodeName: node-a, serviceAccountName: waypoint, containers: [{name: istio-proxy}]}
status: {podIP: 127.10.1.60}
`;

const DENY_CLIENT = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/shop/sa/client"]}}]}]
`;

const STRICT = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
`;

const ADDR = [
  '--grpc-addr',
  '127.10.0.100:26010',
  '--secure-grpc-addr',
  '127.10.0.100:26012',
  '--monitoring-addr',
  '127.10.0.100:26014',
];
const CLIENT = '127.10.1.20:15080';
const nodeA = 'http://127.10.0.1';

describe('local mesh: meshctl up, istiod, two ztunnels (real processes)', () => {
  let mesh: Mesh;
  const apps: AsyncDisposable[] = [];

  beforeAll(async () => {
    assertBuilt();
    apps.push(await startApp('web-1', '127.10.1.10', 8080));
    apps.push(await startApp('old-1', '127.10.1.40', 8080));
    apps.push(await startApp('reviews-1', '127.10.1.50', 9080));
    apps.push(await startApp('outside', '127.10.3.1', 8080));
    mesh = await startMesh({ config: { 'world.yaml': WORLD }, args: ADDR });
  });

  afterAll(async () => {
    const code = await mesh?.stop();
    for (const a of apps) await a[Symbol.asyncDispose]();
    await mesh?.[Symbol.asyncDispose]();
    // SIGINT drains everything and exits 0.
    expect(code).toBe(0);
  });

  it('prints the ready table with identities and SOCKS5 ports', () => {
    const out = mesh.output();
    expect(out).toMatch(
      /node-a\s+shop\s+web-1\s+127\.10\.1\.10\s+spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web\s+127\.10\.1\.10:15080/,
    );
    expect(out).toMatch(/node-a\s+legacy\s+old-1\s+127\.10\.1\.40\s+\(not in the mesh\)/);
    expect(out).toContain('mesh ready');
  });

  it('carries requests across nodes over HBONE with both identities, by VIP and by hostname', async () => {
    const byVip = await curl(CLIENT, 'http://127.10.2.10/');
    expect(byVip).toMatchObject({ code: 0, stdout: 'web-1 127.10.1.20\n' }); // the app sees the source pod's IP
    const byName = await curl(CLIENT, 'http://web.shop.svc.cluster.local/', { hostname: true });
    expect(byName.stdout).toBe('web-1 127.10.1.20\n');
    const byPod = await curl(CLIENT, 'http://127.10.1.10:8080/');
    expect(byPod.stdout).toBe('web-1 127.10.1.20\n');

    // Access logs on both sides: connection complete with both SPIFFE identities.
    const inbound = await eventually(async () => {
      const lines = await mesh.log('ztunnel-node-a');
      return lines.find((l) => l.msg === 'connection complete' && l.direction === 'inbound' && l['dst.service']);
    }, 'an inbound access log line');
    expect(inbound).toMatchObject({
      scope: 'access',
      'src.addr': expect.stringMatching(/^127\.10\.1\.20:\d+$/),
      'src.workload': 'client-1',
      'src.identity': 'spiffe://cluster.local/ns/shop/sa/client',
      'dst.addr': '127.10.1.10:8080',
      'dst.hbone_addr': '127.10.1.10:8080',
      'dst.service': 'web.shop.svc.cluster.local',
      'dst.workload': 'web-1',
      'dst.identity': 'spiffe://cluster.local/ns/shop/sa/web',
      direction: 'inbound',
    });
    const outbound = await eventually(async () => {
      const lines = await mesh.log('ztunnel-node-b');
      return lines.find((l) => l.msg === 'connection complete' && l.direction === 'outbound');
    }, 'an outbound access log line');
    expect(outbound).toMatchObject({
      'dst.addr': '127.10.1.10:15008',
      'dst.hbone_addr': '127.10.1.10:8080',
      'src.identity': 'spiffe://cluster.local/ns/shop/sa/client',
      'dst.identity': 'spiffe://cluster.local/ns/shop/sa/web',
    });
    expect(outbound.bytes_sent).toBeGreaterThan(0);
    expect(outbound.bytes_recv).toBeGreaterThan(0);

    // Metrics with Istio's names and labels on both reporters.
    const dst = (await get(`${nodeA}:15020/metrics`)).text;
    const labels = {
      reporter: 'destination',
      source_principal: 'spiffe://cluster.local/ns/shop/sa/client',
      destination_principal: 'spiffe://cluster.local/ns/shop/sa/web',
      destination_service: 'web.shop.svc.cluster.local',
      destination_workload: 'web-1',
      source_workload: 'client-1',
      connection_security_policy: 'mutual_tls',
    };
    expect(metricSum(dst, 'istio_tcp_connections_opened_total', labels)).toBeGreaterThanOrEqual(3);
    expect(metricSum(dst, 'istio_tcp_received_bytes_total', labels)).toBeGreaterThan(0);
    expect(metricSum(dst, 'istio_tcp_sent_bytes_total', labels)).toBeGreaterThan(0);
    const src = (await get('http://127.10.0.2:15020/stats/prometheus')).text;
    expect(
      metricSum(src, 'istio_tcp_connections_closed_total', { ...labels, reporter: 'source' }),
    ).toBeGreaterThanOrEqual(3);
  });

  it('sends plain TCP to workloads outside the mesh and passes unknown addresses through', async () => {
    expect((await curl(CLIENT, 'http://127.10.1.40:8080/')).stdout).toBe('old-1 127.10.1.20\n');
    expect((await curl(CLIENT, 'http://127.10.3.1:8080/')).stdout).toBe('outside 127.10.1.20\n');
  });

  it('puts only TLS on port 15008 (tshark)', async () => {
    const capture = join(mesh.dir, 'hbone.pcapng');
    const tshark = spawn(
      'tshark',
      ['-i', 'lo', '-f', 'tcp port 15008 and host 127.10.1.10', '-w', capture, '-a', 'duration:30'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const exited = new Promise<void>((resolve) => tshark.once('exit', () => resolve()));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tshark did not start: ${log}`)), 15_000);
      tshark.stderr.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('Capturing on')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    const marker = 'PLAINTEXT-MARKER-'.repeat(32);
    for (let i = 0; i < 3; i++) {
      const r = await curl(CLIENT, 'http://127.10.2.10/', { args: ['-H', `x-marker: ${marker}`] });
      expect(r.code).toBe(0);
    }
    await new Promise((r) => setTimeout(r, 300));
    tshark.kill('SIGINT');
    await exited;
    const raw = readFileSync(capture);
    expect(raw.includes(Buffer.from('PLAINTEXT-MARKER'))).toBe(false);
    const fields = await new Promise<string>((resolve) => {
      const t = spawn('tshark', [
        '-r',
        capture,
        '-d',
        'tcp.port==15008,tls',
        '-Y',
        'tcp.len > 0',
        '-T',
        'fields',
        '-e',
        '_ws.col.Protocol',
      ]);
      let out = '';
      t.stdout.on('data', (d: Buffer) => (out += d.toString()));
      t.once('exit', () => resolve(out));
    });
    const protocols = fields.trim().split('\n').filter(Boolean);
    expect(protocols.length).toBeGreaterThan(5);
    expect(protocols.filter((p) => !/^TLSv1(\.[23])?$/.test(p))).toEqual([]);
  });

  it('applies a DENY policy within a second: new connections refused, a live one closed; removing it restores', async () => {
    // A live connection: a streaming response that stays open.
    const live = connect({ host: '127.10.1.20', port: 15080 });
    await new Promise((r) => live.once('connect', r));
    live.write(Buffer.from([5, 1, 0]));
    live.write(Buffer.from([5, 1, 0, 1, 127, 10, 2, 10, 0, 80]));
    live.write('GET /slow HTTP/1.1\r\nHost: web\r\n\r\n');
    let received = '';
    live.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const liveClosed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    live.on('error', () => {});
    await eventually(() => (received.includes('web-1 streaming') ? true : undefined), 'the live connection');

    const written = Date.now();
    await mesh.writeConfig('deny.yaml', DENY_CLIENT);
    await liveClosed;
    const denied = await eventually(
      async () => {
        const r = await curl(CLIENT, 'http://127.10.2.10/', { timeoutS: 2 });
        return r.code !== 0 ? r : undefined;
      },
      'a refused connection',
      5_000,
    );
    // The policy took effect within a second of the write (istiod's file debounce, push, ztunnel re-check).
    const closeLine = await eventually(async () => {
      const lines = await mesh.log('ztunnel-node-a');
      return lines.find((l) => l.msg === 'connection closed due to policy change');
    }, 'the policy-change log line');
    expect(Date.parse(closeLine.time as string) - written).toBeLessThan(1_000);
    expect(denied.stdout).toBe('');
    const line = await eventually(async () => {
      const lines = await mesh.log('ztunnel-node-a');
      return lines.find(
        (l) =>
          l.msg === 'connection complete' &&
          typeof l.error === 'string' &&
          /DENY policy shop\/deny-client/.test(l.error as string) &&
          !/policy change/.test(l.error as string),
      );
    }, 'the denied access log line');
    expect(line).toMatchObject({ level: 'error', 'src.identity': 'spiffe://cluster.local/ns/shop/sa/client' });
    const metrics = (await get(`${nodeA}:15020/metrics`)).text;
    expect(metricSum(metrics, 'istio_tcp_connections_failed_total', { response_flags: 'DENY' })).toBeGreaterThan(0);

    await mesh.removeConfig('deny.yaml');
    await eventually(
      async () => {
        const r = await curl(CLIENT, 'http://127.10.2.10/', { timeoutS: 2 });
        return r.stdout === 'web-1 127.10.1.20\n' ? true : undefined;
      },
      'traffic restored',
      5_000,
    );
  });

  it('honours STRICT PeerAuthentication: mesh traffic (with identities) passes, the strict policy is in force', async () => {
    await mesh.writeConfig('strict.yaml', STRICT);
    await eventually(async () => {
      const dump = JSON.parse((await get(`${nodeA}:15000/config_dump`)).text) as {
        workloads: { name: string; authorizationPolicies: string[] }[];
      };
      const web = dump.workloads.find((w) => w.name === 'web-1');
      return web?.authorizationPolicies.some((p) => p.endsWith('istio_converted_static_strict')) ? true : undefined;
    }, 'the strict policy on web-1');
    expect((await curl(CLIENT, 'http://127.10.2.10/')).stdout).toBe('web-1 127.10.1.20\n');
    await mesh.removeConfig('strict.yaml');
  });

  it('refuses (never bypasses) a destination whose waypoint is not running, and says so', async () => {
    const r = await curl(CLIENT, 'http://127.10.2.20:9080/', { timeoutS: 3 });
    expect(r.code).not.toBe(0);
    const metrics = (await get('http://127.10.0.2:15020/metrics')).text;
    expect(
      metricSum(metrics, 'mesh_ztunnel_waypoint_unavailable_total', {
        waypoint: 'shop/waypoint.shop.svc.cluster.local',
      }),
    ).toBeGreaterThan(0);
    const line = await eventually(
      async () => (await mesh.log('ztunnel-node-b')).find((l) => l.code === 'ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE'),
      'the waypoint error',
    );
    expect(line.level).toBe('error');
  });

  it('refuses (never bypasses) a Service whose use-waypoint label names a Gateway that does not exist', async () => {
    // A typo'd waypoint name in front of web-1: istiod would drop the waypoint and ztunnel would deliver to web-1,
    // around any L7 policy; here the index keeps the waypoint's hostname, which ztunnel cannot resolve.
    await mesh.writeConfig(
      'ghost.yaml',
      `apiVersion: v1
kind: Service
metadata: {name: ghosted, namespace: shop, labels: {istio.io/use-waypoint: ghost}}
spec:
  selector: {app: web}
  clusterIP: 127.50.2.30
  ports: [{name: http, port: 30080, targetPort: 8080}]
`,
    );
    try {
      const refusals = async () =>
        metricSum((await get('http://127.10.0.2:15020/metrics')).text, 'mesh_ztunnel_waypoint_unavailable_total', {
          waypoint: 'shop/ghost.shop.svc.cluster.local',
        });
      const outputs: string[] = [];
      await eventually(async () => {
        const r = await curl(CLIENT, 'http://127.50.2.30:30080/', { timeoutS: 3 });
        outputs.push(r.stdout);
        return (await refusals()) > 0 ? true : undefined;
      }, 'a refusal for the missing waypoint');
      const r = await curl(CLIENT, 'http://127.50.2.30:30080/', { timeoutS: 3 });
      expect(r.code).not.toBe(0);
      outputs.push(r.stdout);
      expect(outputs.filter((o) => o.includes('web-1'))).toEqual([]);
      const line = await eventually(
        async () =>
          (await mesh.log('ztunnel-node-b')).find(
            (l) => l.code === 'ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE' && l.waypoint === 'shop/ghost.shop.svc.cluster.local',
          ),
        'the missing-waypoint error',
      );
      expect(line.level).toBe('error');
      expect(String(line.msg)).toContain('ghost.shop.svc.cluster.local');
    } finally {
      await mesh.removeConfig('ghost.yaml');
    }
  });

  it('tunnels a waypoint-bound Service to the waypoint with the original destination as :authority', async () => {
    // A stand-in waypoint: an HBONE server on the waypoint pod's IP with the waypoint's identity from the mesh CA,
    // recording what it is asked for and forwarding to the reviews pod. (The real one is apps/waypoint.)
    const ca = await CertificateAuthority.fromCacertsDir({
      dir: join(mesh.stateDir, 'ca'),
      trustDomain: 'cluster.local',
    });
    const svid = ca.issue({ identity: 'spiffe://cluster.local/ns/shop/sa/waypoint' }).svid!;
    const seen: { authority: string; peer: string }[] = [];
    const waypoint = createHboneServer({
      certificate: () => svid,
      bundles: ca.bundle,
      handler: (request) => {
        seen.push({ authority: `${request.authority.host}:${request.authority.port}`, peer: request.peerIdentity });
        return { action: 'forward', target: { host: '127.10.1.50', port: 9080 } };
      },
    });
    await waypoint.listen({ host: '127.10.1.60', port: 15008 });
    try {
      await mesh.writeConfig('waypoint.yaml', WAYPOINT);
      const r = await eventually(
        async () => {
          const a = await curl(CLIENT, 'http://127.10.2.20:9080/', { timeoutS: 3 });
          return a.code === 0 ? a : undefined;
        },
        'traffic through the waypoint',
        10_000,
      );
      expect(r.stdout).toMatch(/^reviews-1 /);
      expect(seen[0]).toEqual({ authority: '127.10.2.20:9080', peer: 'spiffe://cluster.local/ns/shop/sa/client' });
      const line = await eventually(
        async () =>
          (await mesh.log('ztunnel-node-b')).find(
            (l) => l.msg === 'connection complete' && l['dst.waypoint'] === 'shop/waypoint.shop.svc.cluster.local',
          ),
        'the outbound log line via the waypoint',
      );
      expect(line).toMatchObject({
        'dst.addr': '127.10.1.60:15008',
        'dst.hbone_addr': '127.10.2.20:9080',
        'dst.identity': 'spiffe://cluster.local/ns/shop/sa/waypoint',
      });
    } finally {
      await mesh.removeConfig('waypoint.yaml');
      await waypoint.destroy();
    }
  });

  it('closes connections that send garbage, on SOCKS5 and on HBONE, and keeps serving', async () => {
    for (const port of [15080, 15008]) {
      const s = connect({ host: '127.10.1.10', port });
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      s.write('GET / HTTP/1.1\r\nHost: nonsense\r\n\r\n' + 'x'.repeat(5000));
      await new Promise<void>((resolve) => s.once('close', () => resolve()));
    }
    expect((await curl(CLIENT, 'http://127.10.2.10/')).stdout).toBe('web-1 127.10.1.20\n');
    expect((await get(`${nodeA}:15021/healthz/ready`)).status).toBe(200);
  });

  it('serves admin: config_dump with certificates and connections, runtime log levels', async () => {
    const dump = JSON.parse((await get(`${nodeA}:15000/config_dump`)).text) as {
      certificates: { identity: string; state: string; certChain: { expirationTime: string }[] }[];
      services: { hostname: string; vips: string[] }[];
      workloadState: Record<string, unknown>;
    };
    expect(dump.certificates.map((c) => [c.identity, c.state]).sort()).toEqual([
      ['spiffe://cluster.local/ns/shop/sa/reviews', 'Available'],
      ['spiffe://cluster.local/ns/shop/sa/web', 'Available'],
    ]);
    expect(dump.services.find((s) => s.hostname === 'web.shop.svc.cluster.local')?.vips).toEqual(['/127.10.2.10']);
    expect(Object.keys(dump.workloadState).sort()).toEqual([
      'Kubernetes//Pod/shop/reviews-1',
      'Kubernetes//Pod/shop/web-1',
    ]);
    const metrics = (await get(`${nodeA}:15020/metrics`)).text;
    expect(
      metricSum(metrics, 'mesh_ztunnel_certificate_expiration_timestamp_seconds', {
        identity: 'spiffe://cluster.local/ns/shop/sa/web',
      }),
    ).toBeGreaterThan(Date.now() / 1000);

    const set = await fetch(`${nodeA}:15000/logging?level=access:debug`, { method: 'POST' });
    expect(((await set.json()) as Record<string, string>).access).toBe('debug');
    const bad = await fetch(`${nodeA}:15000/logging?level=loud`, { method: 'POST' });
    expect(bad.status).toBe(400);
    await fetch(`${nodeA}:15000/logging?reset`, { method: 'POST' });
  });

  it('keeps traffic flowing while istiod is gone; istiod comes back (supervised) and ztunnels resync', async () => {
    const istiod = await mesh.log('istiod');
    expect(istiod.length).toBeGreaterThan(0);
    const pid = Number(/istiod\s+ready \(pid (\d+)\)/.exec(mesh.output())![1]);
    process.kill(pid, 'SIGKILL');
    // The data plane runs on its last good state.
    for (let i = 0; i < 3; i++) expect((await curl(CLIENT, 'http://127.10.2.10/')).stdout).toBe('web-1 127.10.1.20\n');
    await eventually(
      () => ((mesh.output().match(/istiod\s+ready \(pid/g) ?? []).length >= 2 ? true : undefined),
      'istiod restarted',
      30_000,
    );
    // A change made after the restart reaches the ztunnels: they resynced with the new istiod.
    await mesh.writeConfig('deny.yaml', DENY_CLIENT);
    await eventually(
      async () => {
        const r = await curl(CLIENT, 'http://127.10.2.10/', { timeoutS: 2 });
        return r.code !== 0 ? true : undefined;
      },
      'the policy from the restarted istiod',
      15_000,
    );
    await mesh.removeConfig('deny.yaml');
    await eventually(
      async () => ((await curl(CLIENT, 'http://127.10.2.10/', { timeoutS: 2 })).code === 0 ? true : undefined),
      'restored',
      10_000,
    );
  });
});
