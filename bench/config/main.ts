// pnpm -s bench config [--runs 5] [--changes 2000]
// The ambient index at scale: 5,000 pods, 1,000 services, 500 AuthorizationPolicies and 200 VirtualServices generated
// into YAML files (50 namespaces). Each run is a fresh child process, so cold load and RSS are not flattered by an
// earlier run. Reported per run: parse + validate the files (the same-run reference: what any loader must do),
// building the index from the parsed objects, the sum (cold load), one-pod-change recompute p50/p99 over many
// changes (alternating a version-label change and an IP change of a random pod; each must report exactly that one Address),
// one-policy-change recompute (rebuilds the Authorization resources), and RSS after load. Medians of the runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRng } from '@mesh/core';
import { AmbientIndex, loadFiles, type ConfigEvent, type ConfigObject } from '@mesh/config';
import { publish } from '../harness/report.ts';
import { median, percentile } from '../harness/stats.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const NAMESPACES = 50;
const PODS = 5_000;
const SERVICES = 1_000;
const POLICIES = 500;
const ROUTES = 200;

interface Trial {
  parseMs: number;
  indexMs: number;
  changeP50Ms: number;
  changeP99Ms: number;
  policyP50Ms: number;
  policyP99Ms: number;
  rssMiB: number;
  addresses: number;
  authorizations: number;
}

/** Writes the world: per namespace one file per kind. */
function generate(dir: string): void {
  const perNs = (n: number) => n / NAMESPACES;
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns-${n}`;
    const d = join(dir, ns);
    mkdirSync(d, { recursive: true });
    const docs: string[] = [];
    docs.push(
      `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels: {istio.io/dataplane-mode: ambient${n % 5 === 0 ? ', istio.io/use-waypoint: waypoint' : ''}}\n`,
    );
    docs.push(
      `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: waypoint, namespace: ${ns}}\nspec:\n  gatewayClassName: istio-waypoint\n  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n`,
    );
    writeFileSync(join(d, 'namespace.yaml'), docs.join('---\n'));
    const services: string[] = [];
    for (let s = 0; s < perNs(SERVICES); s++)
      services.push(
        `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${s}, namespace: ${ns}, labels: {app: app-${s}}}\nspec:\n  selector: {app: app-${s}}\n  ports:\n  - {name: http, port: 80, targetPort: http}\n  - {name: grpc, port: 9090, targetPort: 9090}\n`,
      );
    writeFileSync(join(d, 'services.yaml'), services.join('---\n'));
    const pods: string[] = [];
    for (let p = 0; p < perNs(PODS); p++) {
      const app = p % perNs(SERVICES);
      pods.push(
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: app-${app}-${p}\n  namespace: ${ns}\n  labels: {app: app-${app}, version: v${p % 3}}\nspec:\n  nodeName: node-${p % 20}\n  serviceAccountName: sa-${app}\n  containers:\n  - name: main\n    ports: [{name: http, containerPort: 8080}]\nstatus:\n  podIP: 10.${n}.${Math.floor(p / 250)}.${p % 250}\n`,
      );
    }
    writeFileSync(join(d, 'pods.yaml'), pods.join('---\n'));
    const policies: string[] = [];
    for (let a = 0; a < perNs(POLICIES); a++)
      policies.push(
        `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-${a}, namespace: ${ns}}\nspec:\n  selector: {matchLabels: {app: app-${a}}}\n  rules:\n  - from: [{source: {principals: [cluster.local/ns/${ns}/sa/sa-${(a + 1) % perNs(SERVICES)}]}}]\n    to: [{operation: {ports: ["8080"]}}]\n`,
      );
    writeFileSync(join(d, 'policies.yaml'), policies.join('---\n'));
    const routes: string[] = [];
    for (let r = 0; r < perNs(ROUTES); r++)
      routes.push(
        `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: route-${r}, namespace: ${ns}}\nspec:\n  hosts: [svc-${r}]\n  http:\n  - match: [{headers: {x-canary: {exact: "1"}}}]\n    route: [{destination: {host: svc-${r}, subset: v2}}]\n  - route:\n    - {destination: {host: svc-${r}, subset: v0}, weight: 90}\n    - {destination: {host: svc-${r}, subset: v1}, weight: 10}\n`,
      );
    writeFileSync(join(d, 'routes.yaml'), routes.join('---\n'));
  }
}

