import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '@mesh/ca/grpc';
import { SpiffeId } from '@mesh/spiffe';
import { addressType, authorizationType } from '@mesh/xds';
import { Discovery } from './discovery.js';
import { createLogger } from './log.js';
import { createMetrics } from './metrics.js';
import { createCommand, resolveOptions } from './options.js';

const WORLD = `
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, uid: u-web-1, labels: {app: web}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: done-1, namespace: shop, labels: {app: batch}}
spec: {nodeName: node-a, serviceAccountName: batch, containers: [{name: b}]}
status: {podIP: 10.0.0.2, phase: Succeeded}
---
apiVersion: v1
kind: Pod
metadata: {name: ztunnel-a, namespace: istio-system, uid: u-zt}
spec: {nodeName: node-a, serviceAccountName: ztunnel, containers: [{name: z}]}
status: {podIP: 10.0.9.1}
`;

describe('discovery', () => {
  let dir = '';
  let discovery: Discovery;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'istiod-discovery-'));
    await writeFile(join(dir, 'world.yaml'), WORLD);
    const command = createCommand();
    command.parse(['--config-dir', dir], { from: 'user' });
    const options = resolveOptions(command.opts());
    const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    discovery = new Discovery({ options, log, metrics: createMetrics({ version: 'test' }), authenticators: () => [] });
    await discovery.start();
  });
  afterAll(async () => {
    await discovery?.close({ graceMs: 100 });
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the first full index', () => {
    expect(discovery.ready).toBe(true);
    expect(discovery.xds.resources(addressType.typeUrl).map((r) => r.name)).toContain('Kubernetes//Pod/shop/web-1');
    expect(discovery.xds.resources(authorizationType.typeUrl)).toEqual([]);
  });

  const caller = (k8s: Caller['kubernetes']): Caller => ({
    identities: [SpiffeId.parse(`spiffe://cluster.local/ns/${k8s!.namespace}/sa/${k8s!.serviceAccount}`)],
    authenticator: 'jwt',
    kubernetes: k8s,
  });
  const web = SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/web');
  const ztunnel = { namespace: 'istio-system', serviceAccount: 'ztunnel' };

  it('lets a node agent impersonate a workload on its node, named by the token’s node or pod', () => {
    expect(discovery.nodeAuthorizer(caller({ ...ztunnel, nodeName: 'node-a' }), web).allowed).toBe(true);
    expect(discovery.nodeAuthorizer(caller({ ...ztunnel, podName: 'ztunnel-a', podUid: 'u-zt' }), web).allowed).toBe(
      true,
    );
  });

  it('refuses other nodes, unbound tokens, stale pods and finished pods', () => {
    const deny = (k8s: Caller['kubernetes'], id = web) => discovery.nodeAuthorizer(caller(k8s), id);
    expect(deny({ ...ztunnel, nodeName: 'node-b' })).toMatchObject({
      allowed: false,
      reason: 'no running pod of shop/web on node node-b',
    });
    expect(deny(ztunnel).reason).toMatch(/binds the caller to no node/);
    expect(deny({ ...ztunnel, podName: 'ztunnel-a', podUid: 'old' }).reason).toMatch(/another uid/);
    expect(deny({ ...ztunnel, podName: 'ztunnel-gone' }).reason).toMatch(/does not exist/);
    expect(deny({ ...ztunnel, podName: 'ztunnel-a', nodeName: 'node-b' }).reason).toMatch(/runs on node-a/);
    expect(
      deny({ ...ztunnel, nodeName: 'node-a' }, SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/batch')).allowed,
    ).toBe(false);
  });
});

describe('discovery over several config directories', () => {
  it('reads every directory of a comma-separated --config-dir (meshctl up adds its generated objects)', async () => {
    const a = await mkdtemp(join(tmpdir(), 'istiod-dirs-a-'));
    const b = await mkdtemp(join(tmpdir(), 'istiod-dirs-b-'));
    const pod = (name: string, ip: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop}
spec: {serviceAccountName: ${name}, containers: [{name: c}]}
status: {podIP: ${ip}}
`;
    await writeFile(join(a, 'a.yaml'), pod('from-a', '10.0.1.1'));
    await writeFile(join(b, 'b.yaml'), pod('from-b', '10.0.1.2'));
    const command = createCommand();
    command.parse(['--config-dir', `${a},${b}`], { from: 'user' });
    const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const d = new Discovery({
      options: resolveOptions(command.opts()),
      log,
      metrics: createMetrics({ version: 'test' }),
      authenticators: () => [],
    });
    try {
      await d.start();
      const names = d.xds.resources(addressType.typeUrl).map((r) => r.name);
      expect(names).toEqual(expect.arrayContaining(['Kubernetes//Pod/shop/from-a', 'Kubernetes//Pod/shop/from-b']));
    } finally {
      await d.close({ graceMs: 100 });
      await rm(a, { recursive: true, force: true });
      await rm(b, { recursive: true, force: true });
    }
  });
});
