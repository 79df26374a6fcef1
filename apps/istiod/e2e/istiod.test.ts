// istiod as a real process on loopback: a config directory, the TLS xDS port with tokens, the CA with node
// impersonation, live file changes, bad config, the monitoring port and graceful shutdown.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromStruct } from '@mesh/api';
import { loadTokenSigningKey, signServiceAccountToken } from '@mesh/ca';
import { IstioCaClient } from '@mesh/ca/grpc';
import { ManualClock, MeshError } from '@mesh/core';
import { addressType, authorizationType, istioNodeId, waypointServiceType, waypointType, XdsClient } from '@mesh/xds';
import { assertBuilt, eventually, meshctl, startIstiod, tempDir, type IstiodProcess } from './helpers.js';

const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 127.0.10.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 127.0.10.2}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: web}
  clusterIP: 127.0.12.1
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web, version: v1}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.0.11.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: shop, labels: {app: db}}
spec: {nodeName: node-b, serviceAccountName: db, containers: [{name: db}]}
status: {podIP: 127.0.11.2}
`;

const ROUTING = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - name: v1
    route: [{destination: {host: web}}]
`;

const POLICY = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  rules: [{from: [{source: {namespaces: [shop]}}]}]
`;

const SERVER_NAME = 'istiod.istio-system.svc';

describe('istiod (real process)', () => {
  let config: Awaited<ReturnType<typeof tempDir>>;
  let caDir = '';
  let istiod: IstiodProcess;
  let root = '';
  const clients: XdsClient[] = [];

  beforeAll(async () => {
    assertBuilt();
    config = await tempDir('istiod-e2e-');
    caDir = join(config.path, 'ca');
    const dir = join(config.path, 'config');
    await writeFile(join(config.path, 'placeholder'), '');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    await writeFile(join(dir, 'world.yaml'), WORLD);
    await writeFile(join(dir, 'routing.yaml'), ROUTING);
    await writeFile(join(dir, 'policy.yaml'), POLICY);
    istiod = await startIstiod({ configDir: dir, caDir });
    root = await readFile(join(caDir, 'root-cert.pem'), 'utf8');
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await istiod?.stop();
    await config?.[Symbol.asyncDispose]();
  });

  const configDir = () => join(config.path, 'config');

  /** A token signed with the CA directory's key (what meshctl token create does, without a process per token). */
  async function token(sa: string, options: { node?: string; pod?: string; ttlMs?: number; clock?: ManualClock } = {}) {
    const [namespace, serviceAccount] = sa.split('/') as [string, string];
    const key = await loadTokenSigningKey({ dir: caDir });
    return signServiceAccountToken(key, {
      namespace,
      serviceAccount,
      ...(options.node ? { node: { name: options.node } } : {}),
      ...(options.pod ? { pod: { name: options.pod } } : {}),
      ...(options.ttlMs ? { ttlMs: options.ttlMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }

  function xds(options: {
    token?: string;
    nodeId: string;
    metadata?: Record<string, unknown>;
    plaintext?: boolean;
  }): XdsClient {
    const client = new XdsClient({
      server: `127.0.0.1:${options.plaintext ? istiod.ports.grpc : istiod.ports.secureGrpc}`,
      node: { id: options.nodeId, metadata: (options.metadata ?? {}) as never },
      ...(options.plaintext ? {} : { tls: { ca: root, serverName: SERVER_NAME } }),
      ...(options.token ? { token: options.token } : {}),
      backoff: { initialMs: 50, maxMs: 500 },
    });
    clients.push(client);
    return client;
  }

  const ztunnelId = istioNodeId({ type: 'ztunnel', ip: '127.0.10.1', podName: 'ztunnel-a', namespace: 'istio-system' });

  function caClient(bearer: string) {
    return new IstioCaClient({
      address: `127.0.0.1:${istiod.ports.secureGrpc}`,
      credentials: grpc.credentials.createSsl(Buffer.from(root)),
      channelOptions: { 'grpc.ssl_target_name_override': SERVER_NAME },
      token: bearer,
      timeoutMs: 10_000,
    });
  }

  it('is ready, and serves metrics and the debug views', async () => {
    expect(await istiod.get('/ready')).toEqual({ status: 200, text: 'ready\n' });
    const metrics = (await istiod.get('/metrics')).text;
    expect(metrics).toMatch(/^istio_build\{component="pilot",tag="[^"]+"\} 1$/m);
    expect(metrics).toMatch(/^pilot_services 1$/m);
    const debug = JSON.parse((await istiod.get('/debug')).text) as Record<string, string>;
    expect(Object.keys(debug)).toContain('/debug/syncz');
    const configz = JSON.parse((await istiod.get('/debug/configz')).text) as {
      objects: { kind: string; origin: { file: string } }[];
    };
    expect(configz.objects.find((o) => o.kind === 'AuthorizationPolicy')?.origin.file).toMatch(/policy\.yaml$/);
  });

  it('serves ztunnel over TLS with a token: pods, services and policies appear, change and disappear with the files', async () => {
    const bearer = (
      await meshctl('token', 'create', '--sa', 'istio-system/ztunnel', '--ca-dir', caDir, '--node', 'node-a')
    ).stdout
      .trim()
      .split('\n')
      .at(-1)!;
    const client = xds({
      token: bearer,
      nodeId: ztunnelId,
      metadata: { NAMESPACE: 'istio-system', NODE_NAME: 'node-a' },
    });
    const addresses = client.subscribe(addressType);
    const policies = client.subscribe(authorizationType);
    await client.ready({ timeoutMs: 10_000 });
    expect(addresses.get('/127.0.11.1')?.name).toBe('Kubernetes//Pod/shop/web-1');
    expect(addresses.get('/127.0.12.1')?.name).toBe('shop/web.shop.svc.cluster.local');
    expect(policies.get('shop/allow-web')).toBeDefined();

    // On-demand (ztunnel's XDS_ON_DEMAND): subscribe to nothing, look up by <network>/<ip>.
    const lazy = xds({ token: bearer, nodeId: ztunnelId, metadata: { NAMESPACE: 'istio-system' } });
    const onDemand = lazy.subscribe(addressType, { names: [] });
    expect((await onDemand.lookup('/127.0.12.1', { timeoutMs: 10_000 }))?.name).toBe('shop/web.shop.svc.cluster.local');
    expect(await onDemand.lookup('/127.9.9.9', { timeoutMs: 10_000 })).toBeUndefined();
    expect(onDemand.size).toBe(1);
    await lazy.close();

    // A new pod in a new file appears.
    await writeFile(
      join(configDir(), 'web-2.yaml'),
      `apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web, version: v2}}
