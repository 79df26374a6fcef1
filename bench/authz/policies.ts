// Synthetic meshes for the authz benchmark: `applicable` policies that apply to the target and the rest spread over
// 100 other namespaces, 10,000 in total. Deterministic (seeded) so runs compare.
import { seededRng } from '@mesh/core';

export interface Mesh {
  resources: object[];
  /** Principals that reach the end of the policy list: one allowed by the last ALLOW rule, others denied by default. */
  principals: string[];
}

const ap = (name: string, namespace: string, spec: object) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace },
  spec,
});

/**
 * ztunnel-shaped policies: principals, namespaces, ports, ipBlocks (the L4 attributes). With `unindexable`, rules use
 * only principal suffixes without a namespace, namespace prefixes and IP blocks, which the rule index cannot file by
 * identity: the worst case for it.
 */
export function l4Mesh(applicable: number, total = 10_000, unindexable = false): Mesh {
  const rng = seededRng(42);
  const resources: object[] = [];
  for (let i = 0; i < applicable; i++) {
    const selector = i % 2 === 0 ? { selector: { matchLabels: { app: 'target' } } } : {};
    const deny = i % 5 === 0;
    resources.push(
      ap(`p-${i}`, 'target', {
        ...selector,
        action: deny ? 'DENY' : 'ALLOW',
        rules: [
          {
            from: unindexable
              ? [
                  { source: { principals: [`*/sa/sa-${i}`] } },
                  { source: { namespaces: [`team-${i}*`], ipBlocks: ['10.0.0.0/8'] } },
                ]
              : [
                  {
                    source: {
                      principals: [`cluster.local/ns/client-${i}/sa/sa-${i}`, `cluster.local/ns/client-${i}/sa/other`],
                    },
                  },
                  { source: { namespaces: [`team-${i}`], ipBlocks: ['10.0.0.0/8'] } },
                ],
            to: [{ operation: { ports: [String(8000 + (i % 50)), '9090'] } }],
          },
          {
            from: [{ source: { ipBlocks: [`192.168.${i % 256}.0/24`] } }],
            when: [{ key: 'destination.port', values: ['7000'] }],
          },
        ],
      }),
    );
  }
  for (let i = applicable; i < total; i++) {
    const ns = `other-${Math.floor(rng.next() * 100)}`;
    resources.push(
      ap(`p-${i}`, ns, {
        selector: { matchLabels: { app: `app-${i % 37}` } },
        rules: [{ from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/sa-${i}`] } }] }],
      }),
    );
  }
  const last = applicable - 1;
  return {
    resources,
    principals: [
      `cluster.local/ns/client-${last % 5 === 0 ? last - 1 : last}/sa/sa-${last % 5 === 0 ? last - 1 : last}`,
      'cluster.local/ns/stranger/sa/a',
      'cluster.local/ns/stranger/sa/b',
      'cluster.local/ns/team-x/sa/c',
    ],
  };
}

/** waypoint-shaped policies: targetRefs Service, principals, methods, paths, hosts, a header condition. */
export function l7Mesh(applicable: number, total = 10_000): Mesh {
  const rng = seededRng(7);
  const resources: object[] = [];
  for (let i = 0; i < applicable; i++) {
    const deny = i % 5 === 0;
    resources.push(
      ap(`p-${i}`, 'target', {
        targetRefs: [{ kind: 'Service', group: '', name: 'web' }],
        action: deny ? 'DENY' : 'ALLOW',
        rules: [
          {
            from: [{ source: { principals: [`cluster.local/ns/client-${i}/sa/sa-${i}`], notNamespaces: ['blocked'] } }],
            to: [
              { operation: { methods: ['GET', 'HEAD'], paths: [`/api/v${i}/*`, '/healthz'], hosts: ['web.target*'] } },
            ],
            when: [{ key: 'request.headers[x-tenant]', values: [`tenant-${i}`] }],
          },
        ],
      }),
    );
  }
  for (let i = applicable; i < total; i++) {
    const ns = `other-${Math.floor(rng.next() * 100)}`;
    resources.push(
      ap(`p-${i}`, ns, {
        targetRefs: [{ kind: 'Service', group: '', name: `svc-${i % 53}` }],
        rules: [{ to: [{ operation: { paths: [`/p${i}`] } }] }],
      }),
    );
  }
  const last = applicable - 1;
  const who = last % 5 === 0 ? last - 1 : last;
  return {
    resources,
    principals: [`cluster.local/ns/client-${who}/sa/sa-${who}`, 'cluster.local/ns/stranger/sa/a'],
  };
}
