// The same-run reference: an unindexed linear scan that a straightforward implementation would do. For every
// decision it walks all 10,000 policies of the mesh, checks whether each applies to the target, and interprets the
// policy's data as written (wildcard forms recognised per comparison). CIDRs are parsed once at setup.
import { isIP } from 'node:net';
import type { AuthorizationPolicy, L4Match, L4Policy, Rule, StringMatch } from '@mesh/authz';

const str = (m: StringMatch, v: string) =>
  m.kind === 'exact'
    ? v === m.value
    : m.kind === 'prefix'
      ? v.startsWith(m.value)
      : m.kind === 'suffix'
        ? v.endsWith(m.value)
        : v.length > 0;

function ipToBigInt(ip: string): bigint {
  if (isIP(ip) === 4) return ip.split('.').reduce((a, o) => (a << 8n) + BigInt(o), 0n);
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.reduce((a, g) => (a << 16n) + BigInt(Number.parseInt(g, 16)), 0n);
}

interface Net {
  v6: boolean;
  base: bigint;
  bits: number;
}
const nets = new WeakMap<string[], Net[]>();
function parsedNets(list: string[]): Net[] {
  let n = nets.get(list);
  if (!n) {
    n = list.map((c) => {
      const [a = '', p = ''] = c.split('/');
      const v6 = a.includes(':');
      return { v6, base: ipToBigInt(a), bits: Number(p) };
    });
    nets.set(list, n);
  }
  return n;
}
const inNet = (n: Net, ip: string) => {
  const v6 = ip.includes(':');
  if (v6 !== n.v6) return false;
  const width = v6 ? 128n : 32n;
  const shift = width - BigInt(n.bits);
  return ipToBigInt(ip) >> shift === n.base >> shift;
};

export interface Conn {
  principal: string | null;
  srcIp: string;
  dstIp: string;
  port: number;
}

function matchOne(m: L4Match, c: Conn): boolean {
  const id = c.principal;
  const ns = id ? id.split('/')[2]! : '';
  const sa = id ? id.split('/')[4]! : '';
  const pos = <T>(list: T[] | undefined, f: (x: T) => boolean) => !list?.length || list.some(f);
  const neg = <T>(list: T[] | undefined, f: (x: T) => boolean) => !list?.length || !list.some(f);
  const ipf = (ip: string) => (n: Net) => inNet(n, ip);
  return (
    pos(m.destinationIps && parsedNets(m.destinationIps), ipf(c.dstIp)) &&
    neg(m.notDestinationIps && parsedNets(m.notDestinationIps), ipf(c.dstIp)) &&
    pos(m.sourceIps && parsedNets(m.sourceIps), ipf(c.srcIp)) &&
    neg(m.notSourceIps && parsedNets(m.notSourceIps), ipf(c.srcIp)) &&
    pos(m.destinationPorts, (p) => p === c.port) &&
    neg(m.notDestinationPorts, (p) => p === c.port) &&
    pos(m.serviceAccounts, (s) => id !== null && s.namespace === ns && s.serviceAccount === sa) &&
    neg(m.notServiceAccounts, (s) => id !== null && s.namespace === ns && s.serviceAccount === sa) &&
    pos(m.principals, (s) => id !== null && str(s, id)) &&
    neg(m.notPrincipals, (s) => id !== null && str(s, id)) &&
    pos(m.namespaces, (s) => str(s, ns)) &&
    neg(m.notNamespaces, (s) => str(s, ns))
  );
}

const empty = (m: L4Match) => Object.values(m).every((v) => !(v as unknown[]).length);
const policyMatches = (p: L4Policy, c: Conn) =>
  p.rules.some((r) =>
    r.clauses.every((cl) => cl.matches.length === 0 || cl.matches.some((m) => !empty(m) && matchOne(m, c))),
  );

/** Linear scan over every policy of the mesh. */
export function linearL4(
  all: readonly L4Policy[],
  workload: { namespace: string; policies: string[] },
  c: Conn,
): 'allow' | 'deny' {
  const applies = (p: L4Policy) =>
    p.scope === 'GLOBAL' ||
    (p.scope === 'NAMESPACE' && p.namespace === workload.namespace) ||
    workload.policies.includes(`${p.namespace}/${p.name}`);
  let allows = 0;
  for (const p of all) if (applies(p) && p.action === 'DENY' && !p.dryRun && policyMatches(p, c)) return 'deny';
  for (const p of all) {
    if (!applies(p) || p.action !== 'ALLOW' || p.dryRun) continue;
    allows++;
    if (policyMatches(p, c)) return 'allow';
  }
  return allows === 0 ? 'allow' : 'deny';
}

// --- L7: interpret the CRDs as written -------------------------------------------------------------------------------

interface Req {
  principal: string | null;
  method: string;
  host: string;
  path: string;
  headers: Record<string, string>;
}

const wild = (pattern: string, v: string) =>
  pattern === '*'
    ? v.length > 0
    : pattern.startsWith('*')
      ? v.endsWith(pattern.slice(1))
      : pattern.endsWith('*')
        ? v.startsWith(pattern.slice(0, -1))
        : v === pattern;
const anyWild = (list: string[] | undefined, v: string | null) => v !== null && (list ?? []).some((p) => wild(p, v));

function l7RuleMatches(rule: Rule, r: Req): boolean {
  const ns = r.principal ? r.principal.split('/')[2]! : null;
  const from =
    !rule.from ||
    rule.from.some(
      ({ source: s = {} }) =>
        (!s.principals || anyWild(s.principals, r.principal)) && (!s.notNamespaces || !anyWild(s.notNamespaces, ns)),
    );
  const path = r.path.split('?')[0]!;
  const to =
    !rule.to ||
    rule.to.some(
      ({ operation: o = {} }) =>
        (!o.methods || anyWild(o.methods, r.method)) &&
        (!o.paths || anyWild(o.paths, path)) &&
        (!o.hosts ||
          anyWild(
            o.hosts.map((h) => h.toLowerCase()),
            r.host.toLowerCase(),
          )),
    );
  const when = (rule.when ?? []).every((c) => {
    const name = /^request\.headers\[(.*)\]$/.exec(c.key)?.[1]?.toLowerCase();
    return name !== undefined && anyWild(c.values, r.headers[name] ?? null);
  });
  return from && to && when;
}

/** Linear scan over every policy of the mesh for a request to Service `target/web`. */
export function linearL7(all: readonly AuthorizationPolicy[], r: Req): 'allow' | 'deny' {
  const applies = (p: AuthorizationPolicy) =>
    p.metadata.namespace === 'target' &&
    (p.spec?.targetRefs ?? []).some((t) => t.kind === 'Service' && t.name === 'web');
  const rules = (p: AuthorizationPolicy) => p.spec?.rules ?? [];
  let allows = 0;
  for (const p of all)
    if (applies(p) && p.spec?.action === 'DENY' && rules(p).some((x) => l7RuleMatches(x, r))) return 'deny';
  for (const p of all) {
    if (!applies(p) || (p.spec?.action ?? 'ALLOW') !== 'ALLOW') continue;
    allows++;
    if (rules(p).some((x) => l7RuleMatches(x, r))) return 'allow';
  }
  return allows === 0 ? 'allow' : 'deny';
}
