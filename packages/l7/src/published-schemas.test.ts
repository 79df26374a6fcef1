// Our structural schemas (schema.ts) against the published ones: @kubernetes-models/istio 3.0.1 (ajv validators
// compiled from Istio 1.29.2's crd-all.gen.yaml) and @kubernetes-models/gateway-api 2.0.0 (from the Gateway API Go
// types). Dev-only oracles: they need Node >= 22 per their engines and ship ESM only, so they cannot be runtime
// dependencies (docs/DECISIONS.md). The rule checked: whatever a published schema rejects, we reject too. We may reject
// more (Istio's webhook and the CEL rules, which these validators do not run).
import { readdirSync, readFileSync } from 'node:fs';
import { seededRng, type Rng } from '@mesh/core';
import * as gwV1 from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import * as gwV1alpha2 from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2';
import * as istioV1 from '@kubernetes-models/istio/networking.istio.io/v1';
import * as istioV1alpha3 from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import * as istioV1beta1 from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { validateResource } from './index.js';

type Model = new (value: unknown) => { validate(): void };
const models: Record<string, Record<string, Model>> = {
  'networking.istio.io/v1': istioV1 as never,
  'networking.istio.io/v1beta1': istioV1beta1 as never,
  'networking.istio.io/v1alpha3': istioV1alpha3 as never,
  'gateway.networking.k8s.io/v1': gwV1 as never,
  'gateway.networking.k8s.io/v1alpha2': gwV1alpha2 as never,
};

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

const oursErrors = (doc: unknown) => validateResource(doc).filter((i) => i.severity === 'error');

/** Every VirtualService, DestinationRule and Gateway API route document of conformance/l7. */
function corpus(): { id: string; doc: Record<string, unknown> }[] {
  const dir = new URL('../../../conformance/l7/', import.meta.url);
  const out: { id: string; doc: Record<string, unknown> }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'known-failures.yaml')) {
    const data = parse(readFileSync(new URL(file, dir), 'utf8')) as {
      defaults?: { config?: string };
      cases: { name: string; config?: string }[];
    };
    for (const c of data.cases) {
      const docs = parseAllDocuments(c.config ?? data.defaults?.config ?? '');
      if (docs.some((d) => d.errors.length > 0)) continue;
      for (const d of docs) {
        const doc = d.toJS() as Record<string, unknown> | null;
        if (doc && models[String(doc.apiVersion)]?.[String(doc.kind)]) out.push({ id: `${file}#${c.name}`, doc });
      }
    }
  }
  return out;
}

describe('published schemas', () => {
  const docs = corpus();

  it('reject nothing we accept, across the conformance corpus', () => {
    let rejectedByBoth = 0;
    for (const { id, doc } of docs) {
      const published = publishedError(doc);
      if (published === null) continue;
      expect(oursErrors(doc), `${id}: the published schema says ${published}`).not.toEqual([]);
      rejectedByBoth++;
    }
    expect(docs.length).toBeGreaterThan(150);
    expect(rejectedByBoth).toBeGreaterThanOrEqual(4);
  });

  it('reject nothing we accept, across 1,500 seeded mutations of valid documents', () => {
    const rng = seededRng(2026);
    const valid = docs.filter(({ doc }) => oursErrors(doc).length === 0 && publishedError(doc) === null);
    let published = 0;
    for (let i = 0; i < 1_500; i++) {
      const { id, doc } = valid[Math.floor(rng.next() * valid.length)]!;
      const mutated = structuredClone(doc);
      const what = mutate(mutated, rng);
      if (!what) continue;
      const error = publishedError(mutated);
      if (error === null) continue;
      published++;
      expect(oursErrors(mutated), `${id} with ${what}: the published schema says ${error}`).not.toEqual([]);
    }
    expect(published).toBeGreaterThan(300);
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
      ? [42, true, ['x'], { x: 1 }, 'NOT_A_KNOWN_VALUE']
      : typeof current === 'number'
        ? ['12', 1.5, -1, true, { x: 1 }]
        : typeof current === 'boolean'
          ? ['yes', 1, {}]
          : Array.isArray(current)
            ? ['x', 7, { x: 1 }]
            : ['x', 7, [1], true];
  const value = replacements[Math.floor(rng.next() * replacements.length)];
  (slot.parent as Record<string | number, unknown>)[slot.key] = value;
  return `${slot.path} = ${JSON.stringify(value)}`;
}
