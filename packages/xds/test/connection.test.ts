// Connection management over real sockets: reconnect and resync (both protocols), keeping the last good state while the
// control plane is gone, authentication with a token file re-read per connect, mutual TLS, graceful shutdown.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import {
  addressType,
  authorizationType,
  clusterType,
  listenerType,
  XdsClient,
  XdsError,
  XdsServer,
  type AuthenticateContext,
} from '../src/index.js';
import { startTestControlPlane } from '../src/testing/index.js';
import { namesOf, nextBatch, policy, rawClient, until, workload } from './helpers.js';

const fast = { initialMs: 20, maxMs: 200 };
const dir = mkdtempSync(join(tmpdir(), 'mesh-xds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function nextEvent<K extends 'connected' | 'disconnected'>(client: XdsClient, event: K, timeoutMs = 5_000) {
  return new Promise<Parameters<Parameters<XdsClient['once']>[1]>[0]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event`)), timeoutMs);
    client.once(event, ((info: never) => {
      clearTimeout(timer);
      resolve(info);
    }) as never);
  });
}

describe('reconnect and resync', () => {
  it('delta: keeps the last good state while the server is gone, then resyncs with initial_resource_versions', async () => {
    const first = await startTestControlPlane();
    first.set(addressType, [workload('same', 1), workload('changed', 2), workload('deleted', 3)]);
    await using client = new XdsClient({ server: first.address, node: { id: 'zt' }, backoff: fast });
    const addresses = client.subscribe(addressType);
    await addresses.ready();
    const versions = Object.fromEntries([...addresses.values()].map((r) => [r.name, r.version]));

    const gone = nextEvent(client, 'disconnected');
    await first.close();
    const { error } = (await gone) as { error: XdsError };
    expect(error.code).toBe('ERR_XDS_STREAM');
    expect(error.message).toMatch(/UNAVAILABLE the xDS server is shutting down/);
    expect(namesOf(addresses.values())).toEqual(['changed', 'deleted', 'same']); // still served
    expect(client.connected).toBe(false);

    await using second = await startTestControlPlane({ address: first.address });
    second.set(addressType, [workload('same', 1), workload('changed', 22), workload('new', 4)]);
    const pushes: Array<{ resources: number; removed: number }> = [];
    second.server.on('push', (e) => pushes.push({ resources: e.resources, removed: e.removed }));
    const resynced = nextBatch(addresses);
    await second.synced(addressType, { timeoutMs: 10_000 });
    const batch = await resynced;
    expect([namesOf(batch.updated), batch.removed]).toEqual([['changed', 'new'], ['deleted']]);
    expect(pushes).toEqual([{ resources: 2, removed: 1 }]); // "same" was not sent again
    const request = second.deltaRequests()[0]!;
    expect(request.initialResourceVersions).toEqual(versions);
    expect(request.node?.id).toBe('zt');
    await until(() => client.connected, 'the connected state');
    const snapshot = client.snapshot();
    // At least the disconnect from the first server; more if a retry found nobody listening in between.
    expect(snapshot.disconnects).toBeGreaterThanOrEqual(1);
    expect(snapshot.lastError?.code).toBe('ERR_XDS_STREAM');
  });

  it('SotW: resyncs Listener/Cluster state on reconnect (full state) and keeps it meanwhile', async () => {
    const first = await startTestControlPlane();
    first.set(listenerType, [{ resource: { name: 'l1' } }, { resource: { name: 'l2' } }]);
    first.set(clusterType, [{ resource: { name: 'c1' } }]);
    await using client = new XdsClient({ server: first.address, protocol: 'sotw', node: { id: 'g' }, backoff: fast });
    const listeners = client.subscribe(listenerType);
    const clusters = client.subscribe(clusterType, { names: ['c1'] });
    await client.ready();
    const version = client.snapshot().subscriptions[0]!.version;
    await first.close();
    await until(() => !client.connected, 'the disconnect');
    expect(namesOf(listeners.values())).toEqual(['l1', 'l2']);

    await using second = await startTestControlPlane({ address: first.address });
    second.set(listenerType, [{ resource: { name: 'l2' } }]);
    second.set(clusterType, [{ resource: { name: 'c1' } }]);
    const gone = nextBatch(listeners);
    await second.synced(listenerType, { timeoutMs: 10_000 });
    expect((await gone).removed).toEqual(['l1']);
    // The first request on the new stream carries the last accepted version and no nonce.
    const request = second.sotwRequests(listenerType)[0]!;
    expect([request.versionInfo, request.responseNonce, request.resourceNames]).toEqual([version, '', []]);
    expect(second.sotwRequests(clusterType)[0]!.resourceNames).toEqual(['c1']);
    expect(namesOf(clusters.values())).toEqual(['c1']);
  });

  it('stops reconnecting when closed, and an aborted signal closes the client', async () => {
    const controller = new AbortController();
    const client = new XdsClient({
      server: '127.0.0.1:1',
      node: { id: 'n' },
      backoff: fast,
      signal: controller.signal,
    });
    client.subscribe(authorizationType);
    await nextEvent(client, 'disconnected');
    controller.abort();
    await client.close();
    expect(() => client.subscribe(addressType)).toThrowError(
      expect.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_CLOSED')),
    );
  });
});

describe('authentication', () => {
  it('sends the token file (re-read on every connect) and metadata; the hook sees them and the node', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'expired\n');
    const seen: AuthenticateContext[] = [];
    await using cp = await startTestControlPlane({
      authenticate: (context) => {
        seen.push(context);
        if (context.bearerToken !== 'good') throw new Error('token rejected');
        if (context.metadata.get('clusterid')[0] !== 'Kubernetes') {
          throw new XdsError('ERR_XDS_PERMISSION_DENIED', 'wrong cluster');
        }
        return { serviceAccount: 'istio-system/ztunnel' };
      },
    });
    cp.set(authorizationType, [policy('a')]);
    await using client = new XdsClient({
      server: cp.address,
      node: { id: 'zt', metadata: { NAMESPACE: 'istio-system' } },
      token: { file: tokenFile },
      metadata: { clusterid: 'Kubernetes' },
      backoff: fast,
    });
    const refused = nextEvent(client, 'disconnected');
    const policies = client.subscribe(authorizationType);
    const { error } = (await refused) as { error: XdsError };
    expect(error.code).toBe('ERR_XDS_UNAUTHENTICATED');
    expect(error.message).toMatch(/token rejected/);

    writeFileSync(tokenFile, 'good\n'); // the projected token rotated
    await policies.ready({ timeoutMs: 10_000 });
    const context = seen.at(-1)!;
    expect([context.bearerToken, context.node.id, context.protocol, context.transportSecurity]).toEqual([
      'good',
      'zt',
      'delta',
      undefined,
    ]);
    expect(cp.server.connections()[0]!.principal).toEqual({ serviceAccount: 'istio-system/ztunnel' });
    const rejects: string[] = [];
    cp.server.on('reject', (e) => rejects.push(`${grpc.status[e.code]} ${e.message}`));

    // PERMISSION_DENIED is its own code.
    await using other = new XdsClient({
      server: cp.address,
      node: { id: 'x' },
      token: () => 'good',
      metadata: { clusterid: 'elsewhere' },
      backoff: fast,
    });
    const denied = nextEvent(other, 'disconnected');
    other.subscribe(authorizationType);
    expect(((await denied) as { error: XdsError }).error.code).toBe('ERR_XDS_PERMISSION_DENIED');
    expect(rejects).toContain('PERMISSION_DENIED wrong cluster');
  });

  it('reports an unreadable token file and retries', async () => {
    await using cp = await startTestControlPlane();
    await using client = new XdsClient({
      server: cp.address,
      node: { id: 'n' },
      token: { file: join(dir, 'missing-token') },
      backoff: fast,
    });
    const failed = nextEvent(client, 'disconnected');
    client.subscribe(authorizationType);
    const { error } = (await failed) as { error: XdsError };
    expect(error.code).toBe('ERR_XDS_TOKEN');
    expect(error.message).toMatch(/missing-token/);
  });

  it('refuses a stream whose first request has no node id', async () => {
    await using cp = await startTestControlPlane();
    const raw = rawClient(cp.address, 'delta');
    raw.send({ typeUrl: addressType.typeUrl });
    const status = await raw.status;
    expect([status.code, status.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      'missing node information: the first request must carry node.id',
    ]);
    raw.close();
  });
});

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function makePki() {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/O=mesh-test/CN=root',
  ]);
  const leaf = (name: string, san: string) => {
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=mesh-test`]);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    ]);
  };
  leaf('server', 'DNS:istiod.istio-system.svc');
  leaf('client', 'URI:spiffe://cluster.local/ns/istio-system/sa/ztunnel');
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  return {
    ca: read('ca.pem'),
    server: { cert: read('server.pem'), key: read('server.key') },
    client: { cert: read('client.pem'), key: read('client.key') },
  };
}

