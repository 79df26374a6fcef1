// meshctl up: the local mesh. istiod (file config from --config) and one ztunnel per Node object run as supervised
// child processes of the built programs; meshctl creates their CA directory and ztunnel tokens in a state directory,
// prints progress, then a table of nodes/pods/identities and a line with `mesh ready`, and runs until SIGINT/SIGTERM.
import { existsSync, statSync } from 'node:fs';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { loadTokenSigningKey, signServiceAccountToken } from '@mesh/ca';
import { formatIssue, listConfigFiles, loadFiles } from '@mesh/config';
import { MeshctlError } from '../errors.js';
import type { CommandIO } from '../io.js';
import { renderTable } from '../output.js';
import {
  defaultProviders,
  planMesh,
  waypointObjects,
  type MeshPlan,
  type MeshWaypoint,
  type UpAddresses,
  type UpPaths,
} from '../up/plan.js';
import { defaultStateDir, removeUpState, writeUpState } from '../up/state.js';
import { Supervisor, type ProcessStatus } from '../up/supervisor.js';

interface UpFlags {
  config: string;
  stateDir?: string;
  grpcAddr: string;
  secureGrpcAddr: string;
  monitoringAddr: string;
  logLevel: string;
  certTtl?: string;
  drainTimeout: string;
  readyTimeout: string;
  output: 'table' | 'json';
  istiodBin?: string;
  ztunnelBin?: string;
  waypointBin?: string;
}

/** Finds apps/<name>/bin/<name>.mjs from wherever this module runs (dist/ bundle or src/ under vitest). */
export function findAppBin(name: string, from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    for (const candidate of [join(dir, 'apps', name, 'bin', `${name}.mjs`), join(dir, name, 'bin', `${name}.mjs`)])
      if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir)
      throw new MeshctlError('ERR_MESHCTL_UP_FAILED', `cannot find the ${name} program (apps/${name}/bin/${name}.mjs)`);
  }
}

const connectable = (addr: string) => addr.replace(/^(0\.0\.0\.0|\[::\]|):/, '127.0.0.1:');

const TOKEN_TTL_MS = 24 * 3_600_000;

function seconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new MeshctlError('ERR_MESHCTL_UP_FAILED', `--ready-timeout: ${JSON.stringify(text)} is not a duration`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

export function registerUp(program: Command, io: CommandIO): void {
  program
    .command('up')
    .description(
      'run the local mesh: istiod with the config directory, one ztunnel per Node object and one waypoint per Gateway of class istio-waypoint, until Ctrl-C (editing the directory takes effect live)',
    )
    .requiredOption(
      '--config <dir>',
      'config directory (Kubernetes/Istio YAML: Nodes, Namespaces, Pods, Services, policies)',
    )
    .option('--state-dir <dir>', 'CA, tokens and logs (default: .mesh/<config dir name> next to the config directory)')
    .option('--grpc-addr <addr>', "istiod's plaintext gRPC", '127.0.0.1:15010')
    .option('--secure-grpc-addr <addr>', "istiod's TLS gRPC (xDS and CA for the ztunnels)", '127.0.0.1:15012')
    .option('--monitoring-addr <addr>', "istiod's monitoring/debug HTTP", '127.0.0.1:15014')
    .addOption(
      // meshctl reads the children's info lines (`istiod ready`, `ztunnel ready`), so quieter levels are not offered.
      new Option('--log-level <level>', 'log level of istiod and the ztunnels')
        .choices(['trace', 'debug', 'info'])
        .default('info'),
    )
    .option('--cert-ttl <duration>', 'workload certificate lifetime the ztunnels request (default 24h)')
    .option('--drain-timeout <duration>', 'how long ztunnels drain connections on shutdown', '5s')
    .option('--ready-timeout <duration>', 'give up when the mesh is not ready within this time', '60s')
    .addOption(new Option('-o, --output <format>', 'summary when ready').choices(['table', 'json']).default('table'))
    .addOption(new Option('--istiod-bin <file>').hideHelp())
    .addOption(new Option('--ztunnel-bin <file>').hideHelp())
    .addOption(new Option('--waypoint-bin <file>').hideHelp())
    .action(async (flags: UpFlags) => {
      await runUp(flags, io);
    });
}

async function runUp(flags: UpFlags, io: CommandIO): Promise<void> {
  const configDir = resolve(flags.config);
  if (!existsSync(configDir) || !statSync(configDir).isDirectory())
    throw new MeshctlError('ERR_MESHCTL_READ_FAILED', `--config ${flags.config} is not a directory`);
  const stateDir = resolve(flags.stateDir ?? defaultStateDir(configDir));
  // Progress goes to stderr when stdout carries the JSON summary.
  const say = flags.output === 'json' ? io.stderr : io.stdout;
  const paths: UpPaths = {
    configDir,
    caDir: join(stateDir, 'ca'),
    tokenFile: (node) => join(stateDir, 'tokens', `ztunnel-${node}.jwt`),
    waypointTokenFile: (ns, name) => join(stateDir, 'tokens', `waypoint-${ns}-${name}.jwt`),
    logFile: (name) => join(stateDir, 'logs', `${name.replace(/\//g, '-')}.log`),
    generatedDir: join(stateDir, 'generated'),
    istiodBin: flags.istiodBin ?? findAppBin('istiod'),
    ztunnelBin: flags.ztunnelBin ?? findAppBin('ztunnel'),
    waypointBin: flags.waypointBin ?? findAppBin('waypoint'),
  };
  const addr: UpAddresses = {
    grpc: flags.grpcAddr,
    secureGrpc: connectable(flags.secureGrpcAddr),
    monitoring: flags.monitoringAddr,
  };
  const options = { logLevel: flags.logLevel, certTtl: flags.certTtl, drainTimeout: flags.drainTimeout };
  for (const d of ['ca', 'tokens', 'logs', 'generated']) await mkdir(join(stateDir, d), { recursive: true });

  const load = (): MeshPlan => {
    const { objects, issues } = loadFiles([configDir]);
    const plan = planMesh(objects);
    for (const i of issues) if (i.severity === 'error') plan.warnings.push(formatIssue(i));
    return plan;
  };
  let plan = load();
  say(`meshctl up: ${configDir}\n  state, CA, tokens and logs: ${stateDir}\n`);
  for (const w of plan.warnings) say(`  warning: ${w}\n`);
  if (plan.nodes.length === 0)
    say('  warning: no Node objects with an InternalIP in 127.0.0.0/8: istiod only, no ztunnel\n');

  const key = await loadTokenSigningKey({ dir: paths.caDir, create: true, signal: io.signal });
  const writeTokens = async (p: MeshPlan) => {
    for (const node of p.nodes) {
      const jwt = signServiceAccountToken(key, {
        namespace: 'istio-system',
        serviceAccount: 'ztunnel',
        node: { name: node.name },
        ttlMs: TOKEN_TTL_MS,
      });
      await writeFile(paths.tokenFile(node.name), `${jwt}\n`, { mode: 0o600 });
    }
    // A waypoint authenticates as its own service account (the Gateway's name), as Istio's waypoint deployment does.
    for (const w of p.waypoints) {
      const jwt = signServiceAccountToken(key, { namespace: w.namespace, serviceAccount: w.name, ttlMs: TOKEN_TTL_MS });
      await writeFile(paths.waypointTokenFile(w.namespace, w.name), `${jwt}\n`, { mode: 0o600 });
    }
  };
  await writeTokens(plan);

  const supervisor = new Supervisor();
  let ready = false;
  // The waypoint Pods and Services istiod reads from the generated directory; rewritten (atomically, one write at a
  // time) when a waypoint appears, goes or changes readiness, so ztunnels see a waypoint that is down as unhealthy.
  const generatedFile = join(paths.generatedDir, 'waypoints.yaml');
  let lastGenerated: string | undefined;
  let writing = Promise.resolve();
  const writeGenerated = () => {
    writing = writing.then(async () => {
      const states = new Map(supervisor.status().map((s) => [s.name, s.state]));
      const objects = waypointObjects(plan.waypoints, (w) => states.get(waypointName(w)) === 'ready');
      const text = objects.map((o) => stringify(o)).join('---\n');
      if (text === lastGenerated) return;
      lastGenerated = text;
      await writeFile(`${generatedFile}.tmp`, text);
      await rename(`${generatedFile}.tmp`, generatedFile);
    });
    return writing.catch((error: Error) => say(`  warning: cannot write ${generatedFile}: ${error.message}\n`));
  };
  await writeGenerated();
  supervisor.on('state', (s: ProcessStatus) => {
    if (s.state === 'starting') say(`  ${s.name.padEnd(22)} starting${s.restarts ? ` (restart ${s.restarts})` : ''}\n`);
    else if (s.state === 'ready') say(`  ${s.name.padEnd(22)} ready${s.pid ? ` (pid ${s.pid})` : ''}\n`);
    else if (s.state === 'restarting')
      say(
        `  ${s.name.padEnd(22)} exited (${s.lastExit?.signal ?? s.lastExit?.code}); restarting${
          s.name.startsWith('waypoint/')
            ? ` (until it is back, ztunnels refuse its traffic, never bypass it; log: ${paths.logFile(s.name)})`
            : ''
        }\n`,
      );
    else if (s.state === 'stopped' && ready) say(`  ${s.name.padEnd(22)} stopped\n`);
    if (s.name.startsWith('waypoint/')) void writeGenerated();
  });
  const specs = (p: MeshPlan) => defaultProviders.flatMap((provider) => provider(p, paths, addr, options));

  const publish = () =>
    writeUpState(stateDir, {
      pid: process.pid,
      configDir,
      waypoints: plan.waypoints.map((w) => ({
        namespace: w.namespace,
        name: w.name,
        address: `${w.ip}:15008`,
        admin: `http://${w.ip}:15000`,
      })),
    }).catch((error: Error) => say(`  warning: cannot write the mesh state: ${error.message}\n`));
  const stop = async () => {
    say('stopping: waypoints and ztunnels drain, then istiod\n');
    await removeUpState(stateDir).catch(() => {});
    await supervisor.close();
  };
  try {
    const timeoutMs = seconds(flags.readyTimeout);
    // Tier by tier: ztunnels need istiod's root certificate, which istiod writes when it starts.
    const all = specs(plan);
    for (const tier of [...new Set(all.map((s) => s.tier))].sort((a, b) => a - b)) {
      await supervisor.reconcile(all.filter((s) => s.tier <= tier));
      await Promise.all(all.filter((s) => s.tier === tier).map((s) => supervisor.waitReady(s.name, timeoutMs)));
    }
    // Ready means traffic flows through the waypoints: every ztunnel has seen each one healthy.
    await writeGenerated();
    await waitWaypointsSeen(plan, timeoutMs, io.signal);
  } catch (error) {
    await stop();
    throw new MeshctlError('ERR_MESHCTL_UP_FAILED', `the mesh did not start: ${(error as Error).message}`, {
      cause: error,
    });
  }
  ready = true;
  await publish();
  const summary = summarize(plan, supervisor.status(), addr, stateDir);
  if (flags.output === 'json') io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    io.stdout('\n');
    io.stdout(
      renderTable(summary.pods, [
        { header: 'NODE', value: (r) => r.node },
        { header: 'NAMESPACE', value: (r) => r.namespace },
        { header: 'POD', value: (r) => r.name },
        { header: 'POD IP', value: (r) => r.ip },
        { header: 'IDENTITY', value: (r) => r.identity ?? '(not in the mesh)' },
        { header: 'SOCKS5', value: (r) => r.socks5 },
      ]),
    );
    io.stdout('\n');
    if (summary.waypoints.length > 0) {
      io.stdout(
        renderTable(summary.waypoints, [
          { header: 'WAYPOINT', value: (r) => `${r.namespace}/${r.name}` },
          { header: 'ADDRESS', value: (r) => r.address },
          { header: 'IDENTITY', value: (r) => r.identity },
          { header: 'STATE', value: (r) => r.state },
        ]),
      );
      io.stdout('\n');
    }
    for (const n of summary.nodes)
      io.stdout(
        `  ${n.name} (${n.ip}): admin http://${n.ip}:15000/config_dump  metrics http://${n.ip}:15020/metrics\n`,
      );
    for (const w of summary.waypoints)
      io.stdout(`  waypoint ${w.namespace}/${w.name}: admin ${w.admin}/config_dump  metrics ${w.admin}/metrics\n`);
    io.stdout(`  istiod: http://${connectable(addr.monitoring)}/debug  logs: ${join(stateDir, 'logs')}\n`);
  }
  say(
    `✓ mesh ready: ${summary.nodes.length} node(s), ${summary.pods.filter((p) => p.identity).length} pod(s) in the mesh${summary.waypoints.length ? `, ${summary.waypoints.length} waypoint(s)` : ''}. Ctrl-C stops it.\n`,
  );

  // Live changes: istiod watches the directory itself; nodes added or removed here start or stop their ztunnel.
  let fingerprint = await dirFingerprint(configDir);
  const poll = setInterval(() => {
    void (async () => {
      const next = await dirFingerprint(configDir).catch(() => fingerprint);
      if (next === fingerprint) return;
      fingerprint = next;
      try {
        const p = load();
        if (
          JSON.stringify(p.nodes) === JSON.stringify(plan.nodes) &&
          JSON.stringify(p.waypoints) === JSON.stringify(plan.waypoints)
        )
          return;
        plan = p;
        await writeTokens(plan);
        await writeGenerated();
        await publish();
        await supervisor.reconcile(specs(plan));
      } catch (error) {
        say(`  warning: ${(error as Error).message}\n`);
      }
    })();
  }, 1_000);
  const tokenRefresh = setInterval(() => void writeTokens(plan).catch(() => {}), TOKEN_TTL_MS / 2);

  await new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    else io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  clearInterval(poll);
  clearInterval(tokenRefresh);
  await stop();
  say('stopped\n');
}

