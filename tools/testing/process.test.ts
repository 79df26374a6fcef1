import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assertBuilt, eventually, runNode, spawnJsonProcess, tempDir } from './process.ts';

/** A node -e program that logs JSON lines, then does what `then` says. */
const program = (then: string) => [
  '-e',
  `console.log(JSON.stringify({ level: 'info', msg: 'starting' }));
   console.log('not json');
   console.error('a warning');
   setTimeout(() => console.log(JSON.stringify({ level: 'info', msg: 'ready', port: 1234 })), 50);
   ${then}`,
];

describe('spawnJsonProcess', () => {
  it('resolves with the ready line, keeps the log, and finds lines already logged', async () => {
    await using p = await spawnJsonProcess({
      args: program(
        `setTimeout(() => console.log(JSON.stringify({ level: 'warn', msg: 'later' })), 200);
         process.on('SIGTERM', () => process.exit(3)); setInterval(() => {}, 1000);`,
      ),
      ready: 'ready',
      name: 'demo',
    });
    expect(p.ready).toMatchObject({ msg: 'ready', port: 1234 });
    expect(p.lines.map((l) => l.msg)).toEqual(['starting', 'ready']);
    expect(await p.waitForLog((l) => l.msg === 'starting', 'the first line')).toMatchObject({ msg: 'starting' });
    expect(await p.waitForLog((l) => l.msg === 'later', 'a later line')).toMatchObject({ level: 'warn' });
    expect(await p.stop()).toBe(3);
    expect(await p.stop()).toBe(3);
  });

  it('waits for a new line when seen is false', async () => {
    await using p = await spawnJsonProcess({
      args: program(`setTimeout(() => console.log(JSON.stringify({ level: 'info', msg: 'starting' })), 200);
         setInterval(() => {}, 1000);`),
      ready: (l) => l.msg === 'ready',
    });
    const again = await p.waitForLog((l) => l.msg === 'starting', 'the second start', 5_000, false);
    expect(again).toBe(p.lines[2]);
  });

  it('times out with what the process printed', async () => {
    await using p = await spawnJsonProcess({ args: program('setInterval(() => {}, 1000);'), ready: 'ready' });
    await expect(p.waitForLog((l) => l.msg === 'never', 'never', 100)).rejects.toThrow(
      /^timed out waiting for never; stderr: not json\na warning\n; log: .*"msg":"ready"/,
    );
  });

  it('rejects when the process exits before the line', async () => {
    await expect(
      spawnJsonProcess({
        args: ['-e', `console.error('bad flag'); process.exit(2)`],
        ready: 'ready',
        name: 'demo',
      }),
    ).rejects.toThrow(/^demo exited \(2\) before ready: bad flag/);
  });

  it('passes the environment through', async () => {
    await using p = await spawnJsonProcess({
      args: [
        '-e',
        `console.log(JSON.stringify({ level: 'info', msg: process.env.GREETING })); setInterval(() => {}, 1000)`,
      ],
      ready: 'hello',
      env: { GREETING: 'hello' },
    });
    expect(p.ready.msg).toBe('hello');
  });
});

describe('runNode', () => {
  it('resolves with the exit code and both outputs', async () => {
    expect(
      await runNode(['-e', `process.stdout.write('out'); process.stderr.write('err'); process.exitCode = 4`]),
    ).toEqual({ code: 4, stdout: 'out', stderr: 'err' });
  });

  it('kills a program that runs too long', async () => {
    expect((await runNode(['-e', 'setInterval(() => {}, 1000)'], 200)).code).toBeNull();
  });
});

describe('eventually', () => {
  it('polls until a value, and times out quoting the last error', async () => {
    let n = 0;
    expect(await eventually(() => (++n === 3 ? 'done' : undefined), 'three polls')).toBe('done');
    await expect(
      eventually(
        () => {
          throw new Error('not yet');
        },
        'never',
        100,
      ),
    ).rejects.toThrow('timed out waiting for never: Error: not yet');
  });
});

describe('tempDir and assertBuilt', () => {
  it('removes the directory on dispose; names what is not built', async () => {
    let path: string;
    {
      await using dir = await tempDir('mesh-tools-');
      path = dir.path;
      expect(existsSync(path)).toBe(true);
    }
    expect(existsSync(path)).toBe(false);
    expect(() => assertBuilt('/nowhere/bin/x.mjs')).toThrow('/nowhere/bin/x.mjs is not built');
  });
});
