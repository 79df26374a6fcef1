import { describe, expect, it } from 'vitest';
import { loadText } from '@mesh/config';
import { planMesh, ztunnelProvider, istiodProvider, type UpPaths } from './plan.js';

const CONFIG = `
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 127.12.0.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: Hostname, address: a}, {type: InternalIP, address: 127.12.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: far}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.12.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: lost-1, namespace: shop}
spec: {nodeName: node-z, containers: [{name: lost}]}
status: {podIP: 127.12.1.11}
`;

const paths: UpPaths = {
  configDir: '/c',
  caDir: '/s/ca',
  tokenFile: (n) => `/s/tokens/${n}.jwt`,
  logFile: (n) => `/s/logs/${n}.log`,
  istiodBin: '/apps/istiod/bin/istiod.mjs',
  ztunnelBin: '/apps/ztunnel/bin/ztunnel.mjs',
};
const addr = { grpc: '127.0.0.1:15010', secureGrpc: '127.0.0.1:15012', monitoring: '127.0.0.1:15014' };

describe('planMesh', () => {
  it('takes one ztunnel per Node with a loopback InternalIP and says why others get none', () => {
    const plan = planMesh(loadText(CONFIG).objects);
    expect(plan.nodes).toEqual([
      { name: 'node-a', ip: '127.12.0.1' },
      { name: 'node-b', ip: '127.12.0.2' },
    ]);
    expect(plan.pods.map((p) => `${p.node}/${p.name}@${p.ip} as ${p.serviceAccount}`)).toEqual([
      'node-a/web-1@127.12.1.10 as web',
      'node-z/lost-1@127.12.1.11 as default',
    ]);
    expect(plan.warnings).toEqual([
      'Node far: InternalIP 10.0.0.1 is not in 127.0.0.0/8 (the local mesh is loopback only): no ztunnel for it',
      'Pod shop/lost-1 is on node node-z, which has no ztunnel',
    ]);
  });

  it('makes process specs: istiod first (tier 0), then a ztunnel per node with its token and the CA root', () => {
    const plan = planMesh(loadText(CONFIG).objects);
    const options = { logLevel: 'info', certTtl: '1h', drainTimeout: '5s' };
    const [istiod] = istiodProvider(plan, paths, addr, options);
    expect(istiod).toMatchObject({ name: 'istiod', tier: 0, readyMessage: 'istiod ready' });
    expect(istiod!.args).toEqual(
      expect.arrayContaining(['--config-dir', '/c', '--ca-dir', '/s/ca', '--secure-grpc-addr', '127.0.0.1:15012']),
    );
    const zt = ztunnelProvider(plan, paths, addr, options);
    expect(zt.map((s) => [s.name, s.tier, s.fingerprint])).toEqual([
      ['ztunnel/node-a', 1, '127.12.0.1'],
      ['ztunnel/node-b', 1, '127.12.0.2'],
    ]);
    expect(zt[0]!.args).toEqual(
      expect.arrayContaining([
        '--node-ip',
        '127.12.0.1',
        '--token-file',
        '/s/tokens/node-a.jwt',
        '--root-cert',
        '/s/ca/root-cert.pem',
        '--cert-ttl',
        '1h',
      ]),
    );
  });
});
