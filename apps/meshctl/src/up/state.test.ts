import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultStateDir, readUpState, removeUpState, writeUpState } from './state.js';

describe('up state', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('defaults to .mesh/<config dir name> next to the config directory', () => {
    expect(defaultStateDir('/x/examples/config')).toBe('/x/examples/.mesh/config');
  });

  it('reads what a live meshctl up wrote, and nothing once it is removed or its pid is gone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'up-state-'));
    const waypoints = [
      { namespace: 'shop', name: 'waypoint', address: '127.0.9.1:15008', admin: 'http://127.0.9.1:15000' },
    ];
    await writeUpState(dir, { pid: process.pid, configDir: '/c', waypoints });
    expect(await readUpState(dir)).toEqual({ pid: process.pid, configDir: '/c', waypoints });
    await removeUpState(dir);
    expect(await readUpState(dir)).toBeUndefined();
    // A pid that cannot exist: meshctl up was killed without cleaning up.
    await writeUpState(dir, { pid: 2 ** 22 + 1, configDir: '/c', waypoints });
    expect(await readUpState(dir)).toBeUndefined();
  });
});
