import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { Struct } from './gen/google.protobuf.js';
import { Authorization, StringMatch } from './gen/istio.security.js';
import { Address, Workload } from './gen/istio.workload.js';
import {
  codecFor,
  durationFromMillis,
  durationToMillis,
  fromStruct,
  int64ToNumber,
  packAny,
  toStruct,
  typeNameOfUrl,
  unpackAny,
} from './runtime.js';

describe('codecs', () => {
  it('know their names and type URLs', () => {
    expect(Address.typeName).toBe('istio.workload.Address');
    expect(Address.typeUrl).toBe('type.googleapis.com/istio.workload.Address');
    expect(codecFor('type.googleapis.com/istio.security.Authorization')).toBeDefined();
    expect(() => codecFor('no.such.Type')).toThrowError(
      expect.toSatisfy((e) => MeshError.is(e, 'ERR_API_UNKNOWN_TYPE')),
    );
  });

  it('create() derives full messages whose nested fields read defaults', () => {
    const workload = Workload.create({ uid: 'u', waypoint: { hboneMtlsPort: 15008 } });
    expect(workload.waypoint?.hboneMtlsPort).toBe(15008);
    expect(workload.waypoint?.address).toBeNull();
    expect(workload.addresses).toEqual([]);
    expect(workload.tunnelProtocol).toBe(0);
  });

  it('exposes which oneof member is set', () => {
    const match = StringMatch.decode(StringMatch.encode({ suffix: '/sa/admin' }));
    expect(match.matchType).toBe('suffix');
    expect(match.suffix).toBe('/sa/admin');
    expect(StringMatch.decode(new Uint8Array()).matchType).toBeUndefined();
  });

  it('verify() names the problem', () => {
    expect(Authorization.verify({ name: 'x', action: 1 })).toBeNull();
    expect(Authorization.verify({ name: 7 })).toMatch(/name/);
    expect(Authorization.verify('nope')).toMatch(/object expected/);
  });

  it('toJson uses enum names and omits defaults', () => {
    expect(Authorization.toJson({ name: 'p', action: 1, scope: 0 })).toEqual({
      name: 'p',
      action: 'DENY',
      scope: 'GLOBAL',
    });
    expect(Authorization.toJson(Authorization.decode(Authorization.encode({ name: 'p' })))).toEqual({ name: 'p' });
  });
});

describe('Any', () => {
  it('packs and unpacks, refusing another type', () => {
    const any = packAny(Authorization, { name: 'p', namespace: 'ns' });
    expect(any.typeUrl).toBe('type.googleapis.com/istio.security.Authorization');
    expect(unpackAny(any, Authorization).namespace).toBe('ns');
    expect(() => unpackAny(any, Address)).toThrowError(
      expect.toSatisfy((e) => MeshError.is(e, 'ERR_API_ANY_TYPE_MISMATCH')),
    );
    expect(typeNameOfUrl(any.typeUrl)).toBe('istio.security.Authorization');
  });
});

describe('Struct, Duration, int64', () => {
  it('round-trips JSON through Struct on the wire', () => {
    const json = {
      NAME: 'z',
      INSTANCE_IPS: '10.0.0.1',
      n: 3,
      ok: true,
      none: null,
      list: ['a', 1],
      nested: { x: 'y' },
    };
    const decoded = Struct.decode(Struct.encode(toStruct(json)));
    expect(fromStruct(decoded)).toEqual(json);
    expect(fromStruct(null)).toEqual({});
  });

  it('converts durations and 64-bit integers', () => {
    expect(durationFromMillis(1_500)).toEqual({ seconds: 1, nanos: 500_000_000 });
    expect(durationToMillis({ seconds: 2, nanos: 250_000_000 })).toBe(2_250);
    expect(durationToMillis(null)).toBe(0);
    expect(int64ToNumber(undefined)).toBe(0);
    expect(int64ToNumber(42)).toBe(42);
  });
});
