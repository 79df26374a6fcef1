// Wiring: xDS (delta, over TLS with a token) feeds the state; the state decides which local pods get a proxy and
// which identities the identity manager keeps certificates for; policy changes re-check live connections; the node
// ports expose config_dump, logging, metrics and readiness.
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { systemRng, type Rng } from '@mesh/core';
import { IstioCaClient } from '@mesh/ca/grpc';
import { addressType, authorizationType, istioNodeId, XdsClient } from '@mesh/xds';
import { startAdmin, type AdminServers } from './admin.js';
import { ZtunnelError } from './errors.js';
import { IdentityManager, type CertificateFetcher } from './identity.js';
import type { Logs } from './log.js';
import { createMetrics, type ZtunnelMetrics } from './metrics.js';
import type { ZtunnelOptions } from './options.js';
import { LoopbackPodNetwork, type PodNetwork } from './podnet.js';
import { PodProxy, subscribeInboundTelemetry } from './proxy.js';
import type { LocalConfig } from './local.js';
import { formatGatewayAddress, ZtunnelState } from './state.js';

export interface ZtunnelDeps {
  logs: Logs;
  version: string;
  podNetwork?: PodNetwork;
  /** Replaces the CA client (tests). */
  fetchCertificate?: CertificateFetcher;
  rng?: Rng;
  /** Called by POST /quitquitquit. */
  onQuit?: () => void;
}

export interface Ztunnel extends AsyncDisposable {
  readonly state: ZtunnelState;
  readonly metrics: ZtunnelMetrics;
  readonly identities: IdentityManager;
  readonly ports: AdminServers['ports'];
  ready(): { ready: boolean; pending: string[] };
  configDump(): unknown;
  /** Drains: readiness off, listeners closed, open connections get the drain timeout. */
  close(): Promise<void>;
}

