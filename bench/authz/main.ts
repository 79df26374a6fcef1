// pnpm -s bench authz [--seconds 1] [--runs 3]
// Decisions per second on one core at ztunnel (L4) and at a waypoint (L7) with 10 / 100 / 1,000 policies applying to
// the target and 10,000 in the mesh; medians of several runs. Same-run reference: an unindexed linear scan (baseline.ts).
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

for (const n of sizes) {
  // --- ztunnel ---
  const mesh = l4Mesh(n);
  const built = performance.now();
  const authz = createAuthorizer({ resources: mesh.resources });
  const compileMs = performance.now() - built;
  const workload = { namespace: 'target', labels: { app: 'target' } };
  const wa = authz.ztunnel.forWorkload(workload);
  const applicable = wa.policies().length;
  const conns: Connection[] = mesh.principals.map((principal, i) => ({
    source: { principal, ip: `10.1.${i}.7` },
    destination: { ip: '10.2.0.9', port: 9090 },
  }));
  const decisions = conns.map((c) => wa.authorize(c).decision);
  let i = 0;
  const l4 = await rate(() => wa.authorize(conns[i++ & 3]!));
  let i2 = 0;
  const l4Scan = await rate(() => wa.authorizeByScan(conns[i2++ & 3]!));
  const all = authz.ztunnel.policies;
  const names = authz.ztunnel.workloadPolicies(workload);
  const plain = conns.map((c) => ({
    principal: c.source.principal,
    srcIp: c.source.ip,
    dstIp: c.destination.ip,
    port: c.destination.port,
  }));
  plain.forEach((c, k) => {
    if (linearL4(all, { namespace: 'target', policies: names }, c) !== decisions[k])
      throw new Error('L4 baseline disagrees');
  });
  let j = 0;
  const l4Base = await rate(() => linearL4(all, { namespace: 'target', policies: names }, plain[j++ & 3]!));
  rows.push([
    'ztunnel (L4)',
    n,
    applicable,
    all.length,
    Math.round(l4),
    Math.round(l4Scan),
    Math.round(l4Base),
    l4 / l4Base,
    Math.round(compileMs),
  ]);
  if (n === 100)
    notes.push(
      `L4 target ≥ ${TARGET_L4.toLocaleString('en-US')}/s with 100 applicable policies: ${l4 >= TARGET_L4 ? 'met' : 'NOT met'} (${Math.round(l4).toLocaleString('en-US')}/s)`,
    );

  // --- waypoint ---
  const mesh7 = l7Mesh(n);
  const built7 = performance.now();
  const authz7 = createAuthorizer({ resources: mesh7.resources });
  const compile7 = performance.now() - built7;
  const reqs: WaypointRequest[] = mesh7.principals.flatMap((principal) =>
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
  const decisions7 = reqs.map((r) => authz7.waypoint.authorize(r).decision);
  let k = 0;
  const l7 = await rate(() => authz7.waypoint.authorize(reqs[k++ & 3]!));
  let k2 = 0;
  const l7Scan = await rate(() => authz7.waypoint.authorizeByScan(reqs[k2++ & 3]!));
  const plain7 = reqs.map((r) => ({
    principal: r.source.principal,
    method: r.http!.method,
    host: r.http!.host,
    path: r.http!.path,
    headers: r.http!.headers as Record<string, string>,
  }));
  plain7.forEach((r, x) => {
    if (linearL7(authz7.authorizationPolicies, r) !== decisions7[x]) throw new Error('L7 baseline disagrees');
  });
  let m = 0;
  const l7Base = await rate(() => linearL7(authz7.authorizationPolicies, plain7[m++ & 3]!));
  rows.push([
    'waypoint (L7)',
    n,
    n,
    mesh7.resources.length,
    Math.round(l7),
    Math.round(l7Scan),
    Math.round(l7Base),
    l7 / l7Base,
    Math.round(compile7),
  ]);
  if (n === 100)
    notes.push(
      `L7 target ≥ ${TARGET_L7.toLocaleString('en-US')}/s with 100 applicable policies: ${l7 >= TARGET_L7 ? 'met' : 'NOT met'} (${Math.round(l7).toLocaleString('en-US')}/s)`,
    );
}

notes.push(
  `one core, medians of ${runs} runs of ${seconds}s each; requests rotate over 4 prepared connections/requests (allowed by the last ALLOW policy, or denied after every policy was tried)`,
  "compiled scan: the engine's own compiled policies of the target evaluated in order without the rule index (authorizeByScan), i.e. what the per-workload rule index buys",
  'linear scan (baseline): unindexed scan over all policies of the mesh, interpreting policy data per decision (bench/authz/baseline.ts); it must agree with the engine on every prepared request',
  'the rule index files rules under an exact principal, namespace, service account or port; rules using only prefix/suffix/presence matches or IP blocks are checked for every connection, so meshes of such rules run closer to the compiled-scan column',
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
