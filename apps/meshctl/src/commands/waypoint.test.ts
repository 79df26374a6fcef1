import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { bufferedIO } from '../io.js';
import { runMeshctl } from '../program.js';

const WORLD = `# the shop namespace (this comment stays)
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop, labels: {istio.io/use-waypoint: gone}}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: opt-out, namespace: shop, labels: {istio.io/use-waypoint: none}}
spec:
  selector: {app: x}
  ports: [{name: http, port: 80}]
`;

async function run(...args: string[]) {
  const io = bufferedIO();
  const code = await runMeshctl(args, io);
  return { code, out: io.out.join(''), err: io.err.join('') };
}

describe('meshctl waypoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshctl-waypoint-'));
  mkdirSync(join(dir, 'apps'));
  writeFileSync(join(dir, 'apps', 'shop.yaml'), WORLD);

  it('applies a waypoint Gateway and enrolls the namespace by labelling the Namespace where it is defined', async () => {
    const r = await run(
      'waypoint',
      'apply',
      '--config-dir',
      dir,
      '-n',
      'shop',
      '--enroll-namespace',
      '--for',
      'service',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('waypoint shop/waypoint applied');
    const gw = parse(readFileSync(join(dir, 'waypoints', 'shop-waypoint.yaml'), 'utf8')) as Record<string, unknown>;
    expect(gw).toEqual({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: 'shop', labels: { 'istio.io/waypoint-for': 'service' } },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    const text = readFileSync(join(dir, 'apps', 'shop.yaml'), 'utf8');
    expect(text).toContain('# the shop namespace (this comment stays)');
    const ns = parseAllDocuments(text)[0]!.toJS() as { metadata: { labels: Record<string, string> } };
    expect(ns.metadata.labels).toEqual({ 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });

    const again = await run('waypoint', 'apply', '--config-dir', dir, '-n', 'shop');
    expect([again.code, again.err]).toEqual([
      1,
      expect.stringMatching(/^ERR_MESHCTL_INVALID_ARGUMENT: a Gateway shop\/waypoint already exists/),
    ]);
    expect((await run('waypoint', 'apply', '--config-dir', dir, '-n', 'shop', '--for', 'nope')).code).toBe(1);
  });

  it('lists waypoints with what uses them', async () => {
    const r = await run('waypoint', 'list', '--config-dir', dir, '-n', 'shop', '-o', 'json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      waypoints: [
        {
          namespace: 'shop',
          name: 'waypoint',
          for: 'service',
          identity: 'spiffe://cluster.local/ns/shop/sa/waypoint',
          services: ['shop/web.shop.svc.cluster.local'],
        },
      ],
    });
    const table = await run('waypoint', 'list', '--config-dir', dir, '-A');
    expect(table.out.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+FOR\s+SERVICES\s+WORKLOADS\s+IDENTITY$/);
  });

  it('says per labelled service and namespace whether it is attached, and why not', async () => {
    const r = await run('waypoint', 'status', '--config-dir', dir, '-n', 'shop', '-o', 'json');
    expect(r.code, r.err).toBe(0);
    const rows = (JSON.parse(r.out) as { status: { kind: string; name: string; attached: boolean; reason: string }[] })
      .status;
    expect(rows.find((x) => x.kind === 'Namespace')).toMatchObject({ name: 'shop', attached: true });
    expect(rows.find((x) => x.name === 'web')).toMatchObject({ kind: 'Service', attached: true });
    expect(rows.find((x) => x.name === 'api')).toMatchObject({
      attached: false,
      reason: expect.stringMatching(/^missing: traffic refused: .*which does not exist/),
    });
    expect(rows.find((x) => x.name === 'opt-out')).toBeUndefined();
    const table = await run('waypoint', 'status', '--config-dir', dir, '-n', 'shop');
    expect(table.out).toMatch(/Service\s+shop\s+api\s+shop\/gone\s+NO\s+missing: traffic refused/);
  });

  it('deletes a waypoint and reports what still names it', async () => {
    const r = await run('waypoint', 'delete', 'waypoint', '--config-dir', dir, '-n', 'shop', '-o', 'json');
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out) as { deleted: string[]; stillLabelled: string[] };
    expect(result.deleted).toEqual(['shop/waypoint']);
    expect(result.stillLabelled).toContain('Namespace shop');
    expect(readFileSync(join(dir, 'waypoints', 'shop-waypoint.yaml'), 'utf8')).toBe('');
    const list = await run('waypoint', 'list', '--config-dir', dir, '-n', 'shop', '-o', 'json');
    expect(JSON.parse(list.out)).toEqual({ waypoints: [] });
    const missing = await run('waypoint', 'delete', 'nope', '--config-dir', dir, '-n', 'shop');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^ERR_MESHCTL_INVALID_ARGUMENT: no waypoint shop\/nope/);
  });
});
