import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { bufferedIO } from './io.js';
import { runMeshctl } from './program.js';

describe('meshctl', () => {
  it('prints help with every command', async () => {
    const io = bufferedIO();
    expect(await runMeshctl(['--help'], io)).toBe(0);
    const help = io.out.join('');
    expect(help).toContain('Usage: meshctl');
    expect(help).toContain('version');
  });

  it('exits 2 with a hint on unknown commands', async () => {
    const io = bufferedIO();
    expect(await runMeshctl(['no-such-command'], io)).toBe(2);
    expect(io.err.join('')).toMatch(/unknown command/);
  });

  it('version prints a table by default and json/yaml on request', async () => {
    const table = bufferedIO();
    expect(await runMeshctl(['version'], table)).toBe(0);
    const [header, ...rows] = table.out.join('').trimEnd().split('\n');
    expect(header).toMatch(/^PACKAGE\s+VERSION\s+LAYER\s+JOB$/);
    expect(rows.some((r) => r.startsWith('@mesh/api '))).toBe(true);

    const json = bufferedIO();
    expect(await runMeshctl(['version', '-o', 'json'], json)).toBe(0);
    const data = JSON.parse(json.out.join('')) as { packages: Array<{ name: string; layer: string }> };
    expect(data.packages.find((p) => p.name === '@mesh/authz')?.layer).toBe('domain');

    const yaml = bufferedIO();
    expect(await runMeshctl(['version', '-o', 'yaml'], yaml)).toBe(0);
    expect(parse(yaml.out.join('')).packages).toEqual(data.packages);
  });

  it('rejects an unknown output format as a usage error', async () => {
    const io = bufferedIO();
    expect(await runMeshctl(['version', '-o', 'xml'], io)).toBe(2);
    expect(io.err.join('')).toMatch(/Allowed choices are table, json, yaml/);
  });
});
