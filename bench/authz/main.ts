// pnpm -s bench authz [--seconds 1] [--runs 3]
// Decisions per second on one core at ztunnel (L4) and at a waypoint (L7) with 10 / 100 / 1,000 policies applying to
// the target and 10,000 in the mesh; medians of several runs. Same-run references: the engine's own compiled scan
// (authorizeByScan, no rule index) and an unindexed linear scan of the whole mesh (baseline.ts).
import { createAuthorizer, type Connection, type WaypointRequest } from '@mesh/authz';
import { measureRate, repeat } from '../harness/stats.ts';
import { publish, type Cell } from '../harness/report.ts';
import { linearL4, linearL7 } from './baseline.ts';
import { l4Mesh, l7Mesh } from './policies.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const seconds = arg('--seconds', 1);
const runs = arg('--runs', 3);
const sizes = [10, 100, 1000];
const TARGET_L4 = 1_000_000;
const TARGET_L7 = 200_000;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const rows: Cell[][] = [];
const notes: string[] = [];
const rate = async (op: () => unknown) =>
  (
    await repeat(
      runs,
      () => measureRate(op, { seconds, warmupSeconds: 0.3 }),
      (r) => r.rate,
    )
  ).median;

async function ztunnelRow(n: number, label: string, unindexable: boolean): Promise<number> {
  const mesh = l4Mesh(n, 10_000, unindexable);
  const built = performance.now();
  const authz = createAuthorizer({ resources: mesh.resources });
  const compileMs = performance.now() - built;
  const workload = { namespace: 'target', labels: { app: 'target' } };
  const wa = authz.ztunnel.forWorkload(workload);
  const conns: Connection[] = mesh.principals.map((principal, i) => ({
    source: { principal, ip: `10.1.${i}.7` },
    destination: { ip: '10.2.0.9', port: 9090 },
  }));
  const all = authz.ztunnel.policies;
  const names = authz.ztunnel.workloadPolicies(workload);
  const plain = conns.map((c) => ({
    principal: c.source.principal,
    srcIp: c.source.ip,
    dstIp: c.destination.ip,
    port: c.destination.port,
  }));
  conns.forEach((c, k) => {
    const d = wa.authorize(c).decision;
    if (
      wa.authorizeByScan(c).decision !== d ||
      linearL4(all, { namespace: 'target', policies: names }, plain[k]!) !== d
    ) {
      throw new Error('L4 references disagree with the engine');
    }
  });
  let i = 0;
  const engine = await rate(() => wa.authorize(conns[i++ & 3]!));
  let j = 0;
  const scan = await rate(() => wa.authorizeByScan(conns[j++ & 3]!));
  let k = 0;
  const linear = await rate(() => linearL4(all, { namespace: 'target', policies: names }, plain[k++ & 3]!));
  rows.push([
    label,
    n,
    wa.policies().length,
    all.length,
    fmt(engine),
    fmt(scan),
    fmt(linear),
    engine / linear,
    Math.round(compileMs),
  ]);
  return engine;
}

async function waypointRow(n: number): Promise<number> {
  const mesh = l7Mesh(n);
  const built = performance.now();
  const authz = createAuthorizer({ resources: mesh.resources });
  const compileMs = performance.now() - built;
  const reqs: WaypointRequest[] = mesh.principals.flatMap((principal) =>
    [`/api/v${n - 1}/items?page=2`, '/healthz'].map((path) => ({
      waypoint: { name: 'waypoint', namespace: 'target' },
      service: { name: 'web', namespace: 'target', port: 80 },
      source: { principal, ip: '10.1.0.7' },
      http: {
        method: 'GET',
        host: 'web.target.svc.cluster.local',
        path,
        headers: { 'x-tenant': `tenant-${n - 1}`, 'user-agent': 'bench' },
      },
    })),
  );
  const plain = reqs.map((r) => ({
    principal: r.source.principal,
    method: r.http!.method,
    host: r.http!.host,
    path: r.http!.path,
    headers: r.http!.headers as Record<string, string>,
  }));
  reqs.forEach((r, x) => {
    const d = authz.waypoint.authorize(r).decision;
    if (authz.waypoint.authorizeByScan(r).decision !== d || linearL7(authz.authorizationPolicies, plain[x]!) !== d) {
      throw new Error('L7 references disagree with the engine');
    }
  });
  let i = 0;
  const engine = await rate(() => authz.waypoint.authorize(reqs[i++ & 3]!));
  let j = 0;
  const scan = await rate(() => authz.waypoint.authorizeByScan(reqs[j++ & 3]!));
  let k = 0;
  const linear = await rate(() => linearL7(authz.authorizationPolicies, plain[k++ & 3]!));
  rows.push([
    'waypoint (L7)',
    n,
    n,
    mesh.resources.length,
    fmt(engine),
    fmt(scan),
    fmt(linear),
    engine / linear,
    Math.round(compileMs),
  ]);
  return engine;
}

for (const n of sizes) {
  const l4 = await ztunnelRow(n, 'ztunnel (L4)', false);
  const l7 = await waypointRow(n);
  if (n === 100) {
    notes.push(
      `L4 target ≥ ${fmt(TARGET_L4)}/s with 100 applicable policies: ${l4 >= TARGET_L4 ? 'met' : 'NOT met'} (${fmt(l4)}/s)`,
    );
    notes.push(
      `L7 target ≥ ${fmt(TARGET_L7)}/s with 100 applicable policies: ${l7 >= TARGET_L7 ? 'met' : 'NOT met'} (${fmt(l7)}/s)`,
    );
  }
}
const worst = await ztunnelRow(100, 'ztunnel (L4), unindexable', true);
notes.push(
  `worst case for the rule index (rules matching only principal suffixes, namespace prefixes and IP blocks; 100 on the target): ${fmt(worst)}/s${worst >= TARGET_L4 ? '' : ', below the L4 target'}`,
  `one core, medians of ${runs} runs of ${seconds}s each; requests rotate over 4 prepared connections/requests (allowed by the last ALLOW policy, or denied after every policy was tried)`,
  "compiled scan: the engine's compiled policies of the target evaluated in order without the rule index (authorizeByScan): what the index buys",
  'linear scan (baseline): unindexed scan over all policies of the mesh, interpreting policy data per decision (bench/authz/baseline.ts)',
  'before measuring, the engine, the compiled scan and the linear scan must agree on every prepared request',
  'the rule index files rules under an exact principal, a namespace (exact, a service account, or pinned by a principal prefix/suffix) or a port; other rules are checked for every connection',
  'compile ms: validating and compiling all 10,000 resources for both enforcement points (createAuthorizer)',
  `node ${process.version}`,
);
publish({
  name: 'authz',
  title: 'authz: decisions per second (one core)',
  columns: [
    'enforcement point',
    'policies on target',
    'resolved',
    'in mesh',
    'engine /s',
    'compiled scan /s',
    'linear scan /s',
    'engine / linear',
    'compile ms',
  ],
  rows,
  notes,
});
