// pnpm -s bench istiod [--runs 3] [--pods 5000] [--services 1000] [--policies 500] [--subscribers 50]
//                      [--changes 100] [--csr-seconds 3] [--csr-concurrency 32] [--config-debounce 10ms]
//
// The built istiod (apps/istiod/bin/istiod.mjs) as its own process, over a config directory of 5,000 pods,
// 1,000 services and 500 policies, with 50 delta subscribers (XdsClients as ztunnel: TLS on 15012 with a token) in
// two other processes:
// - startup: from spawning istiod until every subscriber holds the full state (all Addresses and Authorizations);
// - one-pod change: from rewriting the pod's file until every subscriber has its new version (file watch + debounce +
//   index + push + decode), p50/p99 over --changes sequential changes;
// - CSRs signed per second over gRPC with authentication (token verification, CSR checks, signing, TLS), with the
//   same-run references: @mesh/ca signing in-process, and the CA service's handler (authentication + signing)
//   in-process without gRPC;
// - istiod's RSS: idle after startup with 50 subscribers, and the peak.
// Targets (issue 9): startup < 5 s, change p99 < 100 ms, >= 1,000 CSRs/s, RSS < 400 MB.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CertificateAuthority,
  loadTokenSigningKey,
  readTokenPublicKeys,
  signServiceAccountToken,
  TOKEN_KEY_FILES,
} from '@mesh/ca';
import { bearerJwtAuthenticator, createIstioCaService } from '@mesh/ca/grpc';
import { createCertificateRequest, generatePrivateKey } from '@mesh/spiffe';
import { cpuSeconds, rssMiB, waitForMessage, type Message } from '../harness/proc.ts';
import { publish } from '../harness/report.ts';
import { measureRate, median, percentile } from '../harness/stats.ts';
import { writeMesh } from './config.ts';

const here = dirname(fileURLToPath(import.meta.url));
const istiodBin = join(here, '..', '..', 'apps', 'istiod', 'bin', 'istiod.mjs');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    pods: { type: 'string', default: '5000' },
    services: { type: 'string', default: '1000' },
    policies: { type: 'string', default: '500' },
    namespaces: { type: 'string', default: '50' },
    subscribers: { type: 'string', default: '50' },
    changes: { type: 'string', default: '100' },
    'csr-seconds': { type: 'string', default: '3' },
    'csr-concurrency': { type: 'string', default: '32' },
    'config-debounce': { type: 'string', default: '10ms' },
    modes: { type: 'string', default: 'client,light' },
  },
});
const size = {
  pods: Number(values.pods),
  services: Number(values.services),
  policies: Number(values.policies),
  namespaces: Number(values.namespaces),
  nodes: 50,
};
const runs = Number(values.runs);
const subscribers = Number(values.subscribers);
const changes = Number(values.changes);
const csrSeconds = Number(values['csr-seconds']);
const csrConcurrency = Number(values['csr-concurrency']);
const modes = values.modes.split(',') as Mode[];
type Mode = 'client' | 'light';

if (!existsSync(join(here, '..', '..', 'apps', 'istiod', 'dist', 'main.js'))) {
  console.error('build istiod first: pnpm exec nx run @mesh/app-istiod:build');
  process.exit(1);
}

const now = () => performance.timeOrigin + performance.now();

interface Trial {
  startupMs: number;
  indexMs: number;
  readyMs: number;
  p50: number;
  p99: number;
  max: number;
  csrPerSecond: number;
  csrPerCpuSecond: number;
  csrFailed: number;
  idleRss: number;
  peakRss: number;
  /** istiod's log of its first full push: loadMs (files), indexMs, ztunnelMs, waypointsMs, grpcMs. */
  breakdown: Record<string, number>;
}

