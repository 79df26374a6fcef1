import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { bufferedIO } from '../io.js';
import { runMeshctl } from '../program.js';

const conformance = fileURLToPath(new URL('../../../../conformance/mesh/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'meshctl-check-'));
const file = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};
const lines = (out: string[]) => out.join('').trimEnd().split('\n');

describe('meshctl check', () => {
  it('writes one result per request, same id and order, matching the conformance expectations', async () => {
    for (const c of ['bookinfo', 'security']) {
      const io = bufferedIO();
      const code = await runMeshctl(
        ['check', '--config', join(conformance, c, 'config'), '--requests', join(conformance, c, 'requests.jsonl')],
        io,
      );
      expect(code, io.err.join('')).toBe(0);
      const expected = lines([readText(join(conformance, c, 'expected.jsonl'))]).map(
        (l) => JSON.parse(l) as Record<string, unknown>,
      );
      const got = lines(io.out).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(got.map((g) => g.id)).toEqual(expected.map((e) => e.id));
      expect(got.map((g, i) => ('reason' in expected[i]! ? g : { ...g, reason: undefined }))).toEqual(
        expected.map((e) => ('reason' in e ? e : { ...e, reason: undefined })),
      );
    }
  });

  it('prints a table with -o table and the trace with --explain', async () => {
    const io = bufferedIO();
    const reqs = file('t.jsonl', readText(join(conformance, 'bookinfo', 'requests.jsonl')));
    expect(
      await runMeshctl(
        ['check', '--config', join(conformance, 'bookinfo', 'config'), '--requests', reqs, '-o', 'table'],
        io,
      ),
    ).toBe(0);
    const [header, ...rows] = lines(io.out);
    expect(header).toMatch(/^ID\s+KIND\s+RESULT\s+POLICY\/ROUTE\s+BACKEND\s+REASON$/);
    expect(rows.find((r) => r.startsWith('canary-90-10 '))).toMatch(/v1 \(90%\), .*v3 \(10%\)/);

    const explained = bufferedIO();
    expect(
      await runMeshctl(
        [
          'check',
          '--config',
          join(conformance, 'security', 'config'),
          '--requests',
          join(conformance, 'security', 'requests.jsonl'),
          '--explain',
        ],
        explained,
      ),
    ).toBe(0);
    const dropped = lines(explained.out)
      .map((l) => JSON.parse(l) as { id: string; explain: { messages: string[] } })
      .find((l) => l.id === 'l7-rule-dropped-at-ztunnel')!;
    expect(dropped.explain.messages.some((m) => m.includes('[MESH-W0001]'))).toBe(true);
  });

  it('exits 1 with file:line and field errors for invalid requests, writing no results', async () => {
    const io = bufferedIO();
    const reqs = file(
      'bad.jsonl',
      [
        '{"id":"ok","kind":"authz","at":"ztunnel","source":{"principal":null,"ip":"10.244.0.30"},"destination":{"ip":"10.244.0.10","port":9080}}',
        '{"id":"x","kind":"authz","at":"ztunnel","source":{"principal":null,"ip":"nope"},"destination":{"ip":"10.244.0.10","port":9080}}',
        '{not json',
        '{"id":"r","kind":"route","service":{"name":"nope","namespace":"default","port":9080},"http":{"method":"GET","path":"/"}}',
      ].join('\n'),
    );
    expect(
      await runMeshctl(['check', '--config', join(conformance, 'bookinfo', 'config'), '--requests', reqs], io),
    ).toBe(1);
    expect(io.out).toEqual([]);
    const err = io.err.join('');
    expect(err).toMatch(/^ERR_CONFIG_INVALID_REQUEST: 3 invalid request\(s\):/);
    expect(err).toContain(`${reqs}:2: request x: source.ip: must be an IP address`);
    expect(err).toContain(`${reqs}:3: not valid JSON`);
    expect(err).toContain(`${reqs}:4: request r: service: no Service or ServiceEntry default/nope in the config`);
  });

  it('exits 1 with file, document and field path for invalid config', async () => {
    const io = bufferedIO();
    const config = file(
      'bad.yaml',
      'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 0}]}\n',
    );
    const reqs = file('one.jsonl', '');
    expect(await runMeshctl(['check', '--config', config, '--requests', reqs], io)).toBe(1);
    expect(io.err.join('')).toBe(
      `ERR_CONFIG_INVALID: ${config}#0 Service default/web: spec.ports[0].port: must be >= 1, got 0\n`,
    );
  });
});

describe('meshctl analyze', () => {
  it('prints a table, json or yaml, and exits 1 on errors', async () => {
    const config = join(conformance, 'waypoint-selection', 'config');
    const table = bufferedIO();
    expect(await runMeshctl(['analyze', '--config', config], table)).toBe(1);
    const [header, ...rows] = lines(table.out);
    expect(header).toMatch(/^LEVEL\s+CODE\s+RESOURCE\s+ORIGIN\s+MESSAGE$/);
    expect(rows.map((r) => r.split(/\s{3,}/).slice(0, 3))).toEqual([
      ['Error', 'IST0101', 'Service shop/typo'],
      ['Error', 'MESH-E0001', 'Service shop/web'],
      ['Error', 'MESH-E0002', 'Pod shop/search-1'],
      ['Error', 'MESH-E0003', 'Service shop/reports'],
      ['Info', 'MESH-I0001', 'Gateway infra/locked-wp'],
    ]);
    const json = bufferedIO();
    await runMeshctl(['analyze', '--config', config, '-o', 'json'], json);
    const data = JSON.parse(json.out.join('')) as { messages: { code: string; file: string }[] };
    expect(data.messages[0]).toMatchObject({ code: 'IST0101', file: join(config, 'world.yaml') });
    const yaml = bufferedIO();
    await runMeshctl(['analyze', '--config', config, '-o', 'yaml'], yaml);
    expect(parse(yaml.out.join(''))).toEqual(data);

    const clean = bufferedIO();
    expect(
      await runMeshctl(
        ['analyze', '--config', join(conformance, 'bookinfo', 'config'), '--failure-threshold', 'Warning'],
        clean,
      ),
    ).toBe(0);
  });
});

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

describe('mesh options', () => {
  it('--trust-domain changes the identities policies compare, --service-cidr the allocated VIPs', async () => {
    const config = file(
      'td.yaml',
      `apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a, labels: {app: p}}
status: {podIP: 10.0.0.1}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: a}
spec: {selector: {matchLabels: {app: p}}, rules: [{from: [{source: {principals: [example.org/ns/a/sa/client]}}]}]}
`,
    );
    const reqs = file(
      'td.jsonl',
      '{"id":"x","kind":"authz","at":"ztunnel","source":{"principal":"example.org/ns/a/sa/client","ip":"10.0.0.9"},"destination":{"ip":"10.0.0.1","port":80}}\n',
    );
    const io = bufferedIO();
    expect(
      await runMeshctl(['check', '--config', config, '--requests', reqs, '--trust-domain', 'example.org'], io),
    ).toBe(0);
    expect(JSON.parse(io.out.join(''))).toMatchObject({ decision: 'allow', policy: 'a/p' });
    const bad = bufferedIO();
    expect(await runMeshctl(['check', '--config', config, '--requests', reqs, '--service-cidr', 'nope'], bad)).toBe(1);
    expect(bad.err.join('')).toMatch(/^ERR_CONFIG_INVALID_OPTIONS: /);
  });
});
