#!/usr/bin/env node
// The README's main job: the local mesh with sample apps and a scripted tour. Starts the sample apps on their pod
// IPs, runs `meshctl up` on a copy of config/ (so edits during the demo never touch the repository), then shows
// requests through SOCKS5, mTLS identities from the access logs, an L4 DENY policy applied and removed live, and where
// to look; then a waypoint (the L7 proxy) in front of the backend: a 90/10 canary split and a fault written to the
// config directory and removed live. Leaves the mesh running until Ctrl-C; with CI=true or --exit it stops after the tour and exits 0 only if
// every step behaved as shown.
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { socksGet } from './socks.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const meshctl = join(root, 'apps', 'meshctl', 'bin', 'meshctl.mjs');
const exitAfter = process.argv.includes('--exit') || process.env.CI === 'true';
const state = join(here, '.mesh');
const config = join(state, 'config');
const hasCurl = spawnSync('curl', ['--version']).status === 0;

const SLEEP = '127.0.1.30:15080';
const FRONTEND = 'http://127.0.2.20/';
const BACKEND = 'http://127.0.2.10/';
const BACKEND_L7 = 'http://127.0.2.30/';
const CANARY_REQUESTS = 1000;
/** The canary: 90% to backend-v1, 10% to backend-v2; the response header tells the tour which version is live. */
const virtualService = (extra = '') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend-l7, namespace: demo}
spec:
  hosts: [backend-l7]
  http:
  - headers: {response: {set: {x-route: canary-90-10}}}${extra}
    route:
    - {destination: {host: backend-l7, subset: v1}, weight: 90}
    - {destination: {host: backend-l7, subset: v2}, weight: 10}
`;
const CANARY = virtualService();
const FAULT = virtualService(`
    fault: {abort: {percentage: {value: 100}, httpStatus: 503}}`);
const NODES = { 'node-a': '127.0.3.1', 'node-b': '127.0.3.2' };
const DENY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-frontend, namespace: demo}
spec:
  selector: {matchLabels: {app: backend}}
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/demo/sa/frontend"]}}]
`;

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const children = [];
const results = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(name, args, { quiet = false } = {}) {
  const child = spawn(process.execPath, args, { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    out += d;
    if (!quiet) process.stdout.write(d);
  });
  child.stderr.setEncoding('utf8').on('data', (d) => {
    out += d;
    process.stderr.write(d);
  });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const entry = { name, child, exited, output: () => out };
  children.push(entry);
  return entry;
}

/** One GET through a pod's SOCKS5 port: curl when present (the command is shown), else the Node SOCKS5 client. */
async function get(socks, url) {
  if (hasCurl) {
    const r = spawnSync('curl', ['-sS', '--max-time', '5', '-D', '-', '-w', '\n%{http_code}', '--socks5', socks, url], {
      encoding: 'utf8',
    });
    const lines = r.stdout.trimEnd().split('\n');
    const status = Number(lines.pop());
    const text = lines.join('\n');
    const split = text.indexOf('\r\n\r\n');
    return {
      status,
      headers: split >= 0 ? text.slice(0, split) : '',
      body: split >= 0 ? text.slice(split + 4) : text,
      error: r.status === 0 ? undefined : r.stderr.trim(),
    };
  }
  try {
    return await socksGet(socks, url);
  } catch (error) {
    return { status: 0, headers: '', body: '', error: error.message };
  }
}

/** `n` GETs: with curl, one process on kept-alive connections (URL globbing); the answers' bodies, counted. */
async function getMany(socks, url, n) {
  const seen = new Map();
  const count = (body) => seen.set(body.trim(), (seen.get(body.trim()) ?? 0) + 1);
  if (hasCurl) {
    const r = spawnSync('curl', ['-sS', '--max-time', '120', '-w', '\n', '--socks5', socks, `${url}[1-${n}]`], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    for (const line of r.stdout.split('\n').filter(Boolean)) count(line);
  } else
    for (let i = 1; i <= n; i++) {
      const r = await socksGet(socks, `${url}${i}`).catch((error) => ({ status: 0, body: error.message }));
      count(r.status === 200 ? r.body : `(${r.status || 'failed'}) ${r.body}`);
    }
  return seen;
}
const shown = (socks, url) =>
  hasCurl ? `curl --socks5 ${socks} ${url}` : `(Node SOCKS5 client) GET ${url} via ${socks}`;

async function step(title, run) {
  console.log(`\n${bold(`▸ ${title}`)}`);
  let ok = false;
  try {
    ok = await run();
  } catch (error) {
    console.log(`  error: ${error.message}`);
  }
  results.push({ title, ok });
  console.log(ok ? '  ✓ as expected' : '  ✗ NOT as expected');
}

async function until(check, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value || Date.now() > end) return value;
    await sleep(100);
  }
}

