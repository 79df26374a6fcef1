// Golden bytes: conformance/api/golden-bytes.yaml holds messages encoded by hand from the field tables.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MeshError } from '@mesh/core';
import { codecFor } from './runtime.js';

interface GoldenCase {
  name: string;
  type: string;
  source: string;
  wire: string[];
  expect: Record<string, unknown>;
}

const file = new URL('../../../conformance/api/golden-bytes.yaml', import.meta.url);
const vectors = parse(readFileSync(file, 'utf8')) as { cases: GoldenCase[]; malformed: Omit<GoldenCase, 'expect'>[] };

/** Hex byte pairs and 'quoted ASCII', with "# comments" ignored. */
export function wireBytes(lines: string[]): Uint8Array {
  const bytes: number[] = [];
  for (const line of lines) {
    const code = line.replace(/#.*$/, '');
    for (const token of code.match(/'[^']*'|[0-9a-fA-F]{2}/g) ?? []) {
      if (token.startsWith("'")) bytes.push(...Buffer.from(token.slice(1, -1), 'latin1'));
      else bytes.push(Number.parseInt(token, 16));
    }
  }
  return Uint8Array.from(bytes);
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('golden bytes', () => {
  for (const vector of vectors.cases) {
    it(`${vector.type}: ${vector.name}`, () => {
      const codec = codecFor(vector.type);
      const bytes = wireBytes(vector.wire);
      const decoded = codec.decode(bytes);
      expect(codec.toJson(decoded as never)).toEqual(vector.expect);
      expect(hex(codec.encode(decoded as never))).toBe(hex(bytes));
      // The JSON form is lossless too: it encodes back to the same bytes.
      expect(hex(codec.encode(codec.fromJson(vector.expect) as never))).toBe(hex(bytes));
    });
  }

  for (const vector of vectors.malformed) {
    it(`rejects ${vector.type}: ${vector.name}`, () => {
      const codec = codecFor(vector.type);
      const bytes = wireBytes(vector.wire);
      // Both as a Uint8Array and as a Node Buffer (what gRPC hands over; protobufjs reads it with another reader).
      for (const input of [bytes, Buffer.from(bytes)]) {
        expect(() => codec.decode(input)).toThrowError(
          expect.toSatisfy((e) => MeshError.is(e, 'ERR_API_DECODE') && String(e).includes(vector.type)),
        );
      }
    });
  }

  it('parses the wire notation', () => {
    expect(hex(wireBytes(["0a 02 'hi' # comment with 'quotes' and ff"]))).toBe('0a026869');
  });
});
