// Structural schemas of the kinds @mesh/config validates itself (Kubernetes core kinds, WorkloadEntry, ServiceEntry,
// Gateway API Gateway/GatewayClass), written as data from the published OpenAPI field lists. Same approach as
// @mesh/l7 (docs/DECISIONS.md): types, enums, required fields, ranges here; semantic rules in validate.ts.
// Kubernetes core objects are open where we do not model the fields (a Pod's containers have dozens); the fields the
// index reads are typed, and unknown top-level spec fields are warnings so typos in them are visible.

export type Schema =
  | { t: 'string'; enum?: readonly string[]; pattern?: RegExp; patternName?: string; minLength?: number }
  | { t: 'int'; min?: number; max?: number }
  | { t: 'bool' }
  | { t: 'intOrString' }
  | {
      t: 'object';
      props: Readonly<Record<string, Schema>>;
      required?: readonly string[];
      /** Unknown fields are accepted without a warning. */
      open?: boolean;
    }
  | { t: 'array'; items: Schema; minItems?: number; maxItems?: number }
  | { t: 'map'; values: Schema }
  | { t: 'any' };

const str: Schema = { t: 'string' };
const bool: Schema = { t: 'bool' };
const any: Schema = { t: 'any' };
const port: Schema = { t: 'int', min: 1, max: 65535 };
const u32: Schema = { t: 'int', min: 0, max: 4_294_967_295 };
const strMap: Schema = { t: 'map', values: str };
const strList: Schema = { t: 'array', items: str };
const obj = (props: Record<string, Schema>, extra: { required?: string[]; open?: boolean } = {}): Schema => ({
  t: 'object',
  props,
  ...extra,
});
const list = (items: Schema, extra: { minItems?: number; maxItems?: number } = {}): Schema => ({
  t: 'array',
  items,
  ...extra,
});
/** Fields we accept as they come (their names are known, so a typo elsewhere is still a warning). */
const known = (...names: string[]): Record<string, Schema> => Object.fromEntries(names.map((n) => [n, any]));

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const nameSchema = (pattern: 'label' | 'subdomain'): Schema => ({
  t: 'string',
  minLength: 1,
  pattern: pattern === 'label' ? DNS1123_LABEL : DNS1123_SUBDOMAIN,
  patternName: pattern === 'label' ? 'a DNS-1123 label (lower case letters, digits and "-")' : 'a DNS-1123 subdomain',
});

export const metadataSchema = (name: 'label' | 'subdomain'): Schema =>
  obj(
    {
      name: nameSchema(name),
      namespace: nameSchema('label'),
      labels: strMap,
      annotations: strMap,
      uid: str,
      creationTimestamp: str,
      deletionTimestamp: str,
      ownerReferences: list(obj({ apiVersion: str, kind: str, name: str, controller: bool, uid: str }, { open: true })),
      ...known('generateName', 'resourceVersion', 'generation', 'finalizers', 'managedFields', 'selfLink'),
    },
    { required: ['name'] },
  );

const containerPort = obj(
  { name: str, containerPort: port, protocol: { t: 'string', enum: ['TCP', 'UDP', 'SCTP'] }, hostPort: port },
  { required: ['containerPort'], open: true },
);
const container = obj({ name: str, ports: list(containerPort) }, { open: true });

const podSpec = obj({
  nodeName: str,
  serviceAccountName: str,
  serviceAccount: str,
  hostNetwork: bool,
  containers: list(container),
  initContainers: list(container),
  ...known(
    'activeDeadlineSeconds',
    'affinity',
    'automountServiceAccountToken',
    'dnsConfig',
    'dnsPolicy',
    'enableServiceLinks',
    'ephemeralContainers',
    'hostAliases',
    'hostIPC',
    'hostPID',
    'hostUsers',
    'hostname',
    'imagePullSecrets',
    'nodeSelector',
    'os',
    'overhead',
    'preemptionPolicy',
    'priority',
    'priorityClassName',
    'readinessGates',
    'resourceClaims',
    'resources',
    'restartPolicy',
    'runtimeClassName',
    'schedulerName',
    'schedulingGates',
    'securityContext',
    'setHostnameAsFQDN',
    'shareProcessNamespace',
    'subdomain',
    'terminationGracePeriodSeconds',
    'tolerations',
    'topologySpreadConstraints',
    'volumes',
  ),
});

const podStatus = obj(
  {
    phase: { t: 'string', enum: ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] },
    podIP: str,
    podIPs: list(obj({ ip: str }, { required: ['ip'] })),
    conditions: list(obj({ type: str, status: str }, { required: ['type', 'status'], open: true })),
  },
  { open: true },
);

const servicePort = obj(
  {
    name: str,
    port,
    targetPort: { t: 'intOrString' },
    protocol: { t: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
    appProtocol: str,
    nodePort: port,
  },
  { required: ['port'] },
);

const serviceSpec = obj({
  selector: strMap,
  ports: list(servicePort),
  clusterIP: str,
  clusterIPs: strList,
  type: { t: 'string', enum: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] },
  externalName: str,
  trafficDistribution: str,
  ...known(
    'allocateLoadBalancerNodePorts',
    'externalIPs',
    'externalTrafficPolicy',
    'healthCheckNodePort',
    'internalTrafficPolicy',
    'ipFamilies',
    'ipFamilyPolicy',
    'loadBalancerClass',
    'loadBalancerIP',
    'loadBalancerSourceRanges',
    'publishNotReadyAddresses',
    'sessionAffinity',
    'sessionAffinityConfig',
  ),
});