describe('TLS', () => {
  it('serves over mutual TLS; the hook sees the client certificate; a wrong CA fails', async () => {
    const pki = makePki();
    let peerSan = '';
    await using cp = await startTestControlPlane({
      tls: { ...pki.server, ca: pki.ca },
      authenticate: (context) => {
        peerSan = context.peerCertificate?.subjectaltname ?? '';
        return undefined;
      },
    });
    cp.set(authorizationType, [policy('a')]);
    await using client = new XdsClient({
      server: cp.address,
      node: { id: 'zt' },
      tls: () => ({ ca: pki.ca, ...pki.client, serverName: 'istiod.istio-system.svc' }),
      backoff: fast,
    });
    const policies = client.subscribe(authorizationType);
    await policies.ready({ timeoutMs: 10_000 });
    expect(namesOf(policies.values())).toEqual(['ns/a']);
    expect(peerSan).toBe('URI:spiffe://cluster.local/ns/istio-system/sa/ztunnel');

    await using untrusting = new XdsClient({
      server: cp.address,
      node: { id: 'zt2' },
      tls: { ca: pki.server.cert, ...pki.client, serverName: 'istiod.istio-system.svc' },
      backoff: fast,
    });
    const failed = nextEvent(untrusting, 'disconnected', 10_000);
    untrusting.subscribe(authorizationType);
    expect(((await failed) as { error: XdsError }).error.code).toBe('ERR_XDS_STREAM');
  });
});

describe('server lifecycle', () => {
  it('serves on a gRPC server the caller owns, and closes its own streams only', async () => {
    const grpcServer = new grpc.Server();
    const xds = new XdsServer({ debounce: { delayMs: 0 } });
    xds.register(grpcServer);
    xds.set(authorizationType, [policy('a')]);
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    try {
      await using client = new XdsClient({ server: `127.0.0.1:${port}`, node: { id: 'n' }, backoff: fast });
      await client.subscribe(authorizationType).ready({ timeoutMs: 5_000 });
      const gone = nextEvent(client, 'disconnected');
      await xds.close();
      expect(((await gone) as { error: XdsError }).error.message).toMatch(/shutting down/);
      expect(() => xds.set(authorizationType, [])).toThrowError(
        expect.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_CLOSED')),
      );
      // New streams are refused while the gRPC server keeps running.
      const raw = rawClient(`127.0.0.1:${port}`, 'delta');
      raw.send({ typeUrl: authorizationType.typeUrl, node: { id: 'late' } });
      expect((await raw.status).code).toBe(grpc.status.UNAVAILABLE);
      raw.close();
    } finally {
      grpcServer.forceShutdown();
    }
  });
});
