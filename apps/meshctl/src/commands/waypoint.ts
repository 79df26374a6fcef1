// meshctl waypoint apply | list | status | delete: waypoint Gateways and `istio.io/use-waypoint` labels in a config
// directory, with istioctl's flags where they make sense (-n, --name, --for, --enroll-namespace, --overwrite, --all).
// `status` says for every Service, ServiceEntry, Namespace and workload that names a waypoint whether it is attached,
// and why not (the ambient index's verdict: missing Gateway, not a waypoint, attachment denied, wrong traffic type).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseAllDocuments, stringify } from 'yaml';
import { createSimulator, labels, type AmbientIndex, type WaypointProblem } from '@mesh/config';
import { MeshctlError } from '../errors.js';
import { defaultStateDir, readUpState, type UpState } from '../up/state.js';
import { writeOutputs } from '../files.js';
import type { CommandIO } from '../io.js';
import {
  addMeshOptions,
  addOutputOption,
  meshOptions,
  writeOutput,
  type MeshOptions,
  type OutputFormat,
} from '../output.js';

const TRAFFIC_TYPES = ['service', 'workload', 'all', 'none'];

interface Common extends MeshOptions {
  configDir: string;
  namespace: string;
  output: OutputFormat;
}

function loadIndex(o: Common): AmbientIndex {
  return createSimulator({ paths: [o.configDir], strict: false, ...meshOptions(o) }).index;
}

/** The waypoint Gateway istioctl writes: class istio-waypoint, one HBONE listener on 15008. */
/** A missing waypoint Gateway fails closed (ztunnel refuses the traffic), so status says so first. */
function problemReason(p: WaypointProblem): string {
  return p.kind === 'missing' ? `missing: traffic refused: ${p.message}` : `${p.kind}: ${p.message}`;
}

