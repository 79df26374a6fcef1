import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { createCommand, resolveOptions } from './options.js';

const parse = (args: string[], env: Record<string, string> = {}) => {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const command = createCommand().exitOverride();
    command.parse(['node', 'ztunnel', ...args]);
    return resolveOptions(command.opts());
  } finally {
    process.env = saved;
  }
};

describe('ztunnel options', () => {
  it('takes flags, falls back to Istio-named variables, and derives the defaults', () => {
    const o = parse(['--node-name', 'node-a', '--cert-ttl', '1h'], {
      INSTANCE_IP: '127.0.3.1',
      CA_ADDRESS: 'ca:15012',
    });
    expect(o).toMatchObject({
      nodeName: 'node-a',
      nodeIp: '127.0.3.1',
      xdsAddress: 'istiod.istio-system.svc:15012',
      caAddress: 'ca:15012',
      podName: 'ztunnel-node-a',
      podNamespace: 'istio-system',
      adminPort: 15000,
      certTtlMs: 3_600_000,
      drainTimeoutMs: 5_000,
      localConfig: [],
    });
    expect(parse(['--node-name', 'n', '--node-ip', '::1', '--local-config', 'a.yaml, b/']).localConfig).toEqual([
      'a.yaml',
      'b/',
    ]);
  });

  it('refuses missing or malformed values with ERR_ZTUNNEL_INVALID_FLAG naming the flag', () => {
    const bad = (args: string[]) => {
      try {
        parse(args);
      } catch (error) {
        expect(MeshError.is(error, 'ERR_ZTUNNEL_INVALID_FLAG')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad(['--node-ip', '127.0.0.1'])).toMatch(/^--node-name: required/);
    expect(bad(['--node-name', 'n', '--node-ip', 'localhost'])).toMatch(/^--node-ip: "localhost" is not an IP/);
    expect(bad(['--node-name', 'n', '--node-ip', '127.0.0.1', '--admin-port', '70000'])).toMatch(/^--admin-port/);
    expect(bad(['--node-name', 'n', '--node-ip', '127.0.0.1', '--cert-ttl', 'soon'])).toMatch(/^--cert-ttl/);
    expect(bad(['--node-name', 'n', '--node-ip', '127.0.0.1', '--max-connections-per-pod', '0'])).toMatch(
      /^--max-connections-per-pod/,
    );
  });
});