function trial(dir: string, changes: number): Trial {
  const t0 = performance.now();
  const loaded = loadFiles([dir]);
  const t1 = performance.now();
  if (loaded.issues.some((i) => i.severity === 'error')) throw new Error('generated config has errors');
  const index = AmbientIndex.from(loaded.objects);
  const t2 = performance.now();
  const rss = process.memoryUsage().rss / 2 ** 20;
  const pods = loaded.objects.filter((o) => o.kind === 'Pod');
  const current = new Map(pods.map((p) => [p.key, p]));
  const rng = seededRng(42);
  const samples: number[] = [];
  for (let i = 0; i < changes; i++) {
    const key = pods[Math.floor(rng.next() * pods.length)]!.key;
    const previous = current.get(key)!;
    const r = previous.resource as { metadata: { labels: Record<string, string> }; status: { podIP: string } };
    const resource =
      i % 2 === 0
        ? { ...r, metadata: { ...r.metadata, labels: { ...r.metadata.labels, version: `r${i}` } } }
        : { ...r, status: { ...r.status, podIP: `10.200.${(i >> 8) & 255}.${i & 255}` } };
    const object = { ...previous, resource } as ConfigObject;
    current.set(key, object);
    const events: ConfigEvent[] = [{ type: 'updated', object, previous }];
    const s = performance.now();
    const out = index.apply(events);
    samples.push(performance.now() - s);
    if (out.addresses.updated.length !== 1)
      throw new Error(`a pod change reported ${out.addresses.updated.length} addresses`);
  }
  // One AuthorizationPolicy edit: rebuilds the Authorization resources and recomputes its namespace's workloads.
  const policies = loaded.objects.filter((o) => o.kind === 'AuthorizationPolicy');
  const policySamples: number[] = [];
  for (let i = 0; i < 100; i++) {
    const previous = policies[i % policies.length]!;
    const r = previous.resource as { spec: { rules: { to: unknown[] }[] } };
    const resource = {
      ...r,
      spec: { ...r.spec, rules: [{ ...r.spec.rules[0]!, to: [{ operation: { ports: [String(10_000 + i)] } }] }] },
    };
    const object = { ...previous, resource } as ConfigObject;
    policies[i % policies.length] = object;
    const s = performance.now();
    const out = index.apply([{ type: 'updated', object, previous }]);
    policySamples.push(performance.now() - s);
    if (out.authorizations.updated.length !== 1)
      throw new Error(`policy change ${i} updated ${out.authorizations.updated.length} Authorizations`);
  }
  return {
    policyP50Ms: percentile(policySamples, 50),
    policyP99Ms: percentile(policySamples, 99),
    parseMs: t1 - t0,
    indexMs: t2 - t1,
    changeP50Ms: percentile(samples, 50),
    changeP99Ms: percentile(samples, 99),
    rssMiB: rss,
    addresses: index.addresses().length,
    authorizations: index.authorizations().length,
  };
}

if (process.argv.includes('--child')) {
  const dir = process.argv[process.argv.indexOf('--child') + 1]!;
  process.stdout.write(JSON.stringify(trial(dir, arg('--changes', 2000))));
} else {
  const runs = arg('--runs', 5);
  const changes = arg('--changes', 2000);
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-config-'));
  try {
    generate(dir);
    const loadBefore = loadavg()[0]!;
    const trials: Trial[] = [];
    for (let run = 0; run < runs; run++) {
      const r = spawnSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), '--child', dir, '--changes', String(changes)],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      );
      if (r.status !== 0) throw new Error(`run ${run} failed: ${r.stderr}`);
      trials.push(JSON.parse(r.stdout) as Trial);
    }
    const m = (f: (t: Trial) => number) => median(trials.map(f));
    const cold = m((t) => t.parseMs + t.indexMs);
    const p99 = m((t) => t.changeP99Ms);
    const rss = m((t) => t.rssMiB);
    const round = (x: number, d = 1) => Number(x.toFixed(d));
    publish({
      name: 'config',
      title: `Ambient index: ${PODS.toLocaleString('en-US')} pods, ${SERVICES.toLocaleString('en-US')} services, ${POLICIES} policies, ${ROUTES} routes from ${NAMESPACES * 5} files (median of ${runs} runs, fresh process each)`,
      columns: ['measure', 'median', 'min', 'max', 'target'],
      rows: [
        [
          'parse + validate files (reference), ms',
          round(m((t) => t.parseMs)),
          round(Math.min(...trials.map((t) => t.parseMs))),
          round(Math.max(...trials.map((t) => t.parseMs))),
          null,
        ],
        [
          'build index, ms',
          round(m((t) => t.indexMs)),
          round(Math.min(...trials.map((t) => t.indexMs))),
          round(Math.max(...trials.map((t) => t.indexMs))),
          null,
        ],
        [
          'cold load (parse + index), ms',
          round(cold),
          round(Math.min(...trials.map((t) => t.parseMs + t.indexMs))),
          round(Math.max(...trials.map((t) => t.parseMs + t.indexMs))),
          '< 3,000',
        ],
        [
          `one-pod change p50, ms (${changes} changes)`,
          round(
            m((t) => t.changeP50Ms),
            3,
          ),
          round(Math.min(...trials.map((t) => t.changeP50Ms)), 3),
          round(Math.max(...trials.map((t) => t.changeP50Ms)), 3),
          null,
        ],
        [
          `one-pod change p99, ms (${changes} changes)`,
          round(p99, 3),
          round(Math.min(...trials.map((t) => t.changeP99Ms)), 3),
          round(Math.max(...trials.map((t) => t.changeP99Ms)), 3),
          '< 5',
        ],
        [
          'one-policy change p50, ms (100 changes)',
          round(
            m((t) => t.policyP50Ms),
            2,
          ),
          round(Math.min(...trials.map((t) => t.policyP50Ms)), 2),
          round(Math.max(...trials.map((t) => t.policyP50Ms)), 2),
          null,
        ],
        [
          'one-policy change p99, ms (100 changes)',
          round(
            m((t) => t.policyP99Ms),
            2,
          ),
          round(Math.min(...trials.map((t) => t.policyP99Ms)), 2),
          round(Math.max(...trials.map((t) => t.policyP99Ms)), 2),
          null,
        ],
        [
          'RSS after load, MiB',
          round(rss),
          round(Math.min(...trials.map((t) => t.rssMiB))),
          round(Math.max(...trials.map((t) => t.rssMiB))),
          '< 300',
        ],
      ],
      notes: [
        `Node ${process.version}; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after (shared machine)`,
        `outputs: ${trials[0]!.addresses.toLocaleString('en-US')} Address resources, ${trials[0]!.authorizations} Authorization resources`,
        `targets: cold load ${cold < 3000 ? 'met' : 'NOT met'}, one-pod change p99 ${p99 < 5 ? 'met' : 'NOT met'}, RSS ${rss < 300 ? 'met' : 'NOT met'}`,
        'no external peer computes the ambient index offline; the same-run reference is parsing + validating the files, which any loader must do',
      ],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
