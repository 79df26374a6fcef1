// pnpm -s bench xds [--runs 3] [--resources 10000] [--subscribers 50] [--changes 200] [--debounce 10]
//                   [--subscriber-processes 2] [--modes client,light] [--concurrency 8]
//
// 10,000 istio.workload.Address resources to 50 delta xDS subscribers on loopback:
// - time until every subscriber ACKed the initial push (from the moment they start connecting);
// - time for a single-resource change to reach all 50 (until the last ACK of the push carrying it): p50 / p99;
// - the server process's RSS (peak and after the run) and CPU.
// Measured for @mesh/xds's XdsServer and, in the same run, for the floor: bare @grpc/grpc-js streams writing frames
// encoded once up front, with no bookkeeping. Subscribers (@mesh/xds clients, as ztunnel) run in other processes
// (spread over --subscriber-processes, as ztunnels are spread over nodes), so the server's memory is its own. Targets: < 2 s, < 50 ms, < 300 MB.
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { cpuSeconds, rssMiB, waitForMessage, type Message } from '../harness/proc.ts';
import { publish } from '../harness/report.ts';
import { median, percentile } from '../harness/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    resources: { type: 'string', default: '10000' },
    subscribers: { type: 'string', default: '50' },
    changes: { type: 'string', default: '200' },
    debounce: { type: 'string', default: '10' },
    'subscriber-processes': { type: 'string', default: '2' },
    modes: { type: 'string', default: 'client,light' },
    concurrency: { type: 'string', default: '8' },
  },
});
const runs = Number(values.runs);
const resources = Number(values.resources);
const subscribers = Number(values.subscribers);
const changes = Number(values.changes);
const debounce = Number(values.debounce);
const subscriberProcesses = Number(values['subscriber-processes']);
const modes = values.modes.split(',') as Mode[];
const concurrency = Number(values.concurrency);

type Mode = 'client' | 'light';
type System = 'mesh' | 'raw';

const event = (name: string) => (m: Message | string) => typeof m === 'object' && m.event === name;

interface Trial {
  idleRss: number;
  initialMs: number;
  p50: number;
  p99: number;
  max: number;
  peakRss: number;
  endRss: number;
  serverCpuInitial: number;
  serverCpuChanges: number;
  subscriberRss: number;
}

async function trial(system: System, mode: Mode): Promise<Trial> {
  const options = { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as const };
  const args = [system, String(resources), String(subscribers), String(debounce), String(concurrency)];
  const server = fork(join(here, 'server.ts'), args, {
    ...options,
    stdio: [...options.stdio],
  });
  const subs: ChildProcess[] = [];
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMiB(server.pid!));
    } catch {
      // exited
    }
  }, 20);
  try {
    const { address } = await waitForMessage(server, event('listening'), 'the server');
    const idleRss = rssMiB(server.pid!);
    for (let p = 0; p < subscriberProcesses; p++) {
      const from = Math.floor((p * subscribers) / subscriberProcesses);
      const to = Math.floor(((p + 1) * subscribers) / subscriberProcesses);
      const child = fork(join(here, 'subscribers.ts'), [address as string, String(to - from), String(from), mode], {
        ...options,
        stdio: [...options.stdio],
      });
      subs.push(child);
    }
    await Promise.all(subs.map((child) => waitForMessage(child, (m) => m === 'loaded', 'the subscribers to load')));
    const cpu0 = cpuSeconds(server.pid!);
    const armed = waitForMessage(server, event('armed'), 'the server to arm');
    const initial = waitForMessage(server, event('initial'), 'the initial push');
    server.send({ cmd: 'initial' });
    await armed;
    for (const child of subs) child.send('go');
    const { ms: initialMs } = await initial;
    const cpu1 = cpuSeconds(server.pid!);
    const subscriberRss = subs.reduce((sum, child) => sum + rssMiB(child.pid!), 0);
    const changed = waitForMessage(server, event('changes'), 'the changes');
    server.send({ cmd: 'changes', rounds: changes });
    const { samples } = (await changed) as unknown as { samples: number[] };
    const cpu2 = cpuSeconds(server.pid!);
    const endRss = rssMiB(server.pid!);
    peakRss = Math.max(peakRss, endRss);
    return {
      idleRss,
      initialMs: initialMs as number,
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      max: Math.max(...samples),
      peakRss,
      endRss,
      serverCpuInitial: cpu1 - cpu0,
      serverCpuChanges: cpu2 - cpu1,
      subscriberRss,
    };
  } finally {
    clearInterval(sampler);
    await Promise.all(
      subs
        .filter((child) => child.exitCode === null)
        .map((child) => {
          child.send('stop');
          return waitForMessage(child, (m) => m === 'stopped', 'the subscribers to stop', 10_000).catch(() =>
            child.kill(),
          );
        }),
    );
    if (server.exitCode === null) {
      server.send({ cmd: 'stop' });
      await waitForMessage(server, event('stopped'), 'the server to stop', 10_000).catch(() => server.kill());
    }
  }
}

