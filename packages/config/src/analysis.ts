// Analysis messages: what a user of an ambient mesh gets wrong, found over the whole index, each with a stable code.
// Codes are Istio's `IST0xxx` where an Istio analyzer reports exactly this condition, else `MESH-<E|W|I><4 digits>`.
// docs/analysis.md is generated from `analysisCodes` (`pnpm gen:analysis`); a test keeps them in sync.
import type { CompileNote } from '@mesh/authz';
import type { AmbientIndex, ServiceInfo, WaypointProblem } from './ambient/index.js';
import { DATAPLANE_MODE, INJECTION, REVISION, selectorMatches } from './ambient/labels.js';
import type { Origin } from './resources.js';
import type { ConfigIssue } from './validate.js';

export type AnalysisLevel = 'Error' | 'Warning' | 'Info';

export interface AnalysisCodeDoc {
  readonly name: string;
  readonly level: AnalysisLevel;
  /** What it means, in full sentences. */
  readonly description: string;
  /** What to do about it. */
  readonly fix: string;
}

/** Every analysis code; a code never changes meaning and is never reused. */
export const analysisCodes = {
  IST0101: {
    name: 'ReferencedResourceNotFound',
    level: 'Error',
    description:
      'A resource refers to another that does not exist: a `istio.io/use-waypoint` label naming a missing Gateway, a policy `targetRef` naming a missing Service or Gateway, or a route destination host no Service or ServiceEntry defines.',
    fix: 'Create the referenced resource or correct the reference (name and namespace).',
  },
  IST0106: {
    name: 'SchemaValidationError',
    level: 'Error',
    description: 'A document failed schema or semantic validation; the message names the field path.',
    fix: 'Correct the field; until then the object (or, in a watched file, the whole file) is not applied.',
  },
  IST0127: {
    name: 'NoMatchingWorkloadsFound',
    level: 'Warning',
    description:
      'A policy with a workload selector selects no workload in its namespace (or, in the root namespace, in the mesh).',
    fix: 'Check the selector labels against the pods; a policy that selects nothing has no effect.',
  },
  'MESH-E0001': {
    name: 'UseWaypointNotAWaypoint',
    level: 'Error',
    description:
      '`istio.io/use-waypoint` names a Gateway no controller programs as a waypoint: it is not of class `istio-waypoint`, has no HBONE listener on port 15008 and no status address (istiod accepts any Gateway with a status address, such as a "gateway sandwich"). istiod treats the waypoint as not ready, so the traffic goes to no waypoint and L7 policy and routing are skipped.',
    fix: "Point the label at a Gateway of class `istio-waypoint` (`istioctl waypoint apply` creates one), or let the Gateway's controller publish its address in `status.addresses`.",
  },
  'MESH-E0002': {
    name: 'WaypointTrafficTypeMismatch',
    level: 'Error',
    description:
      "A Service or ServiceEntry uses (through its own or its namespace's label) a waypoint whose `istio.io/waypoint-for` does not accept service-addressed traffic, or a Pod/WorkloadEntry labels a waypoint that does not accept workload-addressed traffic; the object gets no waypoint. Pods that inherit a service-only waypoint from their namespace simply have none.",
    fix: 'Set `istio.io/waypoint-for` on the Gateway to `service`, `workload` or `all` to match, or use another waypoint.',
  },
  'MESH-E0003': {
    name: 'WaypointAttachmentDenied',
    level: 'Error',
    description:
      '`istio.io/use-waypoint` names a waypoint in another namespace whose HBONE listener does not allow routes from this namespace (`allowedRoutes.namespaces.from` defaults to `Same`); istiod refuses the attachment and the traffic uses no waypoint.',
    fix: "On the waypoint Gateway, set the HBONE listener's `allowedRoutes.namespaces.from` to `All`, or to `Selector` with a selector matching this namespace.",
  },
  'MESH-W0001': {
    name: 'ZtunnelAllowRuleDropped',
    level: 'Warning',
    description:
      'An ALLOW rule enforced by ztunnel (selector, namespace or mesh-wide policy) uses HTTP attributes ztunnel cannot see; istiod drops the whole rule, which is more restrictive than written (traffic it meant to allow is denied).',
    fix: 'Attach the policy to a waypoint with `targetRefs` (Service or Gateway) and enroll the service in that waypoint, or remove the HTTP attributes.',
  },
  'MESH-W0002': {
    name: 'ZtunnelDenyRuleNotAsWritten',
    level: 'Warning',
    description:
      'A DENY rule enforced by ztunnel uses HTTP attributes: ztunnel enforces only its L4 part, so it either denies more than written or (when no L4 field is left) never matches.',
    fix: 'Attach the policy to a waypoint with `targetRefs`, or express it with L4 fields only.',
  },
  'MESH-W0003': {
    name: 'AmbientAndSidecarNamespace',
    level: 'Warning',
    description:
      'A namespace is labeled for ambient (`istio.io/dataplane-mode=ambient`) and for sidecar injection (`istio-injection=enabled` or `istio.io/rev`); injected pods keep their sidecars and are not captured by ztunnel.',
    fix: 'Remove one of the labels.',
  },
  'MESH-W0004': {
    name: 'WaypointPolicyNotEnforced',
    level: 'Warning',
    description:
      'An AuthorizationPolicy attached with `targetRefs` to a Service or ServiceEntry that uses no waypoint: waypoints enforce targetRefs policies, ztunnel ignores them, so nothing enforces this policy.',
    fix: 'Enroll the service in a waypoint (`istio.io/use-waypoint`) or attach the policy with a selector so ztunnel enforces its L4 part.',
  },
  'MESH-W0005': {
    name: 'RoutesWithoutWaypoint',
    level: 'Warning',
    description:
      'A VirtualService or HTTPRoute routes a service that uses no waypoint; in ambient mode only waypoints apply L7 routing, so the rules have no effect on mesh traffic.',
    fix: 'Enroll the service in a waypoint (`istio.io/use-waypoint` on the Service or its namespace).',
  },
  'MESH-W0006': {
    name: 'PolicyNotSentToZtunnel',
    level: 'Warning',
    description:
      'A CUSTOM or AUDIT policy, or a dry-run policy, would apply to workloads at ztunnel but is not sent to ztunnel (CUSTOM fails open at L4).',
    fix: 'Attach CUSTOM and AUDIT policies to a waypoint with `targetRefs`.',
  },
  'MESH-W0007': {
    name: 'DuplicateAddress',
    level: 'Warning',
    description:
      'Two workloads, or two services, have the same IP address; ztunnel resolves the address to only one of them.',
    fix: 'Give each pod, WorkloadEntry and Service its own address.',
  },
  'MESH-W0008': {
    name: 'AddressNotAllocated',
    level: 'Warning',
    description: 'A Service or ServiceEntry without an address could not get one: the allocation range is full.',
    fix: 'Set `spec.clusterIP` / `spec.addresses`, or use a larger range (`serviceCidr`, `serviceEntryCidr`).',
  },
  'MESH-W0009': {
    name: 'WaypointTargetInvalid',
    level: 'Warning',
    description:
      'A policy `targetRef` cannot bind at a waypoint (for example a GatewayClass other than `istio-waypoint`, or one outside the root namespace).',
    fix: 'Target a Service, ServiceEntry or waypoint Gateway in the policy namespace, or GatewayClass `istio-waypoint` from the root namespace.',
  },
  'MESH-W0010': {
    name: 'NamespaceNotDefined',
    level: 'Warning',
    description:
      'Objects live in a namespace the configuration does not define. Enrollment (`istio.io/dataplane-mode`) and waypoint (`istio.io/use-waypoint`) labels are read from the Namespace object, so its pods are treated as outside the mesh and its services use no namespace waypoint.',
    fix: 'Add the Namespace object with its labels (in a cluster it exists; in a config directory it must be written down).',
  },
  'MESH-W0011': {
    name: 'WaypointNotOnPath',
    level: 'Warning',
    description:
      'A simulated request (`meshctl check`) names a waypoint the service does not use, so real traffic to the service does not pass through it; the result says what that waypoint would do, not what happens.',
    fix: "Leave `waypoint` out of route requests to use the service's own waypoint, or bind the service to the waypoint with `istio.io/use-waypoint`.",
  },
  'MESH-I0001': {
    name: 'WaypointUnused',
    level: 'Info',
    description: 'A waypoint Gateway that no Service, ServiceEntry, Pod or WorkloadEntry uses.',
    fix: 'Label the namespace or the services with `istio.io/use-waypoint=<name>`, or delete the waypoint.',
  },
  'MESH-I0002': {
    name: 'RouteDiagnostic',
    level: 'Info',
    description:
      'The route compiler found something worth knowing: an unreachable route, a match a waypoint never sees (`sourceLabels`), an ignored VirtualService where HTTPRoutes exist.',
    fix: 'Read the message; reorder or remove the routes it names.',
  },
  'MESH-I0003': {
    name: 'ServiceAccountNotFound',
    level: 'Info',
    description:
      'A pod runs as a service account that the configuration does not define (reported only for namespaces where some ServiceAccount is defined). Its identity is still `spiffe://<td>/ns/<ns>/sa/<name>`.',
    fix: 'Add the ServiceAccount, or correct `spec.serviceAccountName`.',
  },
  'MESH-I0004': {
    name: 'PodNotInMesh',
    level: 'Info',
    description:
      'A pod in a namespace that uses a waypoint or has ztunnel policies is not captured (it opts out, gets a sidecar, or uses the host network); ztunnel does not enforce policy for it.',
    fix: 'Label the pod or namespace `istio.io/dataplane-mode=ambient` if it should be in the mesh.',
  },
} as const satisfies Record<string, AnalysisCodeDoc>;