const waypointName = (w: MeshWaypoint) => `waypoint/${w.namespace}/${w.name}`;

/** Polls each ztunnel's config_dump until it has every waypoint's workload as Healthy. */
async function waitWaypointsSeen(plan: MeshPlan, timeoutMs: number, signal: AbortSignal): Promise<void> {
  if (plan.waypoints.length === 0) return;
  const end = Date.now() + timeoutMs;
  const missing = async (node: { name: string; ip: string }) => {
    const response = await fetch(`http://${node.ip}:15000/config_dump`, { signal: AbortSignal.timeout(2_000) });
    const dump = (await response.json()) as { workloads?: { workloadIps?: string[]; status?: string }[] };
    return plan.waypoints.filter(
      (w) => !dump.workloads?.some((x) => x.status === 'Healthy' && x.workloadIps?.includes(w.ip)),
    );
  };
  for (;;) {
    let waiting: string[] = [];
    for (const node of plan.nodes) {
      const m = await missing(node).catch(() => plan.waypoints);
      waiting.push(...m.map((w) => `ztunnel/${node.name} has not seen waypoint ${w.namespace}/${w.name} healthy`));
    }
    waiting = [...new Set(waiting)];
    if (waiting.length === 0) return;
    if (Date.now() > end || signal.aborted) throw new Error(waiting.join('; '));
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function dirFingerprint(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const f of listConfigFiles(dir)) {
    const s = await stat(f).catch(() => undefined);
    parts.push(`${f}:${s?.size}:${s?.mtimeMs}`);
  }
  return parts.join('|');
}

export interface UpSummary {
  nodes: { name: string; ip: string; pid: number | undefined }[];
  pods: { node: string; namespace: string; name: string; ip: string; identity: string | undefined; socks5: string }[];
  waypoints: {
    namespace: string;
    name: string;
    address: string;
    addressFrom: MeshWaypoint['addressFrom'];
    identity: string;
    admin: string;
    state: string;
    pid: number | undefined;
  }[];
  istiod: { grpc: string; secureGrpc: string; monitoring: string; pid: number | undefined };
  stateDir: string;
}

function summarize(plan: MeshPlan, status: ProcessStatus[], addr: UpAddresses, stateDir: string): UpSummary {
  const byName = new Map(status.map((s) => [s.name, s]));
  const meshPods = new Map<string, string>();
  for (const s of status) {
    const pods = (s.readyLine?.pods ?? []) as { uid: string; ip: string; identity: string }[];
    for (const p of pods) meshPods.set(p.ip, p.identity);
  }
  return {
    nodes: plan.nodes.map((n) => ({ ...n, pid: byName.get(`ztunnel/${n.name}`)?.pid })),
    pods: plan.pods
      .filter((p) => p.ip)
      .map((p) => ({
        node: p.node ?? '-',
        namespace: p.namespace,
        name: p.name,
        ip: p.ip!,
        identity: meshPods.get(p.ip!),
        socks5: meshPods.has(p.ip!) ? `${p.ip}:15080` : '-',
      })),
    waypoints: plan.waypoints.map((w) => ({
      namespace: w.namespace,
      name: w.name,
      address: `${w.ip}:15008`,
      addressFrom: w.addressFrom,
      identity: `spiffe://cluster.local/ns/${w.namespace}/sa/${w.name}`,
      admin: `http://${w.ip}:15000`,
      state: byName.get(waypointName(w))?.state ?? 'stopped',
      pid: byName.get(waypointName(w))?.pid,
    })),
    istiod: { ...addr, pid: byName.get('istiod')?.pid },
    stateDir,
  };
}
