// Runs conformance/hbone/headers.yaml (each case cites the reference section or spec it restates).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MeshError } from '@mesh/core';
import {
  buildConnectHeaders,
  buildConnectResponse,
  decodeConnectRequest,
  forwardedHost,
  formatAuthority,
  parseAuthority,
  parseBaggage,
  parseForwarded,
  parseTraceparent,
  type ConnectRequestSpec,
  type ConnectResponseSpec,
} from './headers.js';

const here = dirname(fileURLToPath(import.meta.url));
const vectors = parse(readFileSync(join(here, '../../../conformance/hbone/headers.yaml'), 'utf8'));

const label = (c: { name?: string; input?: unknown; source: string }) =>
  `${c.name ?? JSON.stringify(c.input)} — ${c.source}`;

describe('conformance/hbone/headers.yaml', () => {
  describe('authorities', () => {
    for (const c of vectors.authorities) {
      it(label(c), () => {
        if (c.error) {
          expect(() => parseAuthority(c.input, { allowHostname: !!c.allowHostname })).toThrow(
            expect.objectContaining({ code: c.error }),
          );
          return;
        }
        const a = parseAuthority(c.input, { allowHostname: !!c.allowHostname });
        expect(a).toEqual(c.expect);
        expect(formatAuthority(a)).toBe(
          c.canonical ??
            (c.expect.kind === 'ipv6' ? `[${c.expect.host}]:${c.expect.port}` : `${c.expect.host}:${c.expect.port}`),
        );
      });
    }
  });

  describe('connect requests (header lists, in order)', () => {
    for (const c of vectors.connect_requests) {
      it(label(c), () => {
        expect(Object.entries(buildConnectHeaders(c.spec as ConnectRequestSpec))).toEqual(c.headers);
      });
    }
  });

  describe('decoding CONNECT requests', () => {
    for (const c of vectors.connect_decode) {
      it(label(c), () => {
        const result = decodeConnectRequest(c.headers, { allowHostname: !!c.allowHostname });
        if (c.status) {
          expect(result).toMatchObject({ ok: false, status: c.status });
          return;
        }
        if (!result.ok) throw new Error(result.reason);
        expect(result.request).toMatchObject(c.expect);
        if (!('traceparent' in c.expect)) expect(result.request.traceparent).toBeUndefined();
      });
    }
  });

  describe('forwarded host (ztunnel semantics)', () => {
    for (const c of vectors.forwarded_host) {
      it(label(c), () => expect(forwardedHost(c.input) ?? null).toBe(c.expect));
    }
  });

  describe('forwarded parsing (RFC 7239)', () => {
    for (const c of vectors.forwarded_parse) {
      it(label(c), () => {
        if (c.error) expect(() => parseForwarded(c.input)).toThrow(expect.objectContaining({ code: c.error }));
        else expect(parseForwarded(c.input)).toEqual(c.expect);
      });
    }
  });

  describe('baggage parsing', () => {
    for (const c of vectors.baggage_parse) it(label(c), () => expect(parseBaggage(c.input)).toEqual(c.expect));
  });

  describe('traceparent parsing', () => {
    for (const c of vectors.traceparent)
      it(label(c), () => expect(parseTraceparent(c.input) ?? null).toEqual(c.expect));
  });

  describe('CONNECT responses', () => {
    for (const c of vectors.connect_responses) {
      it(label(c), () =>
        expect(Object.entries(buildConnectResponse(c.spec as ConnectResponseSpec))).toEqual(c.headers),
      );
    }
  });

  it('errors are MeshErrors with stable codes', () => {
    try {
      parseAuthority('nope');
    } catch (e) {
      expect(MeshError.is(e, 'ERR_HBONE_BAD_AUTHORITY')).toBe(true);
    }
  });
});
