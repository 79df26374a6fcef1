// Certificate renewal under a short TTL: the ztunnels request 20 s certificates (renewed at half-life, ~10 s), while a
// client keeps opening connections across the renewal; none may fail. Addresses in 127.11.0.0/16.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, curl, eventually, get, metricSum, startApp, startMesh, type Mesh } from './helpers.js';

const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 127.11.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 127.11.0.2}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  clusterIP: 127.11.2.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.11.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: shop, labels: {app: client}}
spec: {nodeName: node-b, serviceAccountName: client, containers: [{name: client}]}
status: {podIP: 127.11.1.20}
`;

describe('certificate renewal (real processes, 20 s certificates)', () => {
  let mesh: Mesh;
  let app: AsyncDisposable;

  beforeAll(async () => {
    assertBuilt();
    app = await startApp('web-1', '127.11.1.10', 8080);
    mesh = await startMesh({
      config: { 'world.yaml': WORLD },
      args: [
        '--grpc-addr',
        '127.11.0.100:26110',
        '--secure-grpc-addr',
        '127.11.0.100:26112',
        '--monitoring-addr',
        '127.11.0.100:26114',
        '--cert-ttl',
        '20s',
      ],
    });
  });

  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
    await app?.[Symbol.asyncDispose]();
  });

  it('renews both sides at half-life while connections keep succeeding', async () => {
    let requests = 0;
    const failures: string[] = [];
    const renewed = async (node: string) =>
      (await mesh.log(`ztunnel-${node}`)).some((l) => l.msg === 'certificate renewed');
    while (!((await renewed('node-a')) && (await renewed('node-b')))) {
      const r = await curl('127.11.1.20:15080', 'http://127.11.2.10/', { timeoutS: 5 });
      requests++;
      if (r.stdout !== 'web-1 127.11.1.20\n') failures.push(`${r.code} ${r.stderr}`);
      if (requests > 2_000) throw new Error('no renewal after 2,000 requests');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // A few more after the renewal, on the new certificates.
    for (let i = 0; i < 5; i++) {
      const r = await curl('127.11.1.20:15080', 'http://127.11.2.10/');
      if (r.stdout !== 'web-1 127.11.1.20\n') failures.push(`${r.code} ${r.stderr}`);
    }
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(10);
    const metrics = (await get('http://127.11.0.1:15020/metrics')).text;
    expect(metricSum(metrics, 'mesh_ztunnel_certificate_requests_total', { result: 'renewed' })).toBeGreaterThan(0);
    expect(metricSum(metrics, 'istio_tcp_connections_failed_total')).toBe(0);
    await eventually(async () => {
      const dump = JSON.parse((await get('http://127.11.0.1:15000/config_dump')).text) as {
        certificates: { state: string }[];
      };
      return dump.certificates.every((c) => c.state === 'Available') ? true : undefined;
    }, 'certificates available');
  });
});
