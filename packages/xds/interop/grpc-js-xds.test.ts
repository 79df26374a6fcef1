// Interop with an independent xDS client: @grpc/grpc-js-xds (proxyless gRPC, state-of-the-world ADS) dials
// xds:///NAME through our server, which serves Listener → RouteConfiguration → Cluster → ClusterLoadAssignment for
// three real gRPC echo servers. Run with `nx run @mesh/xds:test:interop` (its own process: grpc-js-xds registers the
// xds: resolver globally).
import * as grpc from '@grpc/grpc-js';
import { register } from '@grpc/grpc-js-xds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packAny } from '@mesh/api';
import { Cluster_DiscoveryType, Cluster_LbPolicy } from '@mesh/api/envoy.config.cluster.v3';
import type { RouteConfiguration } from '@mesh/api/envoy.config.route.v3';
import { Router } from '@mesh/api/envoy.extensions.filters.http.router.v3';
import { HttpConnectionManager } from '@mesh/api/envoy.extensions.filters.network.http_connection_manager.v3';
import type { DeepPartial } from '@mesh/api';
import { clusterLoadAssignmentType, clusterType, listenerType, routeConfigurationType } from '../src/index.js';
import { startTestControlPlane, type TestControlPlane } from '../src/testing/index.js';

register();

const BOOTSTRAP = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const ECHO = '/mesh.test.Echo/Echo';
const raw = (b: Buffer) => b;

interface Echo {
  name: string;
  port: number;
  calls: number;
  server: grpc.Server;
}

async function startEcho(name: string): Promise<Echo> {
  const server = new grpc.Server();
  const echo: Echo = { name, port: 0, calls: 0, server };
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
        callback(null, Buffer.from(name));
      },
    },
  );
  echo.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return echo;
}

const router = [{ name: 'envoy.filters.http.router', typedConfig: packAny(Router, {}) }];

function routes(name: string, cluster: string): DeepPartial<RouteConfiguration> {
  return {
    name,
    virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '' }, route: { cluster } }] }],
  };
}

/** An RDS listener, or one with its routes inline. */
function listener(name: string, options: { rds: string } | { inline: DeepPartial<RouteConfiguration> }) {
  const hcm =
    'rds' in options
      ? { rds: { routeConfigName: options.rds, configSource: { ads: {} } }, httpFilters: router }
      : { routeConfig: options.inline, httpFilters: router };
  return { resource: { name, apiListener: { apiListener: packAny(HttpConnectionManager, hcm) } } };
}

function cluster(name: string, lbPolicy: Cluster_LbPolicy = Cluster_LbPolicy.ROUND_ROBIN) {
  return {
    resource: { name, type: Cluster_DiscoveryType.EDS, edsClusterConfig: { edsConfig: { ads: {} } }, lbPolicy },
  };
}

function endpoints(name: string, backends: Echo[]) {
  return {
    resource: {
      clusterName: name,
      endpoints: [
        {
          locality: {},
          loadBalancingWeight: { value: 1 },
          lbEndpoints: backends.map((b) => ({
            endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: b.port } } },
          })),
        },
      ],
    },
  };
}