const key = (system: System, mode: Mode) => `${system}/${mode}`;
const results = new Map<string, Trial[]>();
for (let run = 1; run <= runs; run++) {
  for (const mode of modes) {
    for (const system of ['mesh', 'raw'] as const) {
      const result = await trial(system, mode);
      results.set(key(system, mode), [...(results.get(key(system, mode)) ?? []), result]);
      process.stderr.write(
        `run ${run}/${runs} ${system} server, ${mode} subscribers: initial ${result.initialMs.toFixed(0)} ms, ` +
          `change p50 ${result.p50.toFixed(1)} ms p99 ${result.p99.toFixed(1)} ms, server RSS peak ${result.peakRss.toFixed(0)} MiB\n`,
      );
    }
  }
}

const med = (system: System, mode: Mode, field: keyof Trial) =>
  median((results.get(key(system, mode)) ?? []).map((r) => r[field]));
const fields: Array<keyof Trial> = [
  'initialMs',
  'p50',
  'p99',
  'max',
  'idleRss',
  'peakRss',
  'endRss',
  'serverCpuInitial',
  'serverCpuChanges',
];
const label = { mesh: '@mesh/xds XdsServer', raw: 'floor: raw grpc-js, frames pre-encoded' };
const rows = modes.flatMap((mode) => [
  [`${label.mesh}`, mode, ...fields.map((f) => med('mesh', mode, f))],
  [`${label.raw}`, mode, ...fields.map((f) => med('raw', mode, f))],
  ['  ratio @mesh/xds / floor', mode, ...fields.map((f) => med('mesh', mode, f) / med('raw', mode, f))],
]);
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
const targets = (mode: Mode) => {
  const initial = med('mesh', mode, 'initialMs');
  const p99 = med('mesh', mode, 'p99');
  const rss = med('mesh', mode, 'peakRss') * 1.048576;
  return `targets with ${mode} subscribers: initial < 2,000 ms (${verdict(initial < 2_000)}), change p99 < 50 ms (${verdict(p99 < 50)}), server RSS < 300 MB (${verdict(rss < 300)})`;
};
const perRun = (system: System, mode: Mode) =>
  (results.get(key(system, mode)) ?? [])
    .map((r) => `${r.initialMs.toFixed(0)}/${r.p99.toFixed(1)}/${r.peakRss.toFixed(0)}`)
    .join(', ');

publish({
  name: 'xds',
  title: `xDS: ${resources.toLocaleString('en-US')} istio.workload.Address to ${subscribers} delta subscribers (median of ${runs} runs, ${changes} single-resource changes per run)`,
  columns: [
    'server',
    'subscribers',
    'initial ACK ms',
    'change p50 ms',
    'change p99 ms',
    'change max ms',
    'RSS idle MiB',
    'RSS peak MiB',
    'RSS end MiB',
    'CPU s initial',
    'CPU s changes',
  ],
  rows,
  notes: [
    ...modes.map(targets),
    `XdsServer: debounce ${debounce} ms quiet period (default 10), maxConcurrentPushes ${concurrency} (default 8); the floor pushes at once and keeps no state`,
    'initial: from the subscribers starting to connect until the last ACK of a full push; change: from update() until the last ACK of the push carrying it (includes the debounce, the subscriber decoding and the ACK trip)',
    `subscribers: ${subscribers} in ${subscriberProcesses} process(es); client = @mesh/xds XdsClient (decodes and validates every Address, as ztunnel), light = bare gRPC stream that decodes the frame and ACKs`,
    ...modes.flatMap((mode) => [
      `per run, ${mode} subscribers (initial ms / p99 ms / RSS MiB): @mesh/xds ${perRun('mesh', mode)}; floor ${perRun('raw', mode)}`,
    ]),
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores (shared machine)`,
  ],
});
