// Wiring: identity, config source, HBONE server in, HBONE pool out, the proxy, telemetry and the admin port.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { systemClock, systemRng, seededRng, type Clock, type Rng } from '@mesh/core';
import {
  CHANNEL_NAMES,
  createHboneServer,
  createHbonePool,
  type ConnectionErrorMessage,
  type ConnectionMessage,
} from '@mesh/hbone';
import { startAdmin } from './admin.js';
import { Clusters } from './cluster.js';
import { WaypointError } from './errors.js';
import { identityFromFiles, type Identity } from './identity.js';
import { JwksCache } from './jwt.js';
import type { Logger } from './log.js';
import { workloadService, type ConfigSource, type WaypointView } from './model.js';
import type { WaypointOptions } from './options.js';
import { Proxy } from './proxy.js';
import { createMetrics, OtlpExporter } from './telemetry.js';
import { Upstreams } from './upstream.js';

export interface RunningWaypoint extends AsyncDisposable {
  readonly hbone: { host: string; port: number };
  readonly admin: { host: string; port: number } | null;
  view(): WaypointView | undefined;
  /** Stops accepting, lets open requests finish within the drain timeout, then closes everything. */
  close(): Promise<void>;
}

export async function startWaypoint(
  options: WaypointOptions & { seed?: number },
  deps: { log: Logger; version: string; clock?: Clock; rng?: Rng; signal?: AbortSignal },
): Promise<RunningWaypoint> {
  const { log } = deps;
  const clock = deps.clock ?? systemClock;
  const rng = deps.rng ?? (options.seed !== undefined ? seededRng(options.seed) : systemRng);
  const metrics = createMetrics({ version: deps.version });
  const ref = `${options.namespace}/${options.name}`;
  let view: WaypointView | undefined;
  let ready = false;

  const expectedIdentity = `spiffe://${options.trustDomain}/ns/${options.namespace}/sa/${options.name}`;
  let identity: Identity;
  if (options.certDir) identity = await identityFromFiles(options.certDir, options.trustDomain);
  else
    // Each mode loads only its own modules (gRPC, the xDS and CA clients, or the config index): ~20 MB RSS apiece.
    identity = await (
      await import('./identity-ca.js')
    ).identityFromCa({
      address: options.caAddress!,
      rootCertFile: options.rootCert!,
      tokenFile: options.tokenFile!,
      serverName: options.istiodServerName,
      clusterId: options.clusterId,
      identity: expectedIdentity,
      log: log.child({ scope: 'ca' }),
    });
  log.info({ identity: identity.svid().id.toString() }, 'identity loaded');

  const onView = (next: WaypointView | undefined) => {
    view = next;
    if (next) {
      metrics.configVersion.set(next.version);
      log.info(
        { version: next.version, services: next.services.map((s) => s.hostname), policies: next.policies.length },
        'config applied',
      );
    }
  };
  let source: ConfigSource;
  if (options.configDir)
    source = await (
      await import('./source-file.js')
    ).openFileSource({
      dir: options.configDir,
      namespace: options.namespace,
      name: options.name,
      trustDomain: options.trustDomain,
      domainSuffix: options.domainSuffix,
      rootNamespace: options.rootNamespace,
      debounceMs: options.configDebounceMs,
      log: log.child({ scope: 'config' }),
      onView,
    });
  else
    source = (await import('./source-xds.js')).openXdsSource({
      address: options.xdsAddress!,
      namespace: options.namespace,
      name: options.name,
      ip: options.ip,
      tokenFile: options.tokenFile!,
      rootCertPem: () => identity.rootPem(),
      serverName: options.istiodServerName,
      clusterId: options.clusterId,
      log: log.child({ scope: 'xds' }),
      onView,
    });

  // HBONE connections that fail or close abnormally (both directions) are worth a line each.
  const hboneLog = log.child({ scope: 'hbone' });
  const onClose = (m: unknown) => {
    const c = (m as ConnectionMessage).connection;
    if (c.error)
      hboneLog.warn(
        { side: c.side, peer: c.peerIdentity, remote: `${c.remoteAddress}:${c.remotePort}`, err: c.error.message },
        'HBONE connection closed with an error',
      );
  };
  const onError = (m: unknown) => {
    const { connection: c, phase, error } = m as ConnectionErrorMessage;
    hboneLog.warn(
      { side: c.side, phase, remote: `${c.remoteAddress}:${c.remotePort}`, err: error.message },
      'HBONE connection failed',
    );
  };
  subscribe(CHANNEL_NAMES.connectionClose, onClose);
  subscribe(CHANNEL_NAMES.connectionError, onError);

  const pool = createHbonePool({ certificate: () => identity.svid(), bundles: identity.bundles });
  // Tunnels to pods leave from our pod IP (the --listen host), as a waypoint pod's would: the destination ztunnel then
  // knows the source workload (access logs, istio_tcp_* source labels) instead of seeing 127.0.0.1.
  const sourceAddress =
    options.listen.host === '0.0.0.0' || options.listen.host === '::' ? undefined : options.listen.host;
  const upstreams = new Upstreams({
    pool,
    hbonePort: options.upstreamHbonePort,
    identity: () => identity.svid().id.toString(),
    ...(sourceAddress ? { sourceAddress } : {}),
  });
  const clusters = new Clusters({ rng, clock });
  const exporter = options.otlpEndpoint
    ? new OtlpExporter({ endpoint: options.otlpEndpoint, serviceName: `${options.name}.${options.namespace}`, log })
    : null;
  const proxy = new Proxy({
    view: () => view,
    clusters,
    upstreams,
    pool,
    hbonePort: options.upstreamHbonePort,
    identity: () => identity.svid().id.toString(),
    ...(sourceAddress ? { sourceAddress } : {}),
    metrics,
    log: log.child({ scope: 'proxy' }),
    accessLog: options.accessLog,
    exporter,
    jwks: new JwksCache({ clock }),
    clock,
    rng,
    clusterId: options.clusterId,
    maxRequestBufferBytes: options.maxRequestBufferBytes,
  });

  const server = createHboneServer({
    certificate: () => identity.svid(),
    bundles: identity.bundles,
    allowHostnameAuthority: true,
    drainTimeoutMs: options.drainTimeoutMs,
    handler: (request) => {
      const current = view;
      if (!current) return { action: 'refuse', status: 503, reason: `no config for waypoint ${ref}` };
      const workload = current.serviceFor(request.authority.host)
        ? undefined
        : current.workloadFor(request.authority.host);
      // Workload-addressed traffic (a pod that uses this waypoint itself) goes to that pod, with no service routing.
      const service = workload
        ? workloadService(workload, request.authority.port)
        : current.serviceFor(request.authority.host);
      if (!service)
        return { action: 'refuse', status: 503, reason: `${request.authority.host} does not use waypoint ${ref}` };
      const port = service.ports.find((p) => p.port === request.authority.port);
      if (!port)
        return { action: 'refuse', status: 503, reason: `${service.hostname} has no port ${request.authority.port}` };
      const forwardedFor = request.request.forwarded[0]?.for;
      const sourceIp =
        (forwardedFor ? forwardedFor.replace(/^\[?([^\]]*?)\]?(:\d+)?$/, '$1') : undefined) ??
        request.connection.remoteAddress ??
        '0.0.0.0';
      return {
        action: 'accept',
        onTunnel: (tunnel) =>
          proxy.handleTunnel(tunnel, {
            view: current,
            service,
            host: request.authority.host,
            port,
            peerIdentity: request.peerIdentity,
            sourceIp,
            baggage: request.request.baggage,
          }),
      };
    },
  });
  let hbone: { host: string; port: number };
  try {
    const bound = await server.listen({ host: options.listen.host, port: options.listen.port });
    hbone = { host: bound.address, port: bound.port };
  } catch (error) {
    await Promise.allSettled([source.close(), identity.close(), pool.destroy()]);
    throw new WaypointError(
      'ERR_WAYPOINT_LISTEN_FAILED',
      `cannot listen on ${options.listen.host}:${options.listen.port}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let admin: { host: string; port: number } | null = null;
  const adminServer = options.admin
    ? startAdmin({
        log,
        metrics,
        view: () => view,
        clusters,
        ready: () => ready && view !== undefined,
        source: options.configDir ? `file:${options.configDir}` : `xds:${options.xdsAddress}`,
      })
    : null;
  if (adminServer && options.admin) {
    adminServer.listen(options.admin.port, options.admin.host);
    try {
      await once(adminServer, 'listening');
    } catch (error) {
      await Promise.allSettled([server.destroy(), source.close(), identity.close(), pool.destroy()]);
      throw new WaypointError(
        'ERR_WAYPOINT_LISTEN_FAILED',
        `cannot listen on admin ${options.admin.host}:${options.admin.port}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const a = adminServer.address() as AddressInfo;
    admin = { host: a.address, port: a.port };
  }
  ready = true;
  log.info(
    {
      waypoint: ref,
      hbone: `${hbone.host}:${hbone.port}`,
      hbonePort: hbone.port,
      admin: admin?.port ?? null,
      config: view ? 'loaded' : 'pending',
    },
    'waypoint ready',
  );

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      ready = false;
      log.info({ inflight: proxy.inflight }, 'draining');
      await server.close({ timeoutMs: options.drainTimeoutMs }).catch(() => {});
      await exporter?.flush();
      upstreams.close();
      await pool.close().catch(() => {});
      await source.close().catch(() => {});
      await identity.close().catch(() => {});
      if (adminServer) {
        adminServer.closeAllConnections();
        await new Promise((resolve) => adminServer.close(resolve));
      }
      unsubscribe(CHANNEL_NAMES.connectionClose, onClose);
      unsubscribe(CHANNEL_NAMES.connectionError, onError);
      log.info('waypoint stopped');
    })());
  // Aborting the signal drains and stops the waypoint, like close().
  if (deps.signal?.aborted) void close();
  else deps.signal?.addEventListener('abort', () => void close(), { once: true });
  return {
    hbone,
    admin,
    view: () => view,
    close,
    [Symbol.asyncDispose]: close,
  };
}