async function trial(run: number, mode: Mode): Promise<Trial> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-istiod-'));
  const configDir = join(dir, 'config');
  const caDir = join(dir, 'ca');
  const change = await writeMesh(configDir, size);
  // The CA directory and its token key exist before istiod starts, so tokens can be made up front.
  const key = await loadTokenSigningKey({ dir: caDir, create: true });
  const token = signServiceAccountToken(key, {
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    ttlMs: 3_600_000,
  });
  const csrToken = signServiceAccountToken(key, { namespace: 'ns-0', serviceAccount: 'sa-0', ttlMs: 3_600_000 });
  const forkOptions = {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[],
  };
  const subs: ChildProcess[] = [];
  let istiod: ChildProcess | undefined;
  let peakRss = 0;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const started = now();
    istiod = spawn(
      process.execPath,
      [
        istiodBin,
        '--config-dir',
        configDir,
        '--ca-dir',
        caDir,
        '--grpc-addr',
        'off',
        '--secure-grpc-addr',
        '127.0.0.1:0',
        '--monitoring-addr',
        '127.0.0.1:0',
        '--config-debounce',
        values['config-debounce'],
        '--log-level',
        'info',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, rssMiB(istiod!.pid!));
      } catch {
        // exited
      }
    }, 20);
    const log: Record<string, unknown>[] = [];
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
      let buffer = '';
      istiod!.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
          const line = JSON.parse(buffer.slice(0, i)) as Record<string, unknown>;
          buffer = buffer.slice(i + 1);
          log.push(line);
          if (line.msg === 'istiod ready') resolve({ ...line, at: now() });
        }
      });
      istiod!.once('exit', (code) => reject(new Error(`istiod exited (${code})`)));
    });
    const readyLine = await ready;
    const indexed = log.find((l) => l.msg === 'first full config indexed and served');
    const address = `127.0.0.1:${readyLine.secureGrpc as number}`;
    const expected = size.pods + size.services + size.policies;
    const perProcess = Math.ceil(subscribers / 2);
    for (let p = 0; p < 2; p++) {
      const count = Math.min(perProcess, subscribers - p * perProcess);
      const child = fork(
        join(here, 'subscribers.ts'),
        [address, String(count), String(p * perProcess), join(caDir, 'root-cert.pem'), token, String(expected), mode],
        forkOptions,
      );
      subs.push(child);
    }
    await Promise.all(subs.map((c) => waitForMessage(c, (m) => m === 'loaded', 'the subscribers to load')));
    // Startup: istiod's own start (to ready) plus the initial push to every subscriber, measured from when the
    // subscribers start connecting (so their process start-up is not counted).
    let full = 0;
    let connectStart = 0;
    const lastSeen = new Map<number, string>();
    let onSeen: ((i: number) => void) | undefined;
    const allFull = new Promise<number>((resolve, reject) => {
      setTimeout(
        () => reject(new Error(`only ${full} of ${subscribers} subscribers got the full state in 120 s`)),
        120_000,
      ).unref();
      for (const child of subs)
        child.on('message', (m: Message | string) => {
          if (typeof m !== 'object') return;
          if (m.event === 'full' && ++full === subscribers) resolve(m.at as number);
          if (m.event === 'seen') {
            lastSeen.set(m.i as number, m.version as string);
            onSeen?.(m.i as number);
          }
        });
    });
    connectStart = now();
    for (const child of subs) child.send('go');
    const fullAt = await allFull;
    const startupMs = (readyLine.at as number) - started + (fullAt - connectStart);
    const idleRss = rssMiB(istiod.pid!);

    // One-pod changes, one at a time: until every subscriber holds a new version of the pod.
    const samples: number[] = [];
    for (let rev = 1; rev <= changes; rev++) {
      const before = new Map(lastSeen);
      const pending = new Set(Array.from({ length: subscribers }, (_, i) => i));
      const done = new Promise<number>((resolve) => {
        onSeen = (i) => {
          if (lastSeen.get(i) !== before.get(i)) pending.delete(i);
          if (pending.size === 0) resolve(now());
        };
      });
      const at = now();
      await change(rev);
      samples.push((await done) - at);
    }
    onSeen = undefined;

    // CSR throughput over gRPC with authentication, in a separate client process.
    const cpu0 = cpuSeconds(istiod.pid!);
    const csr = fork(
      join(here, 'csr.ts'),
      [address, join(caDir, 'root-cert.pem'), csrToken, String(csrSeconds), String(csrConcurrency)],
      forkOptions,
    );
    await waitForMessage(csr, (m) => m === 'loaded', 'the CSR client to load');
    const result = waitForMessage(csr, (m) => typeof m === 'object' && m.event === 'csr', 'the CSR load', 60_000);
    csr.send('go');
    const { done, failed, seconds } = (await result) as unknown as { done: number; failed: number; seconds: number };
    const cpu = cpuSeconds(istiod.pid!) - cpu0;
    const trialResult: Trial = {
      startupMs,
      indexMs: Number(indexed?.ms ?? Number.NaN),
      readyMs: (readyLine.at as number) - started,
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      max: Math.max(...samples),
      csrPerSecond: done / seconds,
      csrPerCpuSecond: done / cpu,
      csrFailed: failed,
      idleRss,
      peakRss,
      breakdown: Object.fromEntries(
        ['loadMs', 'indexMs', 'ztunnelMs', 'waypointsMs', 'grpcMs'].map((k) => [k, Number(indexed?.[k] ?? Number.NaN)]),
      ),
    };
    process.stderr.write(
      `run ${run} (${mode} subscribers): startup ${startupMs.toFixed(0)} ms (ready ${trialResult.readyMs.toFixed(0)} ms, index ${trialResult.indexMs} ms), ` +
        `change p50 ${trialResult.p50.toFixed(1)} p99 ${trialResult.p99.toFixed(1)} ms, ` +
        `${trialResult.csrPerSecond.toFixed(0)} CSR/s (${failed} failed), RSS idle ${idleRss.toFixed(0)} peak ${peakRss.toFixed(0)} MiB\n`,
    );
    return trialResult;
  } finally {
    clearInterval(sampler);
    await Promise.all(
      subs
        .filter((c) => c.exitCode === null)
        .map((c) => {
          c.send('stop');
          return waitForMessage(c, (m) => m === 'stopped', 'the subscribers to stop', 10_000).catch(() => c.kill());
        }),
    );
    if (istiod && istiod.exitCode === null) {
      const exited = new Promise((resolve) => istiod!.once('exit', resolve));
      istiod.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** Same-run references in this process: raw signing, and the CA service's handler (token auth + signing). */
async function references() {
  const ca = CertificateAuthority.selfSigned();
  const csr = createCertificateRequest({
    privateKey: generatePrivateKey(),
    uris: ['spiffe://cluster.local/ns/a/sa/b'],
  }).toPem();
  const sign = await measureRate(() => ca.sign({ csr, identity: 'spiffe://cluster.local/ns/a/sa/b' }), { seconds: 2 });
  const dir = await mkdtemp(join(tmpdir(), 'bench-istiod-ref-'));
  try {
    const key = await loadTokenSigningKey({ dir, create: true });
    const jwks = await readTokenPublicKeys({ file: join(dir, TOKEN_KEY_FILES.publicKeys) });
    const service = createIstioCaService({ ca, authenticators: [bearerJwtAuthenticator({ jwks })] });
    const token = signServiceAccountToken(key, { namespace: 'a', serviceAccount: 'b' });
    const metadata = new Map([['authorization', [`Bearer ${token}`]]]);
    const handled = await measureRate(
      () => service.handle({ csr, validityDuration: 0, metadata: undefined } as never, { metadata }),
      {
        seconds: 2,
      },
    );
    return { sign: sign.rate, handled: handled.rate };
  } finally {
    ca.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const results = new Map<Mode, Trial[]>(modes.map((m) => [m, []]));
for (let run = 1; run <= runs; run++) for (const mode of modes) results.get(mode)!.push(await trial(run, mode));
const ref = await references();
const all = [...results.values()].flat();
type Numeric = Exclude<keyof Trial, 'breakdown'>;
const medOf = (trials: Trial[], field: Numeric) => median(trials.map((t) => t[field]));
const med = (field: Numeric) => medOf(all, field);
const medMode = (mode: Mode, field: Numeric) => medOf(results.get(mode)!, field);
const label = { client: 'XdsClient subscribers', light: 'light subscribers' };
const readyBreakdown = Object.fromEntries(
  Object.keys(all[0]?.breakdown ?? {}).map((k) => [k, median(all.map((t) => t.breakdown[k]!))]),
);
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
const rows = [
  ...modes.flatMap((mode) => [
    [
      `startup to first full push, ${label[mode]} (ms)`,
      medMode(mode, 'startupMs'),
      '< 5,000',
      verdict(medMode(mode, 'startupMs') < 5_000),
    ],
    [`one-pod change to all, ${label[mode]}, p50 (ms)`, medMode(mode, 'p50'), '', ''],
    [
      `one-pod change to all, ${label[mode]}, p99 (ms)`,
      medMode(mode, 'p99'),
      '< 100',
      verdict(medMode(mode, 'p99') < 100),
    ],
  ]),
  ['  istiod process start to ready (ms)', med('readyMs'), '', ''],
  ['  first full index and resources (ms)', med('indexMs'), '', ''],
  [
    'CSRs signed per second (gRPC, TLS, token auth)',
    med('csrPerSecond'),
    '>= 1,000',
    verdict(med('csrPerSecond') >= 1_000),
  ],
  ['  per istiod CPU second', med('csrPerCpuSecond'), '', ''],
  ['  reference: @mesh/ca sign() in-process (/s)', ref.sign, '', ''],
  ['  reference: CA service handler (auth + sign) in-process (/s)', ref.handled, '', ''],
  ['istiod RSS with 50 subscribers, idle (MiB)', med('idleRss'), '', ''],
  ['istiod RSS peak (MiB)', med('peakRss'), '< 400 MB (381 MiB)', verdict(med('peakRss') * 1.048576 < 400)],
];
publish({
  name: 'istiod',
  title: `istiod: ${size.pods.toLocaleString('en-US')} pods / ${size.services.toLocaleString('en-US')} services / ${size.policies} policies from files, ${subscribers} delta subscribers (median of ${runs} runs)`,
  columns: ['measure', 'value', 'target', 'verdict'],
  rows,
  notes: [
    ...modes.map(
      (mode) =>
        `per run, ${label[mode]} (startup ms / change p99 ms / CSR/s / peak RSS MiB): ${results
          .get(mode)!
          .map(
            (t) => `${t.startupMs.toFixed(0)}/${t.p99.toFixed(1)}/${t.csrPerSecond.toFixed(0)}/${t.peakRss.toFixed(0)}`,
          )
          .join(', ')}`,
    ),
    `subscribers (2 processes, TLS + token on the secure port, wildcard Address + Authorization): XdsClient = @mesh/xds's client as ztunnel uses it (every resource decoded and validated); light = a bare gRPC stream that decodes the response frame and ACKs. Startup = istiod spawn to ready, plus subscribers connecting until the last holds all ${(size.pods + size.services + size.policies).toLocaleString('en-US')} resources`,
    `istiod's own breakdown of the first full push (median): ${JSON.stringify(readyBreakdown)}`,
    `change: rewrite of one pod's file until all ${subscribers} subscribers hold its new version; istiod ran with --config-debounce ${values['config-debounce']} (default 100ms adds up to that much) and the default push debounce (10 ms quiet, 100 ms max); ${changes} changes per run`,
    `CSR: ${csrConcurrency} concurrent CreateCertificate calls for ${csrSeconds} s from one client process, CSRs (P-256) made up front; failed calls per run: ${all.map((t) => t.csrFailed).join(', ')}`,
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores (shared machine; istiod, the subscribers and the CSR client share them)`,
  ],
});