export type AnalysisCode = keyof typeof analysisCodes;

export interface AnalysisMessage {
  code: AnalysisCode;
  level: AnalysisLevel;
  /** The code's name, e.g. `ReferencedResourceNotFound`. */
  name: string;
  message: string;
  /** `<Kind> <namespace>/<name>` (cluster-scoped: `<Kind> <name>`). */
  resource: string;
  /** Field path when the message is about one field. */
  path?: string;
  file?: string;
  document?: number;
}

const msg = (
  code: AnalysisCode,
  resource: string,
  message: string,
  origin: Origin = {},
  path?: string,
): AnalysisMessage => ({
  code,
  level: analysisCodes[code].level,
  name: analysisCodes[code].name,
  message,
  resource,
  ...(path !== undefined ? { path } : {}),
  ...(origin.file !== undefined ? { file: origin.file } : {}),
  ...(origin.document !== undefined ? { document: origin.document } : {}),
});

/** `Error [IST0101] (Kind ns/name) message`: istioctl analyze's line format. */
export function formatMessage(m: AnalysisMessage): string {
  const where = m.file !== undefined ? ` ${m.file}${m.document !== undefined ? `#${m.document}` : ''}` : '';
  return `${m.level} [${m.code}] (${m.resource}${where}) ${m.path ? `${m.path}: ` : ''}${m.message}`;
}

