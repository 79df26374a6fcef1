// Golden frames: conformance/xds/golden-frames.yaml holds responses encoded by hand from the field tables. The server's
// frame writer must produce the same bytes from the same parts, and the client must make the listed sense of them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { codecFor } from '@mesh/api';
import { ControlPlane } from '@mesh/api/envoy.config.core.v3';
import { Resource, type DeltaDiscoveryResponse, type DiscoveryResponse } from '@mesh/api/envoy.service.discovery.v3';
import { processDelta, processSotw } from './client/process.js';
import { ResourceState } from './client/state.js';
import { authorizationType, clusterType, type ResourceType } from './resource-type.js';
import { encodeAny, encodeDeltaFrame, encodeSotwFrame } from './wire.js';

interface ClientExpectation {
  resourceType: string;
  held?: Record<string, string>;
  updated?: string[];
  removed?: string[];
  notFound?: string[];
  refreshed?: string[];
  errors?: string[];
  ttlMs?: Record<string, number>;
}

interface GoldenFrame {
  name: string;
  type: string;
  source: string;
  wire: string[];
  expect: Record<string, unknown>;
  client: ClientExpectation;
}

const file = new URL('../../../conformance/xds/golden-frames.yaml', import.meta.url);
const vectors = parse(readFileSync(file, 'utf8')) as { cases: GoldenFrame[] };

function wireBytes(lines: string[]): Uint8Array {
  const bytes: number[] = [];
  for (const line of lines) {
    for (const token of line.replace(/#.*$/, '').match(/'[^']*'|[0-9a-fA-F]{2}/g) ?? []) {
      if (token.startsWith("'")) bytes.push(...Buffer.from(token.slice(1, -1), 'latin1'));
      else bytes.push(Number.parseInt(token, 16));
    }
  }
  return Uint8Array.from(bytes);
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const types: Record<string, ResourceType<unknown>> = {
  [authorizationType.typeUrl]: authorizationType as ResourceType<unknown>,
  [clusterType.typeUrl]: clusterType as ResourceType<unknown>,
};

describe('golden xDS frames', () => {
  for (const vector of vectors.cases) {
    const delta = vector.type.endsWith('DeltaDiscoveryResponse');
    it(`${delta ? 'delta' : 'SotW'}: ${vector.name}`, () => {
      const codec = codecFor(vector.type);
      const bytes = wireBytes(vector.wire);
      const decoded = codec.decode(bytes);
      expect(codec.toJson(decoded as never)).toEqual(vector.expect);

      // The server's writer, from parts encoded one by one.
      const controlPlane = (decoded as { controlPlane?: ControlPlane | null }).controlPlane;
      const parts = { controlPlane: controlPlane ? ControlPlane.encode(controlPlane) : undefined };
      const rebuilt = delta
        ? encodeDeltaFrame({
            ...(decoded as DeltaDiscoveryResponse),
            resources: (decoded as DeltaDiscoveryResponse).resources.map((r) => Resource.encode(r)),
            ...parts,
          })
        : encodeSotwFrame({
            ...(decoded as DiscoveryResponse),
            resources: (decoded as DiscoveryResponse).resources.map((a) => encodeAny(a.typeUrl, a.value)),
            ...parts,
          });
      expect(hex(rebuilt)).toBe(hex(bytes));

      // The client's reading of it.
      const want = vector.client;
      const type = types[`type.googleapis.com/${want.resourceType}`]!;
      const state = new ResourceState<unknown>();
      for (const [name, version] of Object.entries(want.held ?? {})) {
        state.put({ name, version, aliases: [], resource: type.decode(new Uint8Array()), updatedAt: 0 });
      }
      const out = delta
        ? processDelta(type, state, decoded as DeltaDiscoveryResponse, 1)
        : processSotw(type, state, new Map(), decoded as DiscoveryResponse, { wildcard: true, names: new Set() }, 1);
      expect({
        updated: out.updated.map((r) => r.name),
        removed: out.removed,
        notFound: out.notFound,
        refreshed: out.refreshed,
        errors: out.errors.map((e) => e.code),
      }).toEqual({
        updated: want.updated ?? [],
        removed: want.removed ?? [],
        notFound: want.notFound ?? [],
        refreshed: want.refreshed ?? [],
        errors: want.errors ?? [],
      });
      for (const [name, ttlMs] of Object.entries(want.ttlMs ?? {})) {
        expect(out.updated.find((r) => r.name === name)?.ttlMs).toBe(ttlMs);
      }
      // Every rejection names what it rejected, for the NACK's error_detail.
      for (const error of out.errors) expect(error.message).toMatch(/resource|index/);
    });
  }
});