const workloadEntrySpec = obj({
  address: { t: 'string', pattern: /^.{0,256}$/, patternName: 'at most 256 characters' },
  ports: { t: 'map', values: port },
  labels: strMap,
  network: str,
  locality: str,
  weight: u32,
  serviceAccount: str,
});

const serviceEntrySpec = obj(
  {
    hosts: list(str, { minItems: 1, maxItems: 256 }),
    addresses: list(str, { maxItems: 256 }),
    ports: list(
      obj(
        {
          number: port,
          protocol: str,
          name: str,
          targetPort: port,
        },
        { required: ['number', 'name'] },
      ),
      { maxItems: 256 },
    ),
    location: { t: 'string', enum: ['MESH_EXTERNAL', 'MESH_INTERNAL'] },
    resolution: { t: 'string', enum: ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'] },
    endpoints: list(workloadEntrySpec, { maxItems: 4096 }),
    workloadSelector: obj({ labels: strMap }),
    exportTo: strList,
    subjectAltNames: strList,
  },
  { required: ['hosts'] },
);

const gatewayAddress = obj(
  {
    type: {
      t: 'string',
      // The published pattern, alternation precedence included.
      pattern:
        /^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/,
      patternName: 'Hostname, IPAddress, NamedAddress or a domain-prefixed type',
    },
    value: { t: 'string', minLength: 1 },
  },
  { required: ['value'] },
);
const gatewaySpec = obj(
  {
    gatewayClassName: nameSchema('subdomain'),
    listeners: list(
      obj(
        {
          name: nameSchema('subdomain'),
          hostname: {
            t: 'string',
            pattern: /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
            patternName: 'a lower-case DNS name, optionally with a leading "*."',
          },
          port,
          protocol: {
            t: 'string',
            pattern:
              /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$/,
            patternName:
              'a protocol name (HTTP, HTTPS, TLS, TCP, HBONE, or a domain-prefixed name such as istio.io/PROXY)',
          },
          tls: obj(
            {
              mode: { t: 'string', enum: ['Terminate', 'Passthrough'] },
              certificateRefs: list(obj({}, { open: true })),
              options: strMap,
            },
            { open: true },
          ),
          allowedRoutes: obj({
            namespaces: obj({
              from: { t: 'string', enum: ['All', 'Same', 'Selector', 'None'] },
              selector: obj({
                matchLabels: strMap,
                matchExpressions: list(
                  obj(
                    {
                      key: str,
                      operator: { t: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
                      values: strList,
                    },
                    { required: ['key', 'operator'] },
                  ),
                ),
              }),
            }),
            kinds: list(obj({ group: str, kind: { t: 'string', minLength: 1 } }, { required: ['kind'] })),
          }),
        },
        { required: ['name', 'port', 'protocol'] },
      ),
      { minItems: 1, maxItems: 64 },
    ),
    addresses: list(gatewayAddress, { maxItems: 16 }),
    infrastructure: any,
  },
  { required: ['gatewayClassName', 'listeners'] },
);

export interface KindSchema {
  /** apiVersion values accepted. */
  apiVersions: readonly string[];
  metadata: Schema;
  /** Top-level fields besides apiVersion, kind and metadata. */
  fields: Readonly<Record<string, Schema>>;
  required?: readonly string[];
  namespaced: boolean;
}

const istioNetworking = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];
const gatewayApi = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'];

export const coreSchemas: Readonly<Record<string, KindSchema>> = {
  Namespace: {
    apiVersions: ['v1'],
    metadata: metadataSchema('label'),
    fields: { spec: obj({}, { open: true }), status: any },
    namespaced: false,
  },
  Node: {
    apiVersions: ['v1'],
    metadata: metadataSchema('subdomain'),
    fields: {
      spec: obj({}, { open: true }),
      status: obj(
        { addresses: list(obj({ type: str, address: str }, { required: ['type', 'address'] })) },
        { open: true },
      ),
    },
    namespaced: false,
  },
  Pod: {
    apiVersions: ['v1'],
    metadata: metadataSchema('subdomain'),
    fields: { spec: podSpec, status: podStatus },
    namespaced: true,
  },
  Service: {
    apiVersions: ['v1'],
    metadata: metadataSchema('label'),
    fields: { spec: serviceSpec, status: any },
    namespaced: true,
  },
  ServiceAccount: {
    apiVersions: ['v1'],
    metadata: metadataSchema('subdomain'),
    fields: { secrets: any, imagePullSecrets: any, automountServiceAccountToken: bool },
    namespaced: true,
  },
  WorkloadEntry: {
    apiVersions: istioNetworking,
    metadata: metadataSchema('subdomain'),
    fields: { spec: workloadEntrySpec, status: any },
    required: ['spec'],
    namespaced: true,
  },
  ServiceEntry: {
    apiVersions: istioNetworking,
    metadata: metadataSchema('subdomain'),
    fields: { spec: serviceEntrySpec, status: any },
    required: ['spec'],
    namespaced: true,
  },
  Gateway: {
    apiVersions: gatewayApi,
    metadata: metadataSchema('subdomain'),
    fields: { spec: gatewaySpec, status: obj({ addresses: list(gatewayAddress) }, { open: true }) },
    required: ['spec'],
    namespaced: true,
  },
  GatewayClass: {
    apiVersions: gatewayApi,
    metadata: metadataSchema('subdomain'),
    fields: {
      spec: obj(
        { controllerName: { t: 'string', minLength: 1 }, parametersRef: any, description: str },
        { required: ['controllerName'] },
      ),
      status: any,
    },
    required: ['spec'],
    namespaced: false,
  },
};
