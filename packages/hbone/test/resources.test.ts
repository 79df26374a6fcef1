// Resource discipline: a Node data plane must not grow. 10,000 tunnel open/close cycles leave handles and heap where
// they were (generous bounds: this machine is shared and noisy), and the memory an idle open tunnel costs is measured.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { HboneTunnel } from '../src/index.js';
import { startEchoServer, startLoopbackHbone } from '../src/testing.js';
import { collect, within } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const activeHandles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;

async function settle() {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
}

const MiB = 1024 * 1024;

describe('resources', () => {
  it('10,000 tunnel open/close cycles leave no growth in handles or heap', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    const opts = { target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] };
    const cycle = async () => {
      const t = await hb.pool.dial(opts);
      t.end('x');
      await collect(t);
      await t.info.closed;
    };
    // Warm up (JIT, pools, the HBONE connection), then measure.
    for (let i = 0; i < 500; i++) await cycle();
    await settle();
    const before = { handles: activeHandles(), heap: process.memoryUsage().heapUsed };
    const started = performance.now();
    const batch = 8;
    for (let i = 0; i < 10_000; i += batch) await Promise.all(Array.from({ length: batch }, cycle));
    const seconds = (performance.now() - started) / 1000;
    await settle();
    const after = { handles: activeHandles(), heap: process.memoryUsage().heapUsed };
    const growth = (after.heap - before.heap) / MiB;
    console.log(
      `10,000 cycles in ${seconds.toFixed(1)} s (${Math.round(10_000 / seconds)} tunnels/s): handles ${before.handles} → ${after.handles}, heap ${(before.heap / MiB).toFixed(1)} → ${(after.heap / MiB).toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${growth.toFixed(2)} MiB)`,
    );
    expect(after.handles - before.handles).toBeLessThanOrEqual(2);
    expect(growth).toBeLessThan(8);
    expect([...hb.server.tunnels()]).toHaveLength(0);
    expect([...hb.pool.connections()]).toHaveLength(1);
  }, 120_000);

  it('reports the memory of an idle open tunnel', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone({
      pool: { maxStreamsPerConnection: 1000 },
      server: { http2: { maxConcurrentStreams: 1000 } },
    });
    const opts = { target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] };
    const warm = await hb.pool.dial(opts);
    await settle();
    const before = process.memoryUsage();
    const n = 1_000;
    const tunnels: HboneTunnel[] = [];
    for (let i = 0; i < n; i += 50)
      tunnels.push(...(await Promise.all(Array.from({ length: 50 }, () => hb.pool.dial(opts)))));
    await settle();
    const after = process.memoryUsage();
    const heapPer = (after.heapUsed - before.heapUsed) / n;
    const rssPer = (after.rss - before.rss) / n;
    console.log(
      `${n} idle tunnels (client stream + server stream + upstream TCP socket + echo socket, all in this process): ` +
        `heap ${(heapPer / 1024).toFixed(1)} KiB and RSS ${(rssPer / 1024).toFixed(1)} KiB per tunnel`,
    );
    expect(heapPer).toBeLessThan(64 * 1024);
    for (const t of [warm, ...tunnels]) t.destroy();
    await within(Promise.all([warm, ...tunnels].map((t) => t.info.closed)), 10_000);
  }, 60_000);
});