const LEVEL_ORDER: Record<AnalysisLevel, number> = { Error: 0, Warning: 1, Info: 2 };

/** Every message for the index's state, plus validation issues of the store (as IST0106), sorted by level. */
export function analyze(index: AmbientIndex, issues: readonly ConfigIssue[] = []): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const i of issues)
    if (i.severity === 'error')
      out.push(msg('IST0106', i.resource ?? i.file ?? 'config', i.message, i, i.path || undefined));
  const origin = (key: string) => index.object(key)?.origin ?? {};

  // Waypoint labels.
  const problem = (resource: string, key: string, p: WaypointProblem | null) => {
    if (!p) return;
    const code =
      p.kind === 'missing'
        ? 'IST0101'
        : p.kind === 'not-a-waypoint'
          ? 'MESH-E0001'
          : p.kind === 'attachment-denied'
            ? 'MESH-E0003'
            : 'MESH-E0002';
    out.push(msg(code, resource, p.message, origin(key), p.via === 'object' ? 'metadata.labels' : undefined));
  };
  const seen = new Set<string>();
  for (const s of index.services()) {
    if (seen.has(s.source)) continue;
    seen.add(s.source);
    problem(`${s.kind} ${s.namespace}/${s.name}`, s.source, s.waypointProblem);
  }
  for (const w of index.workloads()) {
    if (seen.has(w.source)) continue;
    seen.add(w.source);
    problem(`${w.kind} ${w.namespace}/${w.name}`, w.source, w.waypointProblem);
  }

  // Namespaces labeled for both data planes.
  for (const o of index.objects('Namespace')) {
    const l = (o.resource.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
    if (l[DATAPLANE_MODE] === 'ambient' && (l[INJECTION] === 'enabled' || l[REVISION] !== undefined))
      out.push(
        msg(
          'MESH-W0003',
          `Namespace ${o.name}`,
          `namespace ${o.name} has ${DATAPLANE_MODE}=ambient and sidecar injection (${l[INJECTION] === 'enabled' ? `${INJECTION}=enabled` : `${REVISION}=${l[REVISION]}`})`,
          o.origin,
          'metadata.labels',
        ),
      );
  }

  // Policy notes from @mesh/authz (ztunnel drops, skipped policies, invalid targets).
  const authz = index.authorizer;
  const noteCode: Partial<Record<CompileNote['code'], AnalysisCode>> = {
    'ztunnel-allow-rule-dropped': 'MESH-W0001',
    'ztunnel-deny-rule-noop': 'MESH-W0002',
    'ztunnel-deny-rule-broadened': 'MESH-W0002',
    'ztunnel-unsupported-action': 'MESH-W0006',
    'waypoint-target-invalid': 'MESH-W0009',
  };
  const security = new Map(
    index
      .objects()
      .filter(
        (o) =>
          o.kind === 'AuthorizationPolicy' || o.kind === 'PeerAuthentication' || o.kind === 'RequestAuthentication',
      )
      .map((o) => [`${o.kind}/${o.namespace}/${o.name}`, o]),
  );
  for (const n of authz.notes) {
    const code = noteCode[n.code];
    if (!code) continue;
    const o = security.get(`${n.kind}/${n.policy}`);
    out.push(
      msg(
        code,
        `${n.kind} ${n.policy}`,
        n.message,
        o?.origin ?? {},
        n.rule !== undefined ? `spec.rules[${n.rule}]` : undefined,
      ),
    );
  }

  // Selector policies that select nothing; targetRefs that point nowhere or at services without a waypoint.
  const workloads = index.workloads();
  const root = index.options.rootNamespace;
  for (const o of security.values()) {
    const spec = (
      o.resource as {
        spec?: {
          selector?: { matchLabels?: Record<string, string> };
          targetRefs?: { group?: string; kind: string; name: string }[];
          targetRef?: { group?: string; kind: string; name: string };
        };
      }
    ).spec;
    const sel = spec?.selector?.matchLabels;
    const label = `${o.kind} ${o.namespace}/${o.name}`;
    if (sel && Object.keys(sel).length > 0 && !spec?.targetRefs?.length && !spec?.targetRef) {
      const any = workloads.some(
        (w) => (o.namespace === root || w.namespace === o.namespace) && selectorMatches(sel, w.labels),
      );
      if (!any)
        out.push(
          msg(
            'IST0127',
            label,
            `no workload matches the selector ${Object.entries(sel)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')}`,
            o.origin,
            'spec.selector',
          ),
        );
    }
    const refs = spec?.targetRefs ?? (spec?.targetRef ? [spec.targetRef] : []);
    refs.forEach((ref, i) => {
      const path = spec?.targetRefs ? `spec.targetRefs[${i}]` : 'spec.targetRef';
      const group = ref.group ?? '';
      const serviceKind =
        (group === '' || group === 'core') && ref.kind === 'Service'
          ? 'Service'
          : group === 'networking.istio.io' && ref.kind === 'ServiceEntry'
            ? 'ServiceEntry'
            : null;
      if (serviceKind) {
        const s = index
          .services()
          .find((x) => x.kind === serviceKind && x.namespace === o.namespace && x.name === ref.name);
        const target = `${serviceKind} ${o.namespace}/${ref.name}`;
        if (!s) out.push(msg('IST0101', label, `targets ${target}, which does not exist`, o.origin, path));
        else if (!s.waypoint && o.kind === 'AuthorizationPolicy')
          out.push(
            msg(
              'MESH-W0004',
              label,
              `targets ${target}, which uses no waypoint: nothing enforces this policy`,
              o.origin,
              path,
            ),
          );
      } else if (group === 'gateway.networking.k8s.io' && ref.kind === 'Gateway') {
        if (!index.gateway(o.namespace, ref.name))
          out.push(
            msg('IST0101', label, `targets Gateway ${o.namespace}/${ref.name}, which does not exist`, o.origin, path),
          );
      }
    });
  }

  // Routing: rules for services without a waypoint, unknown destination hosts, compiler diagnostics.
  const domain = index.options.domainSuffix;
  const fqdn = (host: string, ns: string) =>
    host.includes('.') || host.startsWith('*') ? host : `${host}.${ns}.svc.${domain}`;
  for (const o of index.objects()) {
    const label = `${o.kind} ${o.namespace}/${o.name}`;
    if (o.kind === 'VirtualService') {
      const spec =
        (
          o.resource as {
            spec?: {
              hosts?: string[];
              gateways?: string[];
              http?: { route?: { destination?: { host?: string } }[] }[];
              tcp?: { route?: { destination?: { host?: string } }[] }[];
            };
          }
        ).spec ?? {};
      const meshBound = !spec.gateways?.length || spec.gateways.includes('mesh');
      if (!meshBound) continue;
      for (const host of spec.hosts ?? []) {
        const services = index.servicesByHost(fqdn(host, o.namespace));
        if (services.length > 0 && services.every((s) => !s.waypoint))
          out.push(
            msg(
              'MESH-W0005',
              label,
              `routes ${fqdn(host, o.namespace)}, which uses no waypoint: ambient applies VirtualService rules only at waypoints`,
              o.origin,
              'spec.hosts',
            ),
          );
      }
      const check = (routes: { route?: { destination?: { host?: string } }[] }[] | undefined, kind: string) =>
        (routes ?? []).forEach((r, i) =>
          (r.route ?? []).forEach((d, j) => {
            const host = d.destination?.host;
            if (host && index.servicesByHost(fqdn(host, o.namespace)).length === 0)
              out.push(
                msg(
                  'IST0101',
                  label,
                  `destination host ${host} matches no Service or ServiceEntry (requests routed there get 503)`,
                  o.origin,
                  `spec.${kind}[${i}].route[${j}].destination.host`,
                ),
              );
          }),
        );
      check(spec.http, 'http');
      check(spec.tcp, 'tcp');
    } else if (o.kind === 'HTTPRoute' || o.kind === 'GRPCRoute') {
      const spec =
        (
          o.resource as {
            spec?: {
              parentRefs?: { group?: string; kind?: string; name: string; namespace?: string }[];
              rules?: { backendRefs?: { group?: string; kind?: string; name: string; namespace?: string }[] }[];
            };
          }
        ).spec ?? {};
      (spec.parentRefs ?? []).forEach((p, i) => {
        if (p.kind !== 'Service') return;
        const s = index.service(p.namespace ?? o.namespace, p.name);
        if (!s)
          out.push(
            msg(
              'IST0101',
              label,
              `parentRef Service ${p.namespace ?? o.namespace}/${p.name} does not exist`,
              o.origin,
              `spec.parentRefs[${i}]`,
            ),
          );
        else if (!s.waypoint)
          out.push(
            msg(
              'MESH-W0005',
              label,
              `routes Service ${s.namespace}/${s.name}, which uses no waypoint: ambient applies HTTPRoutes only at waypoints`,
              o.origin,
              `spec.parentRefs[${i}]`,
            ),
          );
      });
      (spec.rules ?? []).forEach((r, i) =>
        (r.backendRefs ?? []).forEach((b, j) => {
          if ((b.kind ?? 'Service') !== 'Service' || (b.group ?? '') !== '') return;
          if (!index.service(b.namespace ?? o.namespace, b.name))
            out.push(
              msg(
                'IST0101',
                label,
                `backendRef Service ${b.namespace ?? o.namespace}/${b.name} does not exist`,
                o.origin,
                `spec.rules[${i}].backendRefs[${j}]`,
              ),
            );
        }),
      );
    }
  }
  for (const wp of index.waypoints()) {
    for (const name of wp.services) {
      const s = index.services().find((x) => x.resourceName === name);
      if (!s) continue;
      for (const p of s.ports) {
        for (const d of index.routeTable(wp, s, p.port).diagnostics)
          out.push(
            msg(
              'MESH-I0002',
              d.resource ? `route ${d.resource}` : `Service ${s.namespace}/${s.name}`,
              `${s.hostname}:${p.port} at waypoint ${wp.key}: ${d.message}`,
              {},
              d.path ?? undefined,
            ),
          );
      }
    }
    if (wp.services.length === 0 && wp.workloads.length === 0) {
      const o = index.object(`Gateway/${wp.namespace}/${wp.name}`);
      out.push(
        msg('MESH-I0001', `Gateway ${wp.key}`, `waypoint ${wp.key} is used by no service or workload`, o?.origin ?? {}),
      );
    }
  }

  // Addresses.
  const byIp = new Map<string, string[]>();
  for (const w of workloads)
    for (const ip of w.ips) (byIp.get(ip) ?? byIp.set(ip, []).get(ip)!).push(`${w.kind} ${w.namespace}/${w.name}`);
  for (const [ip, owners] of byIp)
    if (new Set(owners).size > 1)
      out.push(msg('MESH-W0007', owners[1]!, `address ${ip} is also used by ${owners[0]}`, {}));
  const vipOwners = new Map<string, ServiceInfo[]>();
  for (const s of index.services()) for (const v of s.vips) (vipOwners.get(v) ?? vipOwners.set(v, []).get(v)!).push(s);
  for (const [vip, owners] of vipOwners) {
    const distinct = [...new Set(owners.map((s) => `${s.kind} ${s.namespace}/${s.name}`))];
    if (distinct.length > 1)
      out.push(msg('MESH-W0007', distinct[1]!, `VIP ${vip} is also used by ${distinct[0]}`, origin(owners[1]!.source)));
  }
  for (const s of index.services())
    if (s.allocated && s.vips.length === 0)
      out.push(
        msg(
          'MESH-W0008',
          `${s.kind} ${s.namespace}/${s.name}`,
          `no address left to allocate for ${s.hostname}`,
          origin(s.source),
        ),
      );

  // Namespaces that hold objects but are not defined (their labels are unknown).
  const used = new Map<string, number>();
  for (const o of index.objects())
    if (
      o.namespace &&
      (o.kind === 'Pod' || o.kind === 'Service' || o.kind === 'ServiceEntry' || o.kind === 'WorkloadEntry')
    )
      used.set(o.namespace, (used.get(o.namespace) ?? 0) + 1);
  for (const [ns, count] of used)
    if (!index.namespaceExists(ns))
      out.push(
        msg(
          'MESH-W0010',
          `Namespace ${ns}`,
          `${count} object(s) are in namespace ${ns}, which is not defined: its enrollment and waypoint labels are unknown`,
        ),
      );

  // Pods: service accounts, capture in namespaces that expect the mesh.
  const nsWithSa = new Set(index.objects('ServiceAccount').map((o) => o.namespace));
  for (const w of workloads) {
    if (w.kind !== 'Pod') continue;
    if (
      nsWithSa.has(w.namespace) &&
      w.serviceAccount !== 'default' &&
      !index.serviceAccountExists(w.namespace, w.serviceAccount)
    )
      out.push(
        msg(
          'MESH-I0003',
          `Pod ${w.namespace}/${w.name}`,
          `service account ${w.namespace}/${w.serviceAccount} is not defined`,
          origin(w.source),
          'spec.serviceAccountName',
        ),
      );
    if (!w.captured && index.namespaceLabels(w.namespace)[DATAPLANE_MODE] === 'ambient')
      out.push(
        msg(
          'MESH-I0004',
          `Pod ${w.namespace}/${w.name}`,
          `not in the ambient mesh: ${w.captureReason}`,
          origin(w.source),
        ),
      );
  }

  return out.sort(
    (a, b) =>
      LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level] ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0),
  );
}

/** docs/analysis.md, generated from `analysisCodes`. */
export function renderAnalysisDoc(): string {
  const lines = [
    '# Analysis messages',
    '',
    '`meshctl analyze` and the simulator (`@mesh/config`) report these. Codes are stable: a code never changes meaning',
    "and a removed code is never reused. Where an Istio analyzer reports exactly the same condition, the code is Istio's",
    '(`IST0xxx`); ambient-specific checks use `MESH-<E|W|I><nnnn>` (Error, Warning, Info).',
    '',
    'This file is generated from `analysisCodes` in `packages/config/src/analysis.ts` by `pnpm gen:analysis`; a test',
    'fails when the two disagree.',
    '',
    '| Code | Name | Level | What it means | What to do |',
    '|---|---|---|---|---|',
  ];
  const cell = (t: string) => t.replace(/\|/g, '\\|');
  for (const [code, d] of Object.entries(analysisCodes) as [string, AnalysisCodeDoc][])
    lines.push(`| \`${code}\` | ${d.name} | ${d.level} | ${cell(d.description)} | ${cell(d.fix)} |`);
  return `${lines.join('\n')}\n`;
}