async function accessLog(node) {
  const text = await readFile(join(state, 'logs', `ztunnel-${node}.log`), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((l) => l.scope === 'access');
}

async function waypointLog() {
  const text = await readFile(join(state, 'logs', 'waypoint-demo-waypoint.log'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((l) => l.scope === 'access');
}

function showFile(file, text) {
  console.log(dim(`  $ cat > ${relative(process.cwd(), file)}`));
  for (const line of text.trimEnd().split('\n')) console.log(dim(`    ${line}`));
}

async function stopAll() {
  for (const c of [...children].reverse()) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGINT');
    await Promise.race([c.exited, sleep(20_000)]);
  }
}

let stopping = false;
const interrupted = new Promise((resolve) => {
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      resolve();
    });
});

async function main() {
  console.log(bold('mesh: the local ambient mesh demo'));
  await rm(config, { recursive: true, force: true });
  await mkdir(state, { recursive: true });
  await cp(join(here, 'config'), config, { recursive: true });
  console.log(`config: ${relative(process.cwd(), config)} (a copy of examples/local-mesh/config; edit it live)`);

  console.log('\nsample apps (plain Node processes on their pod IPs):');
  start('backend-v1', ['sample-app.mjs', '--name', 'backend-v1', '--listen', '127.0.1.10:8080']);
  start('backend-v2', ['sample-app.mjs', '--name', 'backend-v2', '--listen', '127.0.1.11:8080']);
  start('frontend-1', [
    'sample-app.mjs',
    '--name',
    'frontend-1',
    '--listen',
    '127.0.1.20:8080',
    '--call',
    BACKEND,
    '--socks',
    '127.0.1.20:15080',
  ]);
  await sleep(500);
  for (const c of children) if (c.child.exitCode !== null) throw new Error(`${c.name} did not start: ${c.output()}`);

  console.log('\n$ meshctl up --config', relative(process.cwd(), config));
  const up = start('meshctl up', [meshctl, 'up', '--config', config, '--state-dir', state]);
  const ready = await Promise.race([
    until(() => up.output().includes('mesh ready'), 90_000),
    up.exited.then(() => false),
  ]);
  if (!ready) throw new Error('meshctl up did not become ready');

  await step(
    `sleep-1 (node-a) calls the frontend Service; the frontend calls the backend Service through its own SOCKS5 port`,
    async () => {
      console.log(dim(`  $ ${shown(SLEEP, FRONTEND)}`));
      const r = await get(SLEEP, FRONTEND);
      console.log(`  ${r.body || r.error}`);
      return r.status === 200 && /^frontend-1 -> backend-v[12]$/.test(r.body.trim());
    },
  );

  await step('the backend Service balances over backend-v1 (node-a) and backend-v2 (node-b)', async () => {
    const seen = new Map();
    console.log(dim(`  $ ${shown(SLEEP, BACKEND)}   (repeated)`));
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const r = await get(SLEEP, BACKEND);
      if (r.status === 200) seen.set(r.body.trim(), (seen.get(r.body.trim()) ?? 0) + 1);
    }
    for (const [name, n] of seen) console.log(`  ${name}: ${n} answer(s)`);
    return seen.has('backend-v1') && seen.has('backend-v2');
  });

  await step('every hop is mutual TLS between SPIFFE identities (ztunnel access logs, inbound side)', async () => {
    await sleep(300);
    const pairs = new Map();
    for (const node of Object.keys(NODES))
      for (const l of await accessLog(node))
        if (l.msg === 'connection complete' && l.direction === 'inbound' && !l.error)
          pairs.set(
            `${l['src.identity']} → ${l['dst.identity']}`,
            `${node}: ${l['src.workload']} → ${l['dst.workload']} (${l['dst.service'] ?? l['dst.hbone_addr']})`,
          );
    for (const [pair, where] of pairs) console.log(`  ${pair}\n    ${dim(where)}`);
    const has = (from, to) =>
      [...pairs.keys()].some(
        (p) => p === `spiffe://cluster.local/ns/demo/sa/${from} → spiffe://cluster.local/ns/demo/sa/${to}`,
      );
    return has('sleep', 'frontend') && has('frontend', 'backend') && has('sleep', 'backend');
  });

  await step('an L4 DENY policy written to the config directory takes effect live', async () => {
    console.log(dim(`  $ cat > ${relative(process.cwd(), join(config, 'deny-frontend.yaml'))}`));
    for (const line of DENY.trimEnd().split('\n')) console.log(dim(`    ${line}`));
    await writeFile(join(config, 'deny-frontend.yaml'), DENY);
    const denied = await until(async () => {
      const r = await get(SLEEP, FRONTEND);
      return r.status === 502 ? r : undefined;
    }, 5_000);
    console.log(`  sleep → frontend: ${denied ? `${denied.status} ${denied.body.trim()}` : 'still allowed'}`);
    const direct = await get(SLEEP, BACKEND);
    console.log(`  sleep → backend (not denied): ${direct.status} ${direct.body.trim()}`);
    const line = (await accessLog('node-a'))
      .concat(await accessLog('node-b'))
      .find((l) => /deny-frontend/.test(l.error ?? ''));
    if (line)
      console.log(
        dim(`  ztunnel: ${line.level} "${line.msg}" src.identity=${line['src.identity']} error="${line.error}"`),
      );
    return !!denied && /backend failed/.test(denied.body) && direct.status === 200 && !!line;
  });

  await step('removing the policy restores traffic', async () => {
    console.log(dim(`  $ rm ${relative(process.cwd(), join(config, 'deny-frontend.yaml'))}`));
    await rm(join(config, 'deny-frontend.yaml'));
    const r = await until(async () => {
      const a = await get(SLEEP, FRONTEND);
      return a.status === 200 ? a : undefined;
    }, 5_000);
    console.log(`  sleep → frontend: ${r ? r.body.trim() : 'still denied'}`);
    return !!r;
  });

  // The waypoint: meshctl up runs it for the Gateway demo/waypoint and says where in .mesh/up.json.
  const upState = JSON.parse(await readFile(join(state, 'up.json'), 'utf8'));
  const waypoint = upState.waypoints.find((w) => w.namespace === 'demo' && w.name === 'waypoint');

  await step(
    `a waypoint runs for Gateway demo/waypoint (${waypoint?.address}); the backend-l7 Service uses it (istio.io/use-waypoint)`,
    async () => {
      console.log(dim(`  $ ${shown(SLEEP, BACKEND_L7)}`));
      const r = await get(SLEEP, BACKEND_L7);
      console.log(`  ${r.body.trim() || r.error}`);
      await sleep(200);
      const line = (await waypointLog()).find((l) => l.authority === '127.0.2.30' || l.route_name);
      if (line)
        console.log(
          dim(
            `  waypoint access log: ${line.method} ${line.path} ${line.response_code} from ${line.downstream_peer} to ${line.upstream_cluster}`,
          ),
        );
      return r.status === 200 && /^backend-v[12]$/.test(r.body.trim()) && !!line;
    },
  );

  await step(
    `a canary: a VirtualService sends 90% to backend-v1 and 10% to backend-v2 (${CANARY_REQUESTS} requests, ±3 points)`,
    async () => {
      const file = join(config, 'backend-l7-canary.yaml');
      showFile(file, CANARY);
      await writeFile(file, CANARY);
      const applied = await until(
        async () => /x-route: canary-90-10/i.test((await get(SLEEP, BACKEND_L7)).headers),
        5_000,
      );
      if (!applied) throw new Error('the VirtualService did not reach the waypoint within 5 s');
      console.log(
        dim(
          `  $ ${hasCurl ? `curl --socks5 ${SLEEP} '${BACKEND_L7}[1-${CANARY_REQUESTS}]'` : `${CANARY_REQUESTS} × GET ${BACKEND_L7}<n>`}`,
        ),
      );
      const seen = await getMany(SLEEP, BACKEND_L7, CANARY_REQUESTS);
      const pct = (name) => (100 * (seen.get(name) ?? 0)) / CANARY_REQUESTS;
      for (const [name, n] of [...seen].sort())
        console.log(`  ${name}: ${n} (${((100 * n) / CANARY_REQUESTS).toFixed(1)}%)`);
      return Math.abs(pct('backend-v1') - 90) <= 3 && Math.abs(pct('backend-v2') - 10) <= 3;
    },
  );

  await step(
    'a fault: 100% of requests aborted with 503 by the waypoint, live, without reaching a backend',
    async () => {
      const file = join(config, 'backend-l7-canary.yaml');
      showFile(file, FAULT);
      await writeFile(file, FAULT);
      const aborted = await until(async () => {
        const r = await get(SLEEP, BACKEND_L7);
        return r.status === 503 ? r : undefined;
      }, 5_000);
      console.log(`  sleep → backend-l7: ${aborted ? `${aborted.status} ${aborted.body.trim()}` : 'not aborted'}`);
      const again = await getMany(SLEEP, BACKEND_L7, 20);
      for (const [body, n] of again) console.log(`  ${n} × ${body}`);
      await sleep(200);
      const line = (await waypointLog()).reverse().find((l) => l.response_flags === 'FI');
      if (line)
        console.log(
          dim(
            `  waypoint access log: ${line.response_code} response_flags=${line.response_flags} upstream_host=${line.upstream_host}`,
          ),
        );
      const allAborted = hasCurl
        ? again.get('fault filter abort') === 20
        : again.get('(503) fault filter abort') === 20;
      return (
        !!aborted && /fault filter abort/.test(aborted.body) && allAborted && !!line && line.upstream_host === null
      );
    },
  );

  await step('removing the fault (back to the canary) restores traffic', async () => {
    const file = join(config, 'backend-l7-canary.yaml');
    showFile(file, CANARY);
    await writeFile(file, CANARY);
    const r = await until(async () => {
      const a = await get(SLEEP, BACKEND_L7);
      return a.status === 200 ? a : undefined;
    }, 5_000);
    console.log(`  sleep → backend-l7: ${r ? `${r.status} ${r.body.trim()}` : 'still aborted'}`);
    return !!r;
  });

  await step('where to look: admin, metrics, readiness, istiod', async () => {
    const metrics = await (await fetch(`http://${NODES['node-a']}:15020/metrics`)).text();
    const opened = metrics
      .split('\n')
      .filter((l) => l.startsWith('istio_tcp_connections_opened_total{reporter="destination"'))
      .map((l) => ({
        from: /source_principal="([^"]+)"/.exec(l)?.[1],
        to: /destination_workload="([^"]+)"/.exec(l)?.[1],
        n: Number(l.slice(l.lastIndexOf(' ') + 1)),
      }));
    console.log('  istio_tcp_connections_opened_total on node-a (reporter=destination):');
    for (const o of opened) console.log(`    ${o.from} → ${o.to}: ${o.n}`);
    const readyA = await fetch(`http://${NODES['node-a']}:15021/healthz/ready`);
    for (const [node, ip] of Object.entries(NODES))
      console.log(
        `  ${node}: http://${ip}:15000/config_dump   http://${ip}:15020/metrics   http://${ip}:15021/healthz/ready`,
      );
    const wpMetrics = waypoint ? await (await fetch(`${waypoint.admin}/metrics`)).text() : '';
    const requests = wpMetrics
      .split('\n')
      .filter((l) => l.startsWith('istio_requests_total{'))
      .map((l) => ({
        code: /response_code="(\d+)"/.exec(l)?.[1],
        flags: /response_flags="([^"]*)"/.exec(l)?.[1],
        to: /destination_workload="([^"]*)"/.exec(l)?.[1],
        n: Number(l.slice(l.lastIndexOf(' ') + 1)),
      }));
    console.log(`  istio_requests_total on the waypoint (reporter=waypoint):`);
    for (const r of requests) console.log(`    ${r.code} ${r.flags} → ${r.to || '(none)'}: ${r.n}`);
    if (waypoint)
      console.log(
        `  waypoint demo/waypoint: ${waypoint.admin}/config_dump   ${waypoint.admin}/metrics   ${waypoint.admin}/ready`,
      );
    console.log('  istiod: http://127.0.0.1:15014/debug   logs:', relative(process.cwd(), join(state, 'logs')));
    return opened.length > 0 && readyA.status === 200 && requests.some((r) => r.flags === 'FI');
  });

  const passed = results.filter((r) => r.ok).length;
  console.log(`\n${bold(`${passed}/${results.length} steps behaved as shown`)}`);
  return passed === results.length;
}

let ok = false;
try {
  ok = await main();
} catch (error) {
  console.error(`\n✗ ${error.message}`);
}
if (!exitAfter && ok) {
  console.log(
    `\nThe mesh keeps running: try ${hasCurl ? `curl --socks5 ${SLEEP} ${FRONTEND}` : 'the SOCKS5 ports above'}, edit files in`,
  );
  console.log(`${relative(process.cwd(), config)}, and press Ctrl-C to stop.`);
  await interrupted;
}
console.log('\nstopping the mesh and the sample apps…');
await stopAll();
process.exit(ok ? 0 : 1);