spec: {nodeName: node-b, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.0.11.3}
`,
    );
    await eventually(() => addresses.get('/127.0.11.3'), 'web-2 to appear');
    // A changed pod is pushed again.
    const before = addresses.get('Kubernetes//Pod/shop/web-2')!.version;
    await writeFile(
      join(configDir(), 'web-2.yaml'),
      `apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web, version: v3}}
spec: {nodeName: node-b, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.0.11.3}
`,
    );
    await eventually(
      () => (addresses.get('Kubernetes//Pod/shop/web-2')!.version !== before ? true : undefined),
      'web-2 to change',
    );
    // A deleted file removes its pod; a deleted policy file removes the policy.
    await rm(join(configDir(), 'web-2.yaml'));
    await rm(join(configDir(), 'policy.yaml'));
    await eventually(() => (addresses.get('/127.0.11.3') === undefined ? true : undefined), 'web-2 to disappear');
    await eventually(
      () => (policies.get('shop/allow-web') === undefined ? true : undefined),
      'the policy to disappear',
    );
    await writeFile(join(configDir(), 'policy.yaml'), POLICY);
    await eventually(() => policies.get('shop/allow-web'), 'the policy to come back');

    const syncz = JSON.parse((await istiod.get('/debug/syncz')).text) as { proxy: string; proxy_type: string }[];
    expect(syncz.find((s) => s.proxy === ztunnelId)?.proxy_type).toBe('ztunnel');
    const dump = JSON.parse((await istiod.get(`/debug/config_dump?proxyID=${encodeURIComponent(ztunnelId)}`)).text) as {
      types: { typeUrl: string; resources: unknown[] }[];
    };
    expect(dump.types.find((t) => t.typeUrl === addressType.typeUrl)?.resources.length).toBeGreaterThan(2);
  });

  it('keeps serving the last good config when a file breaks, and says where', async () => {
    const client = xds({ nodeId: 'zt-plain', plaintext: true });
    const addresses = client.subscribe(addressType);
    await client.ready({ timeoutMs: 10_000 });
    const good = await readFile(join(configDir(), 'world.yaml'), 'utf8');
    await writeFile(
      join(configDir(), 'world.yaml'),
      `${good}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: broken, namespace: shop}\nspec: {ports: [{port: not-a-number}]}\n`,
    );
    const logged = await istiod.waitForLog((l) => l.msg.startsWith('invalid config'), 'the config error to be logged');
    expect(logged).toMatchObject({ level: 'error', scope: 'config' });
    expect(String(logged.file)).toMatch(/world\.yaml$/);
    expect(String(logged.field)).toMatch(/ports/);
    expect((await istiod.get('/metrics')).text).toMatch(/^istiod_config_issues\{severity="error"\} [1-9]$/m);
    expect(addresses.get('/127.0.11.1')).toBeDefined(); // last good state
    expect(await istiod.get('/ready')).toMatchObject({ status: 200 });
    await writeFile(join(configDir(), 'world.yaml'), good);
    await eventually(
      async () =>
        /^istiod_config_issues\{severity="error"\} 0$/m.test((await istiod.get('/metrics')).text) ? true : undefined,
      'the error to clear',
    );
  });

  it('refuses xDS on the TLS port without a valid token, and a proxy claiming another namespace', async () => {
    const anonymous = xds({ nodeId: ztunnelId });
    anonymous.subscribe(addressType);
    const refused = await new Promise<{ code: string }>((resolve) =>
      anonymous.once('disconnected', ({ error }) => resolve(error)),
    );
    expect(refused.code).toBe('ERR_XDS_UNAUTHENTICATED');
    await anonymous.close();

    const liar = xds({
      token: await token('shop/web'),
      nodeId: istioNodeId({ type: 'waypoint', ip: '127.0.0.9', podName: 'x', namespace: 'other' }),
      metadata: { NAMESPACE: 'other' },
    });
    liar.subscribe(waypointType);
    const denied = await new Promise<{ code: string; message: string }>((resolve) =>
      liar.once('disconnected', ({ error }) => resolve(error)),
    );
    expect(denied.message).toMatch(/claims namespace other/);
    await liar.close();
  });

  it('serves a waypoint its own resources (and nobody else)', async () => {
    const waypoint = xds({
      token: await token('shop/waypoint'),
      nodeId: istioNodeId({ type: 'waypoint', ip: '127.0.0.9', podName: 'waypoint-7f9c', namespace: 'shop' }),
      metadata: { NAMESPACE: 'shop', LABELS: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } },
    });
    const own = waypoint.subscribe(waypointType);
    const services = waypoint.subscribe(waypointServiceType);
    waypoint.subscribe(addressType);
    await waypoint.ready({ timeoutMs: 10_000 });
    expect(own.get('shop/waypoint')).toMatchObject({
      resource: {
        identity: 'spiffe://cluster.local/ns/shop/sa/waypoint',
        services: ['shop/web.shop.svc.cluster.local'],
      },
    });
    const web = services.get('shop/waypoint/shop/web.shop.svc.cluster.local')!.resource;
    expect(web.routing.map((r) => `${r.kind}/${r.namespace}/${r.name}`)).toEqual(['VirtualService/shop/web']);
    expect(fromStruct(web.routing[0]!.object)).toMatchObject({ spec: { hosts: ['web'] } });
    expect(web.portRoutes).toMatchObject([{ port: 80, source: 'VirtualService', routes: [{ name: 'v1' }] }]);

    const ztunnel = xds({ nodeId: 'zt-2', plaintext: true });
    const none = ztunnel.subscribe(waypointType);
    await ztunnel.ready({ timeoutMs: 10_000 });
    expect(none.size).toBe(0);
  });

  it('signs a CSR for the token identity and refuses forged and expired tokens', async () => {
    const web = caClient(await token('shop/web'));
    const { svid, bundle } = await web.fetchSvid({ identity: 'spiffe://cluster.local/ns/shop/sa/web' });
    expect(svid.id.toString()).toBe('spiffe://cluster.local/ns/shop/sa/web');
    expect(bundle.authorities[0]?.toPem?.() ?? root).toBeTruthy();
    await web.close();

    // Forged: the right format, signed by another key (another CA directory), with or without istiod's key id.
    await using other = await tempDir('istiod-forged-');
    const unknownKey = (await meshctl('token', 'create', '--sa', 'shop/web', '--ca-dir', other.path)).stdout.trim();
    const real = await loadTokenSigningKey({ dir: caDir });
    const otherKey = await loadTokenSigningKey({ dir: other.path });
    const sameKid = signServiceAccountToken(
      { ...otherKey, kid: real.kid },
      { namespace: 'shop', serviceAccount: 'web' },
    );
    for (const [forged, why] of [
      [unknownKey, /no key with kid/],
      [sameKid, /signature does not verify/],
    ] as const) {
      const forger = caClient(forged);
      await expect(forger.fetchSvid({ identity: 'spiffe://cluster.local/ns/shop/sa/web' })).rejects.toSatisfy(
        (e) => MeshError.is(e, 'ERR_CA_UNAUTHENTICATED') && why.test((e as Error).message),
      );
      await forger.close();
    }

    // Expired: issued two hours ago for one hour.
    const past = new ManualClock(Date.now() - 2 * 3_600_000);
    const expired = caClient(await token('shop/web', { clock: past }));
    await expect(expired.fetchSvid({ identity: 'spiffe://cluster.local/ns/shop/sa/web' })).rejects.toSatisfy(
      (e) => MeshError.is(e, 'ERR_CA_UNAUTHENTICATED') && /expired/.test((e as Error).message),
    );
    await expired.close();
  });

  it('lets ztunnel get certificates for pods on its node only', async () => {
    const nodeA = caClient(await token('istio-system/ztunnel', { node: 'node-a' }));
    const web = await nodeA.fetchSvid({ identity: 'spiffe://cluster.local/ns/shop/sa/web', impersonate: true });
    expect(web.svid.id.toString()).toBe('spiffe://cluster.local/ns/shop/sa/web');
    await expect(
      nodeA.fetchSvid({ identity: 'spiffe://cluster.local/ns/shop/sa/db', impersonate: true }), // db-1 runs on node-b
    ).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_CA_IMPERSONATION_DENIED'));
    await nodeA.close();

    const unbound = caClient(await token('istio-system/ztunnel'));
    await expect(
      unbound.fetchSvid({ identity: 'spiffe://cluster.local/ns/shop/sa/web', impersonate: true }),
    ).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_CA_IMPERSONATION_DENIED'));
    await unbound.close();

    const notTrusted = caClient(await token('shop/web', { node: 'node-a' }));
    await expect(
      notTrusted.fetchSvid({ identity: 'spiffe://cluster.local/ns/shop/sa/db', impersonate: true }),
    ).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_CA_IMPERSONATION_DENIED'));
    await notTrusted.close();
    await istiod.waitForLog((l) => l.msg === 'impersonation denied', 'the denial to be logged', 100);
  });

  it('drains on SIGTERM: streams end with UNAVAILABLE so proxies reconnect, and the process exits 0', async () => {
    const client = xds({ nodeId: 'zt-drain', plaintext: true });
    client.subscribe(addressType);
    await client.ready({ timeoutMs: 10_000 });
    const disconnected = new Promise<{ code: string; message: string }>((resolve) =>
      client.once('disconnected', ({ error }) => resolve(error)),
    );
    expect(await istiod.stop('SIGTERM')).toBe(0);
    expect((await disconnected).message).toMatch(/shutting down/);
    expect(istiod.lines.at(-1)?.msg).toBe('istiod stopped');
  });
});