export function waypointGateway(options: { name: string; namespace: string; for?: string }): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: options.name,
      namespace: options.namespace,
      ...(options.for ? { labels: { [labels.WAYPOINT_FOR]: options.for } } : {}),
    },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  };
}

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    throw new MeshctlError('ERR_MESHCTL_READ_FAILED', `cannot read ${dir}: ${error.code ?? error.message}`);
  })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && !entry.name.startsWith('.')) out.push(...(await yamlFiles(path)));
    else if (/\.ya?ml$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

type Doc = ReturnType<typeof parseAllDocuments>[number];

/**
 * Edits the YAML documents of a config directory in place (comments and layout of untouched documents are kept):
 * `edit` returns 'keep', 'changed' or 'remove' per document. Returns the files it rewrote.
 */
async function editDocuments(
  dir: string,
  edit: (
    doc: Doc,
    object: { kind?: string; metadata?: { name?: string; namespace?: string } },
  ) => 'keep' | 'changed' | 'remove',
): Promise<string[]> {
  const changed: string[] = [];
  for (const file of await yamlFiles(dir)) {
    const text = await readFile(file, 'utf8');
    const docs = parseAllDocuments(text);
    if (!Array.isArray(docs)) continue;
    let dirty = false;
    const kept: Doc[] = [];
    for (const doc of docs) {
      const object = (doc.toJS() ?? {}) as { kind?: string; metadata?: { name?: string; namespace?: string } };
      const verdict = doc.errors.length ? 'keep' : edit(doc, object);
      if (verdict !== 'keep') dirty = true;
      if (verdict !== 'remove') kept.push(doc);
    }
    if (!dirty) continue;
    const out = kept
      .map((d) =>
        String(d)
          .replace(/^---\n/, '')
          .trimEnd(),
      )
      .filter((t) => t.length > 0);
    await writeFile(file, out.length ? `${out.join('\n---\n')}\n` : '');
    changed.push(file);
  }
  return changed;
}

const nsOf = (o: { metadata?: { namespace?: string } }) => o.metadata?.namespace ?? 'default';

export function registerWaypoint(program: Command, io: CommandIO): void {
  const waypoint = program
    .command('waypoint')
    .description('manage waypoints (the L7 proxies of ambient) and their attachment in a config directory');
  const common = (command: Command) =>
    addMeshOptions(
      addOutputOption(
        command
          .requiredOption('--config-dir <dir>', 'the mesh config directory (what istiod and meshctl up read)')
          .option('-n, --namespace <ns>', 'namespace of the waypoint', 'default'),
      ),
    );

  common(
    waypoint
      .command('apply')
      .description('create (or update) a waypoint Gateway, optionally enrolling its namespace')
      .option('--name <name>', 'name of the waypoint', 'waypoint')
      .option('--for <type>', `traffic the waypoint handles: ${TRAFFIC_TYPES.join(', ')} (Istio's default: service)`)
      .option('--enroll-namespace', 'label the namespace istio.io/use-waypoint=<name>')
      .option('--overwrite', 'replace an existing waypoint of that name'),
  ).action(async (o: Common & { name: string; for?: string; enrollNamespace?: boolean; overwrite?: boolean }) => {
    if (o.for !== undefined && !TRAFFIC_TYPES.includes(o.for))
      throw new MeshctlError('ERR_MESHCTL_INVALID_ARGUMENT', `--for must be one of ${TRAFFIC_TYPES.join(', ')}`);
    const index = loadIndex(o);
    const existing = index.gateway(o.namespace, o.name);
    const gateway = waypointGateway({ name: o.name, namespace: o.namespace, ...(o.for ? { for: o.for } : {}) });
    const file = join(o.configDir, 'waypoints', `${o.namespace}-${o.name}.yaml`);
    if (existing) {
      if (!o.overwrite)
        throw new MeshctlError(
          'ERR_MESHCTL_INVALID_ARGUMENT',
          `a Gateway ${o.namespace}/${o.name} already exists (pass --overwrite to replace it)`,
        );
      await editDocuments(o.configDir, (_doc, obj) =>
        obj.kind === 'Gateway' && obj.metadata?.name === o.name && nsOf(obj) === o.namespace ? 'remove' : 'keep',
      );
    }
    await writeOutputs([{ path: file, text: stringify(gateway) }], true);
    const enrolled: string[] = [];
    if (o.enrollNamespace) {
      const edited = await editDocuments(o.configDir, (doc, obj) => {
        if (obj.kind !== 'Namespace' || obj.metadata?.name !== o.namespace) return 'keep';
        doc.setIn(['metadata', 'labels', labels.USE_WAYPOINT], o.name);
        return 'changed';
      });
      if (edited.length === 0) {
        // No Namespace object yet: create one next to the waypoint (enrollment labels live on the Namespace).
        await writeOutputs(
          [
            {
              path: join(o.configDir, 'waypoints', `namespace-${o.namespace}.yaml`),
              text: stringify({
                apiVersion: 'v1',
                kind: 'Namespace',
                metadata: { name: o.namespace, labels: { [labels.USE_WAYPOINT]: o.name } },
              }),
            },
          ],
          true,
        );
      }
      enrolled.push(o.namespace);
    }
    const result = { waypoint: `${o.namespace}/${o.name}`, file, replaced: !!existing, enrolledNamespaces: enrolled };
    if (o.output === 'table')
      io.stdout(
        `waypoint ${o.namespace}/${o.name} ${existing ? 'replaced' : 'applied'} (${file})\n${enrolled.length ? `namespace ${o.namespace} labeled with "${labels.USE_WAYPOINT}: ${o.name}"\n` : ''}`,
      );
    else writeOutput(io, o.output, result);
  });

  common(
    waypoint
      .command('list')
      .description('list waypoints and what uses them')
      .option('-A, --all-namespaces', 'every namespace'),
  ).action((o: Common & { allNamespaces?: boolean }) => {
    const rows = loadIndex(o)
      .waypoints()
      .filter((w) => o.allNamespaces || w.namespace === o.namespace);
    writeOutput(
      io,
      o.output,
      {
        waypoints: rows.map((w) => ({
          namespace: w.namespace,
          name: w.name,
          for: w.trafficType,
          identity: w.identity,
          address: w.address,
          services: w.services,
          workloads: w.workloads,
        })),
      },
      {
        rows,
        columns: [
          { header: 'NAMESPACE', value: (w) => w.namespace },
          { header: 'NAME', value: (w) => w.name },
          { header: 'FOR', value: (w) => w.trafficType },
          { header: 'SERVICES', value: (w) => w.services.length },
          { header: 'WORKLOADS', value: (w) => w.workloads.length },
          { header: 'IDENTITY', value: (w) => w.identity },
        ],
      },
    );
  });

  common(
    waypoint
      .command('status')
      .description('for each Service, ServiceEntry, Namespace and workload that names a waypoint: attached or why not')
      .option('--name <name>', 'only what names this waypoint')
      .option('-A, --all-namespaces', 'every namespace')
      .option(
        '--state-dir <dir>',
        "meshctl up's state directory, to ask the running waypoints (default: .mesh/<config dir name> next to it)",
      ),
  ).action(async (o: Common & { name?: string; allNamespaces?: boolean; stateDir?: string }) => {
    const index = loadIndex(o);
    interface Row {
      kind: string;
      namespace: string;
      name: string;
      waypoint: string;
      attached: boolean;
      /** With `meshctl up` running: whether the waypoint's process answers ready; `-` without it. */
      proxy: string;
      reason: string;
    }
    const rows: Row[] = [];
    const label = (l: Readonly<Record<string, string>> | undefined) => l?.[labels.USE_WAYPOINT];
    for (const ns of index.objects('Namespace')) {
      const wanted = label(index.namespaceLabels(ns.name));
      if (!wanted || wanted === 'none') continue;
      const wpNs = index.namespaceLabels(ns.name)[labels.USE_WAYPOINT_NAMESPACE] ?? ns.name;
      const wp = index.waypoint(wpNs, wanted);
      rows.push({
        kind: 'Namespace',
        namespace: ns.name,
        name: ns.name,
        waypoint: `${wpNs}/${wanted}`,
        attached: !!wp,
        proxy: '-',
        reason: wp
          ? 'its services use the waypoint unless they opt out'
          : `missing: traffic refused: no waypoint Gateway ${wpNs}/${wanted}, so ztunnel refuses its services' traffic rather than bypass the waypoint`,
      });
    }
    for (const s of index.services()) {
      if (!s.waypoint && !s.waypointProblem) continue;
      rows.push({
        kind: s.kind,
        namespace: s.namespace,
        name: s.name,
        waypoint: s.waypoint
          ? `${s.waypoint.namespace}/${s.waypoint.name}`
          : `${s.waypointProblem!.waypoint.namespace}/${s.waypointProblem!.waypoint.name}`,
        attached: !!s.waypoint,
        proxy: '-',
        reason: s.waypoint
          ? 'attached: its traffic goes through the waypoint (L7 routing and policy apply)'
          : problemReason(s.waypointProblem!),
      });
    }
    for (const w of index.workloads()) {
      // Workloads show only when they name a waypoint themselves (inheriting a service waypoint is the norm).
      if (!(w.waypoint || w.waypointProblem?.via === 'object')) continue;
      if (w.waypointProblem && w.waypointProblem.via !== 'object') continue;
      const ref = w.waypoint ?? w.waypointProblem!.waypoint;
      rows.push({
        kind: w.kind,
        namespace: w.namespace,
        name: w.name,
        waypoint: `${ref.namespace}/${ref.name}`,
        attached: !!w.waypoint,
        proxy: '-',
        reason: w.waypoint
          ? 'attached: workload-addressed traffic goes through the waypoint'
          : problemReason(w.waypointProblem!),
      });
    }
    const shown = rows.filter(
      (r) =>
        (o.allNamespaces || r.namespace === o.namespace || r.waypoint.startsWith(`${o.namespace}/`)) &&
        (!o.name || r.waypoint.endsWith(`/${o.name}`)),
    );
    const up = await readUpState(o.stateDir ?? defaultStateDir(o.configDir));
    if (up) {
      const health = new Map<string, Promise<string>>();
      for (const r of shown)
        if (r.attached && !health.has(r.waypoint)) health.set(r.waypoint, proxyHealth(up, r.waypoint));
      for (const r of shown) {
        if (!r.attached) continue;
        r.proxy = await health.get(r.waypoint)!;
        if (r.proxy !== 'running')
          r.reason = `${r.reason}; but the waypoint is ${r.proxy}: ztunnels refuse this traffic (never bypass the waypoint) until it is back`;
      }
    }
    if (o.output === 'table' && shown.length === 0) {
      io.stdout(`nothing names a waypoint${o.allNamespaces ? '' : ` in namespace ${o.namespace}`}\n`);
      return;
    }
    writeOutput(
      io,
      o.output,
      { status: shown },
      {
        rows: shown,
        columns: [
          { header: 'KIND', value: (r) => r.kind },
          { header: 'NAMESPACE', value: (r) => r.namespace },
          { header: 'NAME', value: (r) => r.name },
          { header: 'WAYPOINT', value: (r) => r.waypoint },
          { header: 'ATTACHED', value: (r) => (r.attached ? 'yes' : 'NO') },
          // Only with a running `meshctl up` (otherwise there is no process to ask).
          ...(up ? [{ header: 'PROXY', value: (r: Row) => r.proxy }] : []),
          { header: 'REASON', value: (r) => r.reason },
        ],
      },
    );
  });

  common(
    waypoint
      .command('delete')
      .description('delete waypoint Gateways (labels that name them stay, and status reports them as missing)')
      .argument('[names...]', 'waypoint names')
      .option('--all', 'every waypoint in the namespace'),
  ).action(async (names: string[], o: Common & { all?: boolean }) => {
    const index = loadIndex(o);
    const targets = o.all
      ? index
          .waypoints()
          .filter((w) => w.namespace === o.namespace)
          .map((w) => w.name)
      : names.length
        ? names
        : ['waypoint'];
    const missing = targets.filter((n) => !index.waypoint(o.namespace, n));
    if (missing.length && !o.all)
      throw new MeshctlError(
        'ERR_MESHCTL_INVALID_ARGUMENT',
        `no waypoint ${missing.map((n) => `${o.namespace}/${n}`).join(', ')} in ${o.configDir}`,
      );
    const files = await editDocuments(o.configDir, (_doc, obj) =>
      obj.kind === 'Gateway' && nsOf(obj) === o.namespace && targets.includes(obj.metadata?.name ?? '')
        ? 'remove'
        : 'keep',
    );
    const after = loadIndex(o);
    const dangling = [
      ...after.services().filter((s) => s.waypointProblem?.kind === 'missing'),
      ...after
        .objects('Namespace')
        .filter((n) => targets.includes(after.namespaceLabels(n.name)[labels.USE_WAYPOINT] ?? '')),
    ].map(
      (x) =>
        `${'kind' in x ? x.kind : 'Namespace'} ${'namespace' in x && x.namespace ? `${x.namespace}/` : ''}${x.name}`,
    );
    const result = { deleted: targets.map((n) => `${o.namespace}/${n}`), files, stillLabelled: dangling };
    if (o.output === 'table')
      io.stdout(
        `${targets.map((n) => `waypoint ${o.namespace}/${n} deleted`).join('\n')}\n${dangling.length ? `still naming a deleted waypoint (their traffic is now refused, not sent around it): ${dangling.join(', ')}\n` : ''}`,
      );
    else writeOutput(io, o.output, result);
  });
}

/** Asks a waypoint that `meshctl up` runs whether it is ready (its admin `/ready`). */
async function proxyHealth(up: UpState, ref: string): Promise<string> {
  const w = up.waypoints.find((x) => `${x.namespace}/${x.name}` === ref);
  if (!w) return 'DOWN (meshctl up runs no process for it)';
  try {
    const response = await fetch(`${w.admin}/ready`, { signal: AbortSignal.timeout(2_000) });
    return response.ok ? 'running' : `DOWN (${w.admin}/ready answers ${response.status})`;
  } catch {
    return `DOWN (no answer on ${w.admin}; see meshctl up's log of it)`;
  }
}
