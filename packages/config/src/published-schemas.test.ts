// Our structural schemas for ServiceEntry, WorkloadEntry and Gateway (schema.ts) against the published ones, as
// @mesh/l7 does for its kinds: @kubernetes-models/istio 3.0.1 (ajv validators compiled from Istio 1.29.2's CRDs) and
// @kubernetes-models/gateway-api 2.0.0. Dev-only oracles (Node >= 22 per their engines, ESM only; docs/DECISIONS.md).
// The rule: whatever a published schema rejects, we reject too (we may reject more: Istio's webhook rules).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRng, type Rng } from '@mesh/core';
import * as gwV1 from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import * as istioV1 from '@kubernetes-models/istio/networking.istio.io/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { validateObject } from './index.js';

type Model = new (value: unknown) => { validate(): void };
const models: Record<string, Record<string, Model>> = {
  'networking.istio.io/v1': istioV1 as never,
  'gateway.networking.k8s.io/v1': gwV1 as never,
};
const KINDS = new Set(['ServiceEntry', 'WorkloadEntry', 'Gateway']);

function publishedError(doc: Record<string, unknown>): string | null {
  const Model = models[String(doc.apiVersion)]?.[String(doc.kind)];
  if (!Model) throw new Error(`no published model for ${String(doc.apiVersion)} ${String(doc.kind)}`);
  try {
    new Model(doc).validate();
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0]!;
  }
}

const oursErrors = (doc: unknown) => validateObject(doc).issues.filter((i) => i.severity === 'error');

const extra = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: data}
spec:
  hosts: [db.internal, "*.db.internal"]
  addresses: [10.1.0.0/16]
  location: MESH_INTERNAL
  resolution: NONE
  exportTo: ["."]
  ports: [{number: 5432, name: pg, protocol: TCP, targetPort: 15432}]
  subjectAltNames: [spiffe://cluster.local/ns/data/sa/db]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: data}
spec: {address: 192.168.1.9, ports: {pg: 5432}, labels: {app: db}, network: vm-net, locality: us/east/a, weight: 3, serviceAccount: db}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: data}
spec:
  gatewayClassName: istio-waypoint
  addresses: [{type: IPAddress, value: 10.96.0.77}]
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}
  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com"}
`;

/** Every ServiceEntry, WorkloadEntry and Gateway document of conformance/mesh, plus the ones above. */
function corpus(): { id: string; doc: Record<string, unknown> }[] {
  const out: { id: string; doc: Record<string, unknown> }[] = [];
  const add = (id: string, text: string) =>
    parseAllDocuments(text).forEach((d, i) => {
      const doc = d.toJS() as Record<string, unknown> | null;
      if (doc && KINDS.has(String(doc.kind)) && models[String(doc.apiVersion)]) out.push({ id: `${id}#${i}`, doc });
    });
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.yaml') && path.includes('/config/')) add(path, readFileSync(path, 'utf8'));
    }
  };
  walk(fileURLToPath(new URL('../../../conformance/mesh/', import.meta.url)));
  add('extra', extra);
  return out;
}

describe('published schemas', () => {
  const docs = corpus();

  it('accept the corpus, as we do', () => {
    expect(docs.length).toBeGreaterThan(15);
    for (const { id, doc } of docs) {
      expect(oursErrors(doc), id).toEqual([]);
      expect(publishedError(doc), id).toBeNull();
    }
  });

  it('reject nothing we accept, across 1,000 seeded mutations', () => {
    const rng = seededRng(2026);
    let published = 0;
    for (let i = 0; i < 1_000; i++) {
      const { id, doc } = docs[Math.floor(rng.next() * docs.length)]!;
      const mutated = structuredClone(doc);
      const what = mutate(mutated, rng);
      if (!what) continue;
      const error = publishedError(mutated);
      if (error === null) continue;
      published++;
      expect(oursErrors(mutated), `${id} with ${what}: the published schema says ${error}`).not.toEqual([]);
    }
    expect(published).toBeGreaterThan(200);
  });
});

/** Replaces one value under spec with a value of another type (or an unknown enum string). */
function mutate(doc: Record<string, unknown>, rng: Rng): string | null {
  const slots: { parent: Record<string, unknown> | unknown[]; key: string | number; path: string }[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node))
      node.forEach((v, i) => {
        slots.push({ parent: node, key: i, path: `${path}[${i}]` });
        walk(v, `${path}[${i}]`);
      });
    else if (node && typeof node === 'object')
      for (const [k, v] of Object.entries(node)) {
        slots.push({ parent: node as Record<string, unknown>, key: k, path: `${path}.${k}` });
        walk(v, `${path}.${k}`);
      }
  };
  walk(doc.spec, 'spec');
  if (slots.length === 0) return null;
  const slot = slots[Math.floor(rng.next() * slots.length)]!;
  const current = (slot.parent as Record<string | number, unknown>)[slot.key];
  const replacements: unknown[] =
    typeof current === 'string'
      ? [42, true, ['x'], { x: 1 }, 'NOT_A_KNOWN_VALUE', '']
      : typeof current === 'number'
        ? ['12', 1.5, -1, true, { x: 1 }, 70000]
        : typeof current === 'boolean'
          ? ['yes', 1, {}]
          : Array.isArray(current)
            ? ['x', 7, { x: 1 }, []]
            : ['x', 7, [1], true];
  const value = replacements[Math.floor(rng.next() * replacements.length)];
  (slot.parent as Record<string | number, unknown>)[slot.key] = value;
  return `${slot.path} = ${JSON.stringify(value)}`;
}
