// `meshctl check` through the built binary: the public, scriptable contract (stdout JSONL, stderr errors, exit codes).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/meshctl.mjs', import.meta.url));
const world = fileURLToPath(new URL('../../../conformance/mesh/bookinfo/', import.meta.url));

describe('meshctl (built)', () => {
  it('check: JSONL in, JSONL out, exit 0', () => {
    const r = spawnSync(
      process.execPath,
      [bin, 'check', '--config', `${world}config`, '--requests', `${world}requests.jsonl`],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const expected = readFileSync(`${world}expected.jsonl`, 'utf8').trim().split('\n');
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual(expected.map((l) => JSON.parse(l) as unknown));
  });

  it('check: reads requests from standard input; exit 1 with the field on a bad request', () => {
    const r = spawnSync(process.execPath, [bin, 'check', '--config', `${world}config`, '--requests', '-'], {
      encoding: 'utf8',
      input:
        '{"id":"x","kind":"route","service":{"name":"reviews","namespace":"default"},"http":{"method":"GET","path":"/"}}\n',
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('-:1: request x: service.port: must be a port number');
  });

  it('analyze: exit 0 on a clean config', () => {
    const r = spawnSync(process.execPath, [bin, 'analyze', '--config', `${world}config`], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^LEVEL\s+CODE/);
  });
});
