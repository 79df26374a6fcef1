import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { createCommand, OPTION_SPECS, parseListenAddress, resolveOptions } from './options.js';

function parse(args: string[], env: Record<string, string> = {}) {
  const saved = { ...process.env };
  try {
    for (const spec of OPTION_SPECS) delete process.env[spec.env];
    Object.assign(process.env, env);
    const command = createCommand().exitOverride();
    command.parse(args, { from: 'user' });
    return resolveOptions(command.opts());
  } finally {
    process.env = saved;
  }
}

describe('istiod options', () => {
  it('default to Istio’s ports and settings', () => {
    const o = parse([]);
    expect(o).toMatchObject({
      configDir: undefined,
      caDir: './etc/cacerts',
      grpcAddr: { host: '0.0.0.0', port: 15010 },
      secureGrpcAddr: { host: '0.0.0.0', port: 15012 },
      monitoringAddr: { host: '0.0.0.0', port: 15014 },
      trustDomain: 'cluster.local',
      clusterId: 'Kubernetes',
      trustedNodeAccounts: ['istio-system/ztunnel'],
      tokenAudiences: ['istio-ca'],
      workloadCertTtlMs: 86_400_000,
      maxWorkloadCertTtlMs: 90 * 86_400_000,
      xdsAuth: true,
      debounceAfterMs: 10,
      debounceMaxMs: 100,
      logLevel: 'info',
    });
  });

  it('take environment variables, and flags over them', () => {
    const env = {
      CA_TRUSTED_NODE_ACCOUNTS: 'kube-system/agent, istio-system/ztunnel',
      XDS_AUTH: 'false',
      ROOT_CA_DIR: '/ca',
    };
    expect(parse([], env)).toMatchObject({
      trustedNodeAccounts: ['kube-system/agent', 'istio-system/ztunnel'],
      xdsAuth: false,
      caDir: '/ca',
    });
    expect(parse(['--ca-dir', '/other', '--grpc-addr', 'off'], env)).toMatchObject({ caDir: '/other', grpcAddr: null });
  });

  it('read listen addresses as host:port, :port, [v6]:port or off', () => {
    expect(parseListenAddress('127.0.0.1:0', 'x')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:15012', 'x')).toEqual({ host: '::1', port: 15012 });
    expect(parseListenAddress('off', 'x')).toBeNull();
    for (const bad of ['15010', 'a:b', ':99999', '[nope]:1'])
      expect(() => parseListenAddress(bad, 'grpc-addr')).toThrowError(
        expect.toSatisfy((e) => MeshError.is(e, 'ERR_ISTIOD_INVALID_FLAG') && /--grpc-addr/.test(String(e))),
      );
  });

  it('refuse bad values with the flag named', () => {
    expect(() => parse(['--workload-cert-ttl', 'soon'])).toThrow(/--workload-cert-ttl/);
    expect(() => parse(['--max-workload-cert-ttl', '1h'])).toThrow(/at least --workload-cert-ttl/);
    expect(() => parse(['--trusted-node-accounts', 'ztunnel'])).toThrow(/<namespace>\/<serviceaccount>/);
    expect(() => parse(['--trust-domain', 'Bad_Domain'])).toThrow(/trust domain/);
    expect(() => parse(['--log-level', 'loud'])).toThrow();
  });

  it('are all documented in the README with their variables', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    for (const spec of OPTION_SPECS) {
      expect(readme, spec.flags).toContain(`\`${spec.flags}\``);
      expect(readme, spec.env).toContain(`\`${spec.env}\``);
    }
    let help = '';
    createCommand()
      .configureOutput({ writeOut: (t) => (help += t) })
      .outputHelp();
    for (const spec of OPTION_SPECS) expect(help.replace(/\s+/g, ' ')).toContain(`env: ${spec.env}`);
  });
});
