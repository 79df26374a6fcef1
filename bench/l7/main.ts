// Route decisions per second on one core with 10 / 100 / 1,000 routes on one host (mixed prefix, regex and header
// matches), @mesh/l7 against a naive same-run reference: a linear scan with unanchored JavaScript RegExps (what a
// first implementation typically does; it is also wrong about RE2 full-match semantics and has no ReDoS protection).
// Usage: pnpm -s bench l7 [--seconds 1] [--runs 5]
import { availableParallelism, loadavg } from 'node:os';
import { seededRng, type Rng } from '@mesh/core';
import { compileRouteTable, type RouteRequest, type VirtualService } from '@mesh/l7';
import { publish } from '../harness/report.ts';
import { measureRate, median, repeat } from '../harness/stats.ts';

const cpusCount = () => availableParallelism();
const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const seconds = flag('seconds', 1);
const runs = flag('runs', 5);
const sizes = [10, 100, 1_000];
const service = { hostname: 'bench.default.svc.cluster.local', namespace: 'default', port: 8080 };

type Kind = 'prefix' | 'regex' | 'header';
const kindOf = (i: number): Kind => (['prefix', 'regex', 'header', 'prefix', 'regex'] as const)[i % 5]!;

function virtualService(n: number): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'bench', namespace: 'default' },
    spec: {
      hosts: ['bench'],
      http: Array.from({ length: n }, (_, i) => {
        const kind = kindOf(i);
        const match =
          kind === 'prefix'
            ? { uri: { prefix: `/svc${i}/` } }
            : kind === 'regex'
              ? { uri: { regex: `/api/v[0-9]+/svc${i}/[^/]+` } }
              : { uri: { prefix: '/h/' }, headers: { 'x-tenant': { exact: `t${i}` } } };
        return {
          name: `r${i}`,
          match: [match],
          route: [
            { destination: { host: 'bench', subset: 'a' }, weight: 90 },
            { destination: { host: 'bench', subset: 'b' }, weight: 10 },
          ],
        };
      }),
    },
  };
}

/** 1,000 requests: 90% hit a route chosen uniformly, 10% match nothing. */
function requests(n: number, rng: Rng): RouteRequest[] {
  return Array.from({ length: 1_000 }, () => {
    const i = Math.floor(rng.next() * n);
    if (rng.next() < 0.1) return { method: 'GET', path: `/nothing/${i}?q=1`, authority: 'bench:8080' };
    const kind = kindOf(i);
    if (kind === 'prefix') return { method: 'GET', path: `/svc${i}/items/42?x=1`, authority: 'bench:8080' };
    if (kind === 'regex') return { method: 'GET', path: `/api/v2/svc${i}/user-7`, authority: 'bench:8080' };
    return { method: 'GET', path: '/h/x', authority: 'bench:8080', headers: { 'x-tenant': `t${i}` } };
  });
}

/** The reference: first match by linear scan, JavaScript RegExp without anchors, a fresh result object per call. */
function naiveTable(vs: VirtualService) {
  const routes = vs.spec!.http!.map((r) => {
    const m = r.match![0]!;
    return {
      name: r.name!,
      prefix: m.uri?.prefix,
      regex: m.uri?.regex !== undefined ? new RegExp(m.uri.regex) : undefined,
      headers: Object.entries(m.headers ?? {}).map(([k, v]) => [k, v.exact] as const),
      dests: r.route!.map((d) => ({
        host: d.destination!.host!,
        subset: d.destination!.subset ?? null,
        weight: d.weight ?? 0,
      })),
    };
  });
  return (req: RouteRequest, rng: Rng) => {
    const path = req.path.split('?')[0]!;
    for (const r of routes) {
      if (r.prefix !== undefined && !req.path.startsWith(r.prefix)) continue;
      if (r.regex && !r.regex.test(path)) continue;
      if (r.headers.some(([k, v]) => req.headers?.[k] !== v)) continue;
      const total = r.dests.reduce((s, d) => s + d.weight, 0);
      let x = rng.next() * total;
      const dest = r.dests.find((d) => (x -= d.weight) < 0) ?? r.dests[r.dests.length - 1]!;
      return { route: r.name, backend: dest, path: req.path };
    }
    return { route: null, status: 404 };
  };
}

const loadBefore = loadavg()[0]!;
const rows: (string | number)[][] = [];
const notes: string[] = [];
let at100 = 0;
for (const n of sizes) {
  const vs = virtualService(n);
  const table = compileRouteTable({ service, virtualServices: [vs], validate: true });
  const naive = naiveTable(vs);
  const reqs = requests(n, seededRng(n));
  // Both implementations must agree on which route each request takes (the naive one is only right here because the
  // generated patterns are anchored by construction).
  const rng = seededRng(1);
  for (const r of reqs) {
    const a = table.route(r, { rng }).route?.name ?? null;
    const b = naive(r, rng).route;
    if (a !== b) throw new Error(`engines disagree on ${JSON.stringify(r)}: ${a} vs ${b}`);
  }
  // Runs alternate between the two implementations so that both see the same machine load (this machine is shared).
  // One operation is a pass over the 1,000 requests: the harness reads the clock once per operation, and a clock read
  // per decision would cost more than the decision itself in this VM.
  let sink = 0;
  const meshPass = () => {
    for (let i = 0; i < reqs.length; i++) if (table.route(reqs[i]!, { rng }).backend) sink++;
  };
  const naivePass = () => {
    for (let i = 0; i < reqs.length; i++) if (naive(reqs[i]!, rng).route) sink++;
  };
  const pairs = await repeat(
    runs,
    async () => ({
      mesh: await measureRate(meshPass, { seconds, warmupSeconds: 0.3 }),
      ref: await measureRate(naivePass, { seconds, warmupSeconds: 0.3 }),
    }),
    (p) => p.mesh.rate * reqs.length,
  );
  if (sink < 0) console.log(sink);
  const mesh = { median: pairs.median };
  const ref = { median: median(pairs.results.map((p) => p.ref.rate * reqs.length)) };
  if (n === 100) at100 = mesh.median;
  rows.push([n, Math.round(mesh.median), Math.round(ref.median), Number((mesh.median / ref.median).toFixed(2))]);
}
notes.push(
  `median of ${runs} alternating runs of ${seconds}s each per implementation (after 0.3s warm-up), one core, Node ${process.version}`,
);
notes.push(
  `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after, on ${String(cpusCount())} cores (the machine is shared: compare ratios, not absolute rates)`,
);
notes.push('routes: 2/5 uri prefix, 2/5 RE2 uri regex, 1/5 header exact + prefix; each with a 90/10 weighted split');
notes.push('requests: 1,000 fixed (seeded): 90% hit a uniformly chosen route, 10% match nothing (404)');
notes.push(
  `target >= 500,000 decisions/s at 100 routes: ${at100 >= 500_000 ? 'met' : 'NOT met'} (${Math.round(at100).toLocaleString('en-US')})`,
);
publish({
  name: 'l7',
  title: 'Route decisions per second (@mesh/l7 vs a naive linear scan with unanchored JS RegExp)',
  columns: ['routes', '@mesh/l7 decisions/s', 'naive decisions/s', 'ratio'],
  rows,
  notes,
});
