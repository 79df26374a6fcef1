// Resource types: how to decode, encode, name and validate one kind of xDS resource. You build them and pass them in;
// nothing is registered globally.
import type { DeepPartial } from '@mesh/api';
import { Cluster } from '@mesh/api/envoy.config.cluster.v3';
import { ClusterLoadAssignment } from '@mesh/api/envoy.config.endpoint.v3';
import { Listener } from '@mesh/api/envoy.config.listener.v3';
import { RouteConfiguration } from '@mesh/api/envoy.config.route.v3';
import { Authorization } from '@mesh/api/istio.security';
import { Address, Workload } from '@mesh/api/istio.workload';
import { Waypoint, WaypointService } from '@mesh/api/mesh.waypoint.v1';
import { XdsError } from './errors.js';
import { addressAliases, addressResourceName, workloadAliases } from './names.js';

/** What a resource type needs from its message codec (every @mesh/api codec fits). */
export interface ResourceCodec<T> {
  /** `type.googleapis.com/<full message name>`. */
  readonly typeUrl: string;
  decode(bytes: Uint8Array): T;
  encode(message: DeepPartial<T>): Uint8Array;
  /** The proto3 JSON form, for config dumps. */
  toJson?(message: DeepPartial<T>): Record<string, unknown>;
}

/** One kind of xDS resource, as the client and the server use it. Build one with {@link defineResourceType}. */
export interface ResourceType<T> {
  readonly typeUrl: string;
  /** Decodes `google.protobuf.Any.value`. Throwing makes the client NACK the resource as undecodable. */
  decode(bytes: Uint8Array): T;
  encode(resource: DeepPartial<T>): Uint8Array;
  /** The name carried inside the message (state-of-the-world responses have no other). */
  nameOf(resource: T): string;
  /** Aliases the server advertises in delta xDS when the caller gives none. */
  aliasesOf(resource: T): string[];
  /** Why the resource is unusable, or undefined when it is fine. The client NACKs and keeps its last good copy. */
  validate(resource: T, name: string): string | undefined;
  /** The proto3 JSON form (config dumps). */
  toJson(resource: T): unknown;
  /**
   * Whether `*` and the legacy empty subscription mean "everything the server has for me". Envoy: Listener and
   * Cluster; Istio adds all of its own types (Address, Authorization, …). Others need explicit names.
   */
  readonly wildcard: boolean;
  /**
   * State of the world: every response carries the whole subscribed set, so a name missing from a response is a
   * deletion (Listener, Cluster, and Istio's wildcard types). Other types (routes, endpoints) go away only when
   * unsubscribed.
   */
  readonly sotwFullState: boolean;
}

export interface ResourceTypeOptions<T> {
  codec: ResourceCodec<T>;
  /** Default: no name (such a type works in delta xDS only, where each resource is named on the wire). */
  nameOf?: (resource: T) => string;
  aliasesOf?: (resource: T) => string[];
  validate?: (resource: T, name: string) => string | undefined;
  /** Default true. */
  wildcard?: boolean;
  /** Default: the same as `wildcard`. */
  sotwFullState?: boolean;
}

/** Builds a resource type from a codec plus the naming and validation rules of that type. */
export function defineResourceType<T>(options: ResourceTypeOptions<T>): ResourceType<T> {
  const { codec } = options;
  if (!codec || typeof codec.typeUrl !== 'string' || !codec.typeUrl.includes('/')) {
    throw new XdsError('ERR_XDS_INVALID_OPTIONS', 'a resource type needs a codec with a type URL');
  }
  const wildcard = options.wildcard ?? true;
  const nameOf = options.nameOf;
  return Object.freeze({
    typeUrl: codec.typeUrl,
    decode: (bytes: Uint8Array) => codec.decode(bytes),
    encode: (resource: DeepPartial<T>) => codec.encode(resource),
    nameOf: (resource: T) => {
      if (!nameOf) {
        throw new XdsError(
          'ERR_XDS_INVALID_OPTIONS',
          `resource type ${codec.typeUrl} has no nameOf, so its resources need explicit names (and it cannot be used over state-of-the-world xDS)`,
          { details: { typeUrl: codec.typeUrl } },
        );
      }
      return nameOf(resource);
    },
    aliasesOf: (resource: T) => options.aliasesOf?.(resource) ?? [],
    validate: (resource: T, name: string) => options.validate?.(resource, name),
    toJson: (resource: T) => (codec.toJson ? codec.toJson(resource as DeepPartial<T>) : resource),
    wildcard,
    sotwFullState: options.sotwFullState ?? wildcard,
  });
}

const needsName = (what: string) => (resource: { name: string }) =>
  resource.name ? undefined : `${what} has an empty name`;

/** `envoy.config.listener.v3.Listener` (LDS): wildcard, full state in SotW. */
export const listenerType: ResourceType<Listener> = defineResourceType({
  codec: Listener,
  nameOf: (l) => l.name,
  validate: needsName('listener'),
});