describe('@grpc/grpc-js-xds through our server', () => {
  let cp: TestControlPlane;
  let echoes: Echo[];

  beforeAll(async () => {
    cp = await startTestControlPlane();
    echoes = await Promise.all(['one', 'two', 'three', 'four'].map(startEcho));
    cp.set(listenerType, [
      listener('echo.mesh.test', { rds: 'echo-routes' }),
      listener('inline.mesh.test', { inline: routes('inline-routes', 'inline-cluster') }),
    ]);
    cp.set(routeConfigurationType, [{ resource: routes('echo-routes', 'echo-cluster') }]);
    cp.set(clusterType, [cluster('echo-cluster'), cluster('inline-cluster')]);
    cp.set(clusterLoadAssignmentType, [
      endpoints('echo-cluster', echoes.slice(0, 3)),
      endpoints('inline-cluster', echoes.slice(0, 3)),
    ]);
  });

  afterAll(async () => {
    await cp?.close();
    for (const echo of echoes ?? []) echo.server.forceShutdown();
  });

  const dial = (target: string, nodeId: string) =>
    new grpc.Client(`xds:///${target}`, grpc.credentials.createInsecure(), {
      [BOOTSTRAP]: cp.bootstrap({ nodeId }),
    });

  const call = (client: grpc.Client) =>
    new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest(ECHO, raw, raw, Buffer.from('hi'), { deadline: Date.now() + 10_000 }, (e, r) =>
        e ? reject(e) : resolve(r!.toString()),
      ),
    );

  /** Calls until every one of `names` answered (the LB picker has caught up), for at most 10 s. */
  async function warm(client: grpc.Client, names: string[], avoid: string[] = []) {
    const end = Date.now() + 10_000;
    let seen = new Set<string>();
    for (;;) {
      const who = await call(client);
      if (avoid.includes(who))
        seen = new Set(); // still the old endpoints: start over
      else seen.add(who);
      if (names.every((n) => seen.has(n))) return;
      if (Date.now() > end) throw new Error(`never reached ${names.join(', ')} (saw ${[...seen].join(', ')})`);
    }
  }

  async function spread(client: grpc.Client, calls: number) {
    const counts: Record<string, number> = {};
    for (let i = 0; i < calls; i++) {
      const who = await call(client);
      counts[who] = (counts[who] ?? 0) + 1;
    }
    return counts;
  }

  for (const [variant, target] of [
    ['RDS', 'echo.mesh.test'],
    ['inline routes', 'inline.mesh.test'],
  ] as const) {
    it(`spreads calls round robin across three servers (${variant})`, async () => {
      const client = dial(target, `proxyless-${variant}`);
      try {
        await warm(client, ['one', 'two', 'three']);
        expect(await spread(client, 30)).toEqual({ one: 10, two: 10, three: 10 });
        // What grpc-js-xds asked for and accepted, as the server saw it.
        await cp.synced(clusterLoadAssignmentType, { nodeId: `proxyless-${variant}` });
        const status = cp.server.status().find((c) => c.nodeId === `proxyless-${variant}`)!;
        expect(status.protocol).toBe('sotw');
        const types = status.types.map((t) => t.typeUrl).sort();
        expect(types).toEqual(
          [listenerType, ...(variant === 'RDS' ? [routeConfigurationType] : []), clusterType, clusterLoadAssignmentType]
            .map((t) => t.typeUrl)
            .sort(),
        );
        expect(status.types.every((t) => t.status === 'SYNCED')).toBe(true);
      } finally {
        client.close();
      }
    });
  }

  it('moves traffic when the endpoints change, without restarting the client', async () => {
    const client = dial('echo.mesh.test', 'proxyless-moves');
    try {
      await warm(client, ['one', 'two', 'three']);
      cp.update(clusterLoadAssignmentType, { set: [endpoints('echo-cluster', [echoes[0]!, echoes[3]!])] });
      await cp.synced(clusterLoadAssignmentType, { nodeId: 'proxyless-moves', timeoutMs: 10_000 });
      await warm(client, ['one', 'four'], ['two', 'three']);
      expect(await spread(client, 20)).toEqual({ one: 10, four: 10 });
      cp.update(clusterLoadAssignmentType, { set: [endpoints('echo-cluster', echoes.slice(0, 3))] });
    } finally {
      client.close();
    }
  });

  it('records the NACK of a cluster grpc-js-xds cannot use, and traffic keeps flowing on the last good one', async () => {
    const client = dial('echo.mesh.test', 'proxyless-nack');
    try {
      await warm(client, ['one', 'two', 'three']);
      const nack = cp.nextNack(clusterType, { nodeId: 'proxyless-nack', timeoutMs: 10_000 });
      cp.update(clusterType, { set: [cluster('echo-cluster', Cluster_LbPolicy.MAGLEV)] });
      const event = await nack;
      expect(event.message).toMatch(/^xDS response validation errors: \[resource index \d: Cluster message validation/);
      expect(event.message).toMatch(/unsupported lb_policy: MAGLEV/);
      const status = cp.server.status().find((c) => c.nodeId === 'proxyless-nack')!;
      expect(status.types.find((t) => t.typeUrl === clusterType.typeUrl)?.status).toBe('NACK');
      expect(await spread(client, 6)).toEqual({ one: 2, two: 2, three: 2 });
      cp.update(clusterType, { set: [cluster('echo-cluster')] });
      await cp.synced(clusterType, { nodeId: 'proxyless-nack', timeoutMs: 10_000 });
    } finally {
      client.close();
    }
  });
});
