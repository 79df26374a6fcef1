// meshctl up: the local mesh. istiod (file config from --config) and one ztunnel per Node object run as supervised
// child processes of the built programs; meshctl creates their CA directory and ztunnel tokens in a state directory,
// prints progress, then a table of nodes/pods/identities and a line with `mesh ready`, and runs until SIGINT/SIGTERM.
import { existsSync, statSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { loadTokenSigningKey, signServiceAccountToken } from '@mesh/ca';
import { formatIssue, listConfigFiles, loadFiles } from '@mesh/config';
import { MeshctlError } from '../errors.js';
import type { CommandIO } from '../io.js';
import { renderTable } from '../output.js';
import { defaultProviders, planMesh, type MeshPlan, type UpAddresses, type UpPaths } from '../up/plan.js';
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
      'run the local mesh: istiod with the config directory and one ztunnel per Node object, until Ctrl-C (editing the directory takes effect live)',
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
    .action(async (flags: UpFlags) => {
      await runUp(flags, io);
    });
}

async function runUp(flags: UpFlags, io: CommandIO): Promise<void> {
  const configDir = resolve(flags.config);
  if (!existsSync(configDir) || !statSync(configDir).isDirectory())
    throw new MeshctlError('ERR_MESHCTL_READ_FAILED', `--config ${flags.config} is not a directory`);
  const stateDir = resolve(flags.stateDir ?? join(dirname(configDir), '.mesh', basename(configDir)));
  // Progress goes to stderr when stdout carries the JSON summary.
  const say = flags.output === 'json' ? io.stderr : io.stdout;
  const paths: UpPaths = {
    configDir,
    caDir: join(stateDir, 'ca'),
    tokenFile: (node) => join(stateDir, 'tokens', `ztunnel-${node}.jwt`),
    logFile: (name) => join(stateDir, 'logs', `${name.replace(/\//g, '-')}.log`),
    istiodBin: flags.istiodBin ?? findAppBin('istiod'),
    ztunnelBin: flags.ztunnelBin ?? findAppBin('ztunnel'),
  };
  const addr: UpAddresses = {
    grpc: flags.grpcAddr,
    secureGrpc: connectable(flags.secureGrpcAddr),
    monitoring: flags.monitoringAddr,
  };
  const options = { logLevel: flags.logLevel, certTtl: flags.certTtl, drainTimeout: flags.drainTimeout };
  for (const d of ['ca', 'tokens', 'logs']) await mkdir(join(stateDir, d), { recursive: true });

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
  };
  await writeTokens(plan);

  const supervisor = new Supervisor();
  let ready = false;
  supervisor.on('state', (s: ProcessStatus) => {
    if (s.state === 'starting') say(`  ${s.name.padEnd(22)} starting${s.restarts ? ` (restart ${s.restarts})` : ''}\n`);
    else if (s.state === 'ready') say(`  ${s.name.padEnd(22)} ready${s.pid ? ` (pid ${s.pid})` : ''}\n`);
    else if (s.state === 'restarting')
      say(`  ${s.name.padEnd(22)} exited (${s.lastExit?.signal ?? s.lastExit?.code}); restarting\n`);
    else if (s.state === 'stopped' && ready) say(`  ${s.name.padEnd(22)} stopped\n`);
  });
  const specs = (p: MeshPlan) => defaultProviders.flatMap((provider) => provider(p, paths, addr, options));

  const stop = async () => {
    say('stopping: ztunnels drain, then istiod\n');
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
  } catch (error) {
    await stop();
    throw new MeshctlError('ERR_MESHCTL_UP_FAILED', `the mesh did not start: ${(error as Error).message}`, {
      cause: error,
    });
  }
  ready = true;
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
    for (const n of summary.nodes)
      io.stdout(
        `  ${n.name} (${n.ip}): admin http://${n.ip}:15000/config_dump  metrics http://${n.ip}:15020/metrics\n`,
      );
    io.stdout(`  istiod: http://${connectable(addr.monitoring)}/debug  logs: ${join(stateDir, 'logs')}\n`);
  }
  say(
    `✓ mesh ready: ${summary.nodes.length} node(s), ${summary.pods.filter((p) => p.identity).length} pod(s) in the mesh. Ctrl-C stops it.\n`,
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
        if (JSON.stringify(p.nodes) === JSON.stringify(plan.nodes)) return;
        plan = p;
        await writeTokens(plan);
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
    istiod: { ...addr, pid: byName.get('istiod')?.pid },
    stateDir,
  };
}