export async function startZtunnel(options: ZtunnelOptions, deps: ZtunnelDeps): Promise<Ztunnel> {
  const { logs } = deps;
  const log = logs.scope('ztunnel');
  const xdsLog = logs.scope('xds');
  const caLog = logs.scope('ca');
  const proxyLog = logs.scope('proxy');
  const access = logs.scope('access');
  const metrics = createMetrics({ version: deps.version });
  const state = new ZtunnelState();
  const network = deps.podNetwork ?? new LoopbackPodNetwork();
  const rng = deps.rng ?? systemRng;

  const readToken = async () => {
    try {
      return (await readFile(options.tokenFile, 'utf8')).trim();
    } catch (error) {
      throw new ZtunnelError(
        'ERR_ZTUNNEL_TOKEN',
        `cannot read --token-file ${options.tokenFile}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  };

  const local = options.localConfig.length > 0;
  let ca: IstioCaClient | undefined;
  let fetch = deps.fetchCertificate;
  // Local mode's modules (the ambient index, YAML and schema validation) load only when used: ~10 MiB of RSS.
  const localModule = local ? await import('./local.js') : undefined;
  if (!fetch && localModule)
    fetch = await localModule.localCertificates({
      dir: options.localCaDir,
      trustDomain: options.trustDomain,
      ttlMs: options.certTtlMs,
      log: caLog,
    });
  if (!fetch) {
    const root = await readFile(options.rootCertFile).catch((error: Error) => {
      throw new ZtunnelError('ERR_ZTUNNEL_INVALID_FLAG', `--root-cert ${options.rootCertFile}: ${error.message}`);
    });
    const client = new IstioCaClient({
      address: options.caAddress,
      credentials: grpc.credentials.createSsl(root),
      channelOptions: { 'grpc.ssl_target_name_override': options.istiodHostname },
      token: readToken,
      clusterId: options.clusterId,
      timeoutMs: 10_000,
    });
    ca = client;
    fetch = async (identity, signal) => {
      const r = await client.fetchSvid({ identity, impersonate: true, ttlMs: options.certTtlMs, signal });
      return { svid: r.svid, bundle: r.bundle };
    };
  }
  const identities = new IdentityManager({
    fetch,
    rng,
    onEvent: (e) => {
      if (e.type === 'issued') {
        metrics.certExpiry.set({ identity: e.identity }, Math.floor(e.expiresAt / 1000));
        metrics.certRenewals.inc({ result: e.renewal ? 'renewed' : 'issued' });
        caLog.info(
          {
            identity: e.identity,
            expires: new Date(e.expiresAt).toISOString(),
            renewAt: new Date(e.renewAt).toISOString(),
          },
          e.renewal ? 'certificate renewed' : 'certificate issued',
        );
        refreshReadiness();
      } else if (e.type === 'failed') {
        metrics.certRenewals.inc({ result: 'failed' });
        caLog.warn(
          {
            identity: e.identity,
            err: e.error,
            retryInMs: e.retryInMs,
            keptUntil: e.keptUntil ? new Date(e.keptUntil).toISOString() : null,
          },
          'certificate request failed',
        );
      } else if (e.type === 'removed') metrics.certExpiry.remove({ identity: e.identity });
    },
  });

  const synced = { addresses: false, policies: false };
  let xds: XdsClient | undefined;
  let localConfig: LocalConfig | undefined;
  if (localModule) {
    localConfig = await localModule.followLocalConfig({
      paths: options.localConfig,
      clusterId: options.clusterId,
      state,
      log: xdsLog,
    });
    synced.addresses = synced.policies = true;
  } else {
    xds = connectXds();
  }

  function connectXds(): XdsClient {
    const xds = new XdsClient({
      server: options.xdsAddress,
      node: {
        id: istioNodeId({
          type: 'ztunnel',
          ip: options.nodeIp,
          podName: options.podName,
          namespace: options.podNamespace,
        }),
        metadata: {
          NAME: options.podName,
          NAMESPACE: options.podNamespace,
          NODE_NAME: options.nodeName,
          CLUSTER_ID: options.clusterId,
          INSTANCE_IPS: options.nodeIp,
        } as never,
      },
      tls: async () => ({ ca: await readFile(options.rootCertFile, 'utf8'), serverName: options.istiodHostname }),
      token: readToken,
      metadata: { clusterid: options.clusterId },
      backoff: { initialMs: 100, maxMs: 5_000 },
    });
    const addresses = xds.subscribe(addressType);
    const policies = xds.subscribe(authorizationType);
    void addresses.ready().then(
      () => ((synced.addresses = true), refreshReadiness()),
      () => {},
    );
    void policies.ready().then(
      () => ((synced.policies = true), refreshReadiness()),
      () => {},
    );
    addresses.onChange((batch) => {
      metrics.xdsMessages.inc({ url: addressType.typeUrl });
      state.applyAddresses(
        batch.updated.map((r) => ({ name: r.name, resource: r.resource })),
        batch.removed,
      );
    });
    policies.onChange((batch) => {
      metrics.xdsMessages.inc({ url: authorizationType.typeUrl });
      state.applyAuthorizations(
        batch.updated.map((r) => ({ name: r.name, resource: r.resource })),
        batch.removed,
      );
    });
    xds.on('connected', (info) => xdsLog.info({ server: info.server, attempt: info.attempt }, 'connected to istiod'));
    xds.on('disconnected', ({ error, reconnectInMs }) => {
      metrics.xdsTerminations.inc({ reason: 'ConnectionError' });
      xdsLog.warn(
        { code: error.code, err: error.message, reconnectInMs },
        'xDS stream ended; serving the last good state',
      );
    });
    xds.on('nack', (e) =>
      xdsLog.warn({ typeUrl: e.typeUrl, reason: e.message }, 'rejected part of an xDS response (NACK)'),
    );
    return xds;
  }

  // ------------------------------------------------------------------------------------------ local pods

  const stopTelemetry = subscribeInboundTelemetry();
  const proxies = new Map<string, PodProxy>();
  const failed = new Map<string, string>();
  let closing = false;
  const limits = {
    maxConnectionsPerPod: options.maxConnectionsPerPod,
    socksHandshakeTimeoutMs: options.socksHandshakeTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    drainTimeoutMs: options.drainTimeoutMs,
  };
  const proxyDeps = { state, identities, metrics, log: proxyLog, access, rng, limits };
  let reconciling = Promise.resolve();

  const reconcile = async () => {
    if (closing) return;
    const local = state.localWorkloads(options.nodeName);
    identities.setIdentities(new Set(local.map((w) => w.identity)));
    const wanted = new Map(local.map((w) => [w.uid, w]));
    for (const [uid, proxy] of proxies) {
      const w = wanted.get(uid);
      if (w && w.ips[0] === proxy.ip) {
        proxy.workload = w;
        continue;
      }
      proxies.delete(uid);
      metrics.proxies.set(proxies.size);
      metrics.proxiesStopped.inc();
      proxyLog.info({ pod: uid, ip: proxy.ip }, 'pod removed: draining its proxy');
      await proxy.close();
    }
    for (const [uid, w] of wanted) {
      if (proxies.has(uid)) continue;
      const ip = w.ips[0]!;
      const proxy = new PodProxy(proxyDeps, w, network.enter({ uid, ip }));
      try {
        await proxy.start();
        proxies.set(uid, proxy);
        failed.delete(uid);
        metrics.proxies.set(proxies.size);
        metrics.proxiesStarted.inc();
        proxyLog.info({ pod: uid, ip, identity: w.identity, network: network.kind }, 'pod proxy started');
      } catch (error) {
        failed.set(uid, (error as Error).message);
        proxyLog.error({ pod: uid, ip, err: error }, 'pod proxy failed to start');
      }
    }
    refreshReadiness();
  };
  state.onChange((change) => {
    if (change.workloads) reconciling = reconciling.then(reconcile, reconcile);
    // A policy or workload change may deny what is open now: re-check every live inbound connection.
    void reconciling.then(() => {
      for (const p of proxies.values()) p.recheck();
    });
  });

  // Local config is applied before the listener above exists; xDS state may be too, after a fast first response.
  reconciling = reconciling.then(reconcile, reconcile);

  // A failed pod proxy (address not yet up, port busy) is retried every few seconds.
  const retry = setInterval(() => {
    if (failed.size > 0) reconciling = reconciling.then(reconcile, reconcile);
  }, 3_000);
  retry.unref();

  // ------------------------------------------------------------------------------------------ readiness, admin

  let wasReady = false;
  const ready = () => {
    const pending: string[] = [];
    if (closing) pending.push('draining');
    if (!synced.addresses) pending.push('xds Address');
    if (!synced.policies) pending.push('xds Authorization');
    for (const id of identities.pending()) pending.push(`certificate ${id}`);
    for (const uid of failed.keys()) pending.push(`proxy ${uid}`);
    return { ready: pending.length === 0, pending };
  };
  function refreshReadiness() {
    const r = ready();
    if (r.ready && !wasReady) {
      wasReady = true;
      log.info(
        {
          node: options.nodeName,
          pods: [...proxies.values()].map((p) => ({ uid: p.uid, ip: p.ip, identity: p.workload.identity })),
        },
        'ztunnel ready',
      );
    }
  }

  const configDump = () => ({
    workloads: [...state.workloads()]
      .sort((a, b) => a.uid.localeCompare(b.uid))
      .map(({ workload: w, ips, identity }) => ({
        uid: w.uid,
        workloadIps: ips,
        waypoint: formatGatewayAddress(w.waypoint),
        protocol: w.tunnelProtocol === 1 ? 'HBONE' : 'TCP',
        name: w.name,
        namespace: w.namespace,
        trustDomain: w.trustDomain || 'cluster.local',
        serviceAccount: w.serviceAccount || 'default',
        identity,
        network: w.network,
        workloadName: w.workloadName,
        canonicalName: w.canonicalName,
        canonicalRevision: w.canonicalRevision,
        node: w.node,
        authorizationPolicies: w.authorizationPolicies,
        status: w.status === 0 ? 'Healthy' : 'Unhealthy',
        clusterId: w.clusterId,
        services: Object.fromEntries(
          Object.entries(w.services ?? {}).map(([k, v]) => [
            k,
            Object.fromEntries(v.ports.map((p) => [p.servicePort, p.targetPort])),
          ]),
        ),
      })),
    services: [...state.services()].map((s) => ({
      name: s.service.name,
      namespace: s.service.namespace,
      hostname: s.service.hostname,
      vips: s.service.addresses.map((a, i) => `${a.network}/${s.vips[i] ?? ''}`),
      ports: Object.fromEntries(s.service.ports.map((p) => [p.servicePort, p.targetPort])),
      endpoints: Object.fromEntries(state.endpoints(s.key).map((w) => [w.uid, { workloadUid: w.uid, service: s.key }])),
      subjectAltNames: s.service.subjectAltNames,
      waypoint: formatGatewayAddress(s.service.waypoint),
    })),
    policies: state.policies.policies(),
    certificates: identities.status(),
    workloadState: Object.fromEntries(
      [...proxies.values()].map((p) => [
        p.uid,
        {
          state: 'Up',
          info: {
            name: p.workload.workload.name,
            namespace: p.workload.workload.namespace,
            serviceAccount: p.workload.workload.serviceAccount || 'default',
          },
          connections: p.connections(),
        },
      ]),
    ),
    xds: xds?.configDump() ?? { local: options.localConfig, issues: localConfig?.issues() ?? [] },
    config: { ...options, podNetwork: network.kind },
    version: deps.version,
    warnings: state.warnings,
  });

  let admin: AdminServers;
  try {
    admin = await startAdmin(
      options.nodeIp,
      { admin: options.adminPort, metrics: options.metricsPort, readiness: options.readinessPort },
      {
        configDump,
        logging: (params, method) => {
          try {
            if (method === 'POST' && params.has('reset')) return { status: 200, body: logs.reset() };
            const level = params.get('level');
            if (method === 'POST' && level) return { status: 200, body: logs.setLevels(level) };
            if (method === 'POST') return { status: 400, body: { error: 'expected ?level=<level> or ?reset' } };
            return { status: 200, body: logs.levels() };
          } catch (error) {
            return { status: 400, body: { error: (error as Error).message } };
          }
        },
        quit: () => deps.onQuit?.(),
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
        ready,
      },
    );
  } catch (error) {
    stopTelemetry();
    await xds?.close();
    await localConfig?.[Symbol.asyncDispose]();
    identities.close();
    ca?.close();
    throw error;
  }
  log.info(
    {
      node: options.nodeName,
      nodeIp: options.nodeIp,
      xds: local ? `local: ${options.localConfig.join(',')}` : options.xdsAddress,
      ...admin.ports,
      podNetwork: network.kind,
    },
    'ztunnel started',
  );

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      closing = true;
      clearInterval(retry);
      log.info({ drainTimeoutMs: options.drainTimeoutMs, pods: proxies.size }, 'draining');
      await reconciling.catch(() => {});
      await Promise.allSettled([...proxies.values()].map((p) => p.close({ timeoutMs: options.drainTimeoutMs })));
      proxies.clear();
      await xds?.close();
      await localConfig?.[Symbol.asyncDispose]();
      identities.close();
      ca?.close();
      await admin.close();
      stopTelemetry();
      log.info('ztunnel stopped');
    })());

  return {
    state,
    metrics,
    identities,
    ports: admin.ports,
    ready,
    configDump,
    close,
    [Symbol.asyncDispose]: close,
  };
}
