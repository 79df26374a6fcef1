// File mode: the waypoint reads the same YAML directory istiod would and builds its snapshot from @mesh/config's
// ambient index (its own waypoint's bound services, route tables and attached policies). Used by tests and by a
// local mesh without istiod; edits apply live.
import { createAuthorizer } from '@mesh/authz';
import { followStore, openFileStore, type AmbientIndex, type FileStore, type WorkloadInfo } from '@mesh/config';
import type { DestinationRule, RouteTable } from '@mesh/l7';
import { WaypointError } from './errors.js';
import type { Logger } from './log.js';
import { ViewIndex, type ConfigSource, type EndpointView, type ServiceView, type WaypointView } from './model.js';

export interface FileSourceOptions {
  dir: string;
  namespace: string;
  name: string;
  trustDomain: string;
  domainSuffix: string;
  rootNamespace: string;
  debounceMs: number;
  log: Logger;
  onView: (view: WaypointView | undefined) => void;
  signal?: AbortSignal;
}

function endpointOf(w: WorkloadInfo): EndpointView {
  return {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    ip: w.ips[0] ?? '',
    labels: w.labels,
    identity: w.identity.startsWith('spiffe://') ? w.identity : `spiffe://${w.identity}`,
    services: w.services,
    healthy: w.healthy,
  };
}

export function viewFromIndex(
  index: AmbientIndex,
  ref: { namespace: string; name: string },
  version: number,
): WaypointView | undefined {
  const config = index.waypointConfig(ref.namespace, ref.name);
  if (!config) return undefined;
  const destinationRules = index.routingResources().filter((r): r is DestinationRule => r.kind === 'DestinationRule');
  const services: ServiceView[] = config.services.map(({ service, routes }) => ({
    key: service.resourceName,
    hostname: service.hostname,
    namespace: service.namespace,
    name: service.name,
    kind: service.kind,
    vips: service.vips,
    ports: service.ports.map((p) => ({
      port: p.port,
      targetPort: typeof p.targetPort === 'number' ? p.targetPort : p.port,
      ...(p.name ? { name: p.name } : {}),
      ...(p.protocol ? { protocol: p.protocol } : {}),
    })),
    tables: new Map<number, RouteTable>(routes.map((r) => [r.port, r.table])),
    destinationRules,
  }));
  const hostKeys = new Map(index.services().map((s) => [s.hostname, s.resourceName]));
  const lookup = new ViewIndex(
    services,
    index
      .workloads()
      .filter((w) => w.ips.length > 0)
      .map(endpointOf),
    hostKeys,
  );
  const resources = [...config.authorizationPolicies, ...config.requestAuthentications];
  const o = index.options;
  return {
    version,
    waypoint: {
      name: ref.name,
      namespace: ref.namespace,
      identity: config.waypoint.identity.startsWith('spiffe://')
        ? config.waypoint.identity
        : `spiffe://${config.waypoint.identity}`,
      trustDomain: o.trustDomain,
      rootNamespace: o.rootNamespace,
      domainSuffix: o.domainSuffix,
    },
    services,
    authorizer: createAuthorizer({
      resources,
      rootNamespace: o.rootNamespace,
      trustDomain: o.trustDomain,
      onInvalid: 'skip',
    }),
    policies: resources.map((r) => ({
      kind: r.kind,
      namespace: r.metadata.namespace ?? 'default',
      name: r.metadata.name ?? '',
    })),
    serviceFor: (host) => lookup.serviceFor(host),
    endpoints: (host) => lookup.endpoints(host),
  };
}

export async function openFileSource(options: FileSourceOptions): Promise<ConfigSource> {
  let store: FileStore;
  try {
    store = await openFileStore({
      paths: [options.dir],
      debounceMs: options.debounceMs,
      onError: (error) => options.log.error({ err: error }, 'config rescan failed; keeping the last good state'),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    throw new WaypointError(
      'ERR_WAYPOINT_CONFIG',
      `cannot read --config-dir ${options.dir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let version = 0;
  const publish = (index: AmbientIndex) => {
    const view = viewFromIndex(index, options, ++version);
    if (!view)
      options.log.error(
        { waypoint: `${options.namespace}/${options.name}` },
        'no waypoint Gateway of that name in the config: every request is refused until one appears',
      );
    options.onView(view);
  };
  const follower = followStore(store, {
    trustDomain: options.trustDomain,
    domainSuffix: options.domainSuffix,
    rootNamespace: options.rootNamespace,
    onChange: () => publish(follower.index),
  });
  publish(follower.index);
  const close = async () => {
    follower.stop();
    await store.dispose();
  };
  return { close, [Symbol.asyncDispose]: close };
}