/** `envoy.config.route.v3.RouteConfiguration` (RDS): named subscriptions only. */
export const routeConfigurationType: ResourceType<RouteConfiguration> = defineResourceType({
  codec: RouteConfiguration,
  nameOf: (r) => r.name,
  validate: needsName('route configuration'),
  wildcard: false,
});

/** `envoy.config.cluster.v3.Cluster` (CDS): wildcard, full state in SotW. */
export const clusterType: ResourceType<Cluster> = defineResourceType({
  codec: Cluster,
  nameOf: (c) => c.name,
  validate: needsName('cluster'),
});

/** `envoy.config.endpoint.v3.ClusterLoadAssignment` (EDS), named by `cluster_name`: named subscriptions only. */
export const clusterLoadAssignmentType: ResourceType<ClusterLoadAssignment> = defineResourceType({
  codec: ClusterLoadAssignment,
  nameOf: (c) => c.clusterName,
  validate: (c) => (c.clusterName ? undefined : 'cluster load assignment has an empty cluster_name'),
  wildcard: false,
});

/**
 * `istio.workload.Address` (what istiod sends ztunnel): named by the workload uid or `<namespace>/<hostname>`,
 * aliased by `<network>/<ip>`.
 */
export const addressType: ResourceType<Address> = defineResourceType({
  codec: Address,
  nameOf: addressResourceName,
  aliasesOf: addressAliases,
  validate: (address) => {
    if (address.workload) {
      if (!address.workload.uid) return 'workload has an empty uid';
      for (const ip of address.workload.addresses) {
        if (ip.length !== 4 && ip.length !== 16) return `workload ${address.workload.uid} has a ${ip.length}-byte IP`;
      }
      return undefined;
    }
    if (address.service) {
      if (!address.service.hostname) return 'service has an empty hostname';
      for (const vip of address.service.addresses) {
        if (vip.address.length !== 4 && vip.address.length !== 16) {
          return `service ${address.service.hostname} has a ${vip.address.length}-byte VIP`;
        }
      }
      return undefined;
    }
    return 'address holds neither a workload nor a service';
  },
});

/** `istio.workload.Workload` (istiod's workload-only variant), named by uid. */
export const workloadType: ResourceType<Workload> = defineResourceType({
  codec: Workload,
  nameOf: (w) => w.uid,
  aliasesOf: workloadAliases,
  validate: (w) => (w.uid ? undefined : 'workload has an empty uid'),
});

/** `istio.security.Authorization` (ztunnel's L4 policy), named `<namespace>/<name>`. */
export const authorizationType: ResourceType<Authorization> = defineResourceType({
  codec: Authorization,
  nameOf: (a) => `${a.namespace}/${a.name}`,
  validate: needsName('authorization policy'),
});

/**
 * `mesh.waypoint.v1.Waypoint` (what istiod sends a mesh waypoint about itself), named `<namespace>/<name>`. Wildcard:
 * a waypoint subscribes to `*` and the server filters to its own.
 */
export const waypointType: ResourceType<Waypoint> = defineResourceType({
  codec: Waypoint,
  nameOf: (w) => `${w.namespace}/${w.name}`,
  validate: (w) => (w.name && w.namespace ? undefined : 'waypoint needs a name and a namespace'),
});

/**
 * `mesh.waypoint.v1.WaypointService` (one Service's L7 config at one waypoint), named
 * `<waypoint namespace>/<waypoint name>/<service namespace>/<hostname>`. Wildcard, filtered per waypoint.
 */
export const waypointServiceType: ResourceType<WaypointService> = defineResourceType({
  codec: WaypointService,
  nameOf: (s) => `${s.waypoint}/${s.service}`,
  validate: (s) =>
    s.waypoint.split('/').length === 2 && s.service.includes('/') && s.hostname
      ? undefined
      : 'waypoint service needs waypoint "<ns>/<name>", service "<ns>/<hostname>" and a hostname',
});

/**
 * Whether a type URL is a wildcard type by Istio's rule (`IsWildcardTypeURL`): everything except routes, endpoints,
 * secrets, virtual hosts and extension configs. Used for types the server has no {@link ResourceType} for.
 */
export function isWildcardTypeUrl(typeUrl: string): boolean {
  return !NON_WILDCARD.has(typeUrl);
}

const NON_WILDCARD = new Set(
  [
    'envoy.config.route.v3.RouteConfiguration',
    'envoy.config.endpoint.v3.ClusterLoadAssignment',
    'envoy.extensions.transport_sockets.tls.v3.Secret',
    'envoy.config.core.v3.TypedExtensionConfig',
    'envoy.config.route.v3.VirtualHost',
    'envoy.config.route.v3.ScopedRouteConfiguration',
  ].map((n) => `type.googleapis.com/${n}`),
);
