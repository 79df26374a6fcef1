import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Supervisor, type ProcessSpec, type ProcessStatus } from './supervisor.js';

// Children are tiny node programs: print a JSON ready line, then live until SIGTERM (or crash on demand).
const program = (name: string, extra = '') =>
  `process.stdout.write(JSON.stringify({msg:'${name} ready', pid: process.pid})+'\\n');` +
  `process.on('SIGTERM',()=>{process.stdout.write(JSON.stringify({msg:'bye'})+'\\n');process.exit(0)});` +
  `setInterval(()=>{},1000);${extra}`;

describe('Supervisor', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'supervisor-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const spec = (name: string, tier: number, extra = ''): ProcessSpec => ({
    name,
    command: process.execPath,
    args: ['-e', program(name, extra)],
    readyMessage: `${name} ready`,
    logFile: join(dir, `${name}.log`),
    tier,
  });

  it('starts, waits for the ready line, restarts a crashed child, and stops in reverse tier order', async () => {
    await using supervisor = new Supervisor({ backoff: { initialMs: 50 } });
    const events: ProcessStatus[] = [];
    supervisor.on('state', (s) => events.push(s));
    await supervisor.reconcile([spec('base', 0), spec('leaf', 1)]);
    await supervisor.waitReady('base');
    await supervisor.waitReady('leaf');
    const leaf = supervisor.status().find((s) => s.name === 'leaf')!;
    expect(leaf.readyLine).toMatchObject({ msg: 'leaf ready', pid: leaf.pid });

    process.kill(leaf.pid!, 'SIGKILL');
    await new Promise<void>((resolve) => {
      const check = (s: ProcessStatus) => {
        if (s.name === 'leaf' && s.state === 'ready' && s.pid !== leaf.pid) {
          supervisor.off('state', check);
          resolve();
        }
      };
      supervisor.on('state', check);
    });
    expect(supervisor.status().find((s) => s.name === 'leaf')!.restarts).toBe(1);

    await supervisor.close();
    const stops = events.filter((e) => e.state === 'stopped').map((e) => e.name);
    expect(stops).toEqual(['leaf', 'base']);
    expect(await readFile(join(dir, 'base.log'), 'utf8')).toContain('"msg":"bye"');
  });

  it('reconcile stops what is gone and restarts what changed; waitReady fails for a child that dies first', async () => {
    await using supervisor = new Supervisor({ backoff: { initialMs: 10_000 } });
    await supervisor.reconcile([spec('a', 1), spec('b', 1)]);
    await Promise.all([supervisor.waitReady('a'), supervisor.waitReady('b')]);
    const a = supervisor.status().find((s) => s.name === 'a')!.pid;
    await supervisor.reconcile([{ ...spec('a', 1), fingerprint: 'v2' }]);
    await supervisor.waitReady('a');
    expect(supervisor.status().map((s) => s.name)).toEqual(['a']);
    expect(supervisor.status()[0]!.pid).not.toBe(a);

    await supervisor.reconcile([spec('a', 1), { ...spec('c', 1), args: ['-e', 'process.exit(3)'] }]);
    await expect(supervisor.waitReady('c')).rejects.toThrow(/exited \(3\) before it was ready/);
  });
});
