import { describe, expect, it } from 'vitest';
import { DerError, integer, oid, readOid, readRoot, readTime, readTlv, sequence, Tag, time } from './der.js';

describe('DER', () => {
  it('rejects truncation, indefinite and non-minimal lengths, trailing bytes', () => {
    expect(() => readTlv(Uint8Array.of(0x30), 0)).toThrow(DerError);
    expect(() => readTlv(Uint8Array.of(0x30, 0x05, 0x01), 0)).toThrow(/truncated/);
    expect(() => readTlv(Uint8Array.of(0x30, 0x80, 0x00, 0x00), 0)).toThrow(/indefinite/);
    expect(() => readTlv(Uint8Array.of(0x30, 0x81, 0x05, 1, 2, 3, 4, 5), 0)).toThrow(/non-minimal/);
    expect(() => readTlv(Uint8Array.of(0x30, 0x82, 0x00, 0x80), 0)).toThrow(/non-minimal/);
    expect(() => readTlv(Uint8Array.of(0x1f, 0x01, 0x00), 0)).toThrow(/multi-byte tag/);
    expect(() => readRoot(Uint8Array.of(0x30, 0x00, 0x00), Tag.SEQUENCE, 'x')).toThrow(/trailing/);
    expect(readRoot(sequence(Buffer.alloc(300)), Tag.SEQUENCE, 'x').end).toBe(304);
  });

  it('round-trips OIDs and INTEGERs', () => {
    for (const text of ['1.2.840.10045.4.3.2', '2.5.29.17', '1.3.6.1.4.1.99999.1', '2.999.3'])
      expect(readOid(oid(text), readTlv(oid(text), 0))).toBe(text);
    expect([...integer(0)]).toEqual([2, 1, 0]);
    expect([...integer(128)]).toEqual([2, 2, 0, 128]);
    expect([...integer(Uint8Array.of(0, 0, 1))]).toEqual([2, 1, 1]);
    expect([...integer(Uint8Array.of(0xff))]).toEqual([2, 2, 0, 0xff]);
  });

  it('writes UTCTime until 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', () => {
    for (const iso of [
      '1999-12-31T23:59:59Z',
      '2049-12-31T23:59:59Z',
      '2050-01-01T00:00:00Z',
      '9999-12-31T23:59:59Z',
    ]) {
      const der = time(Date.parse(iso));
      expect(der[0]).toBe(iso < '2050' ? Tag.UTC_TIME : Tag.GENERALIZED_TIME);
      expect(new Date(readTime(der, readTlv(der, 0))).toISOString()).toBe(iso.replace('Z', '.000Z'));
    }
    const bad = Buffer.from([Tag.UTC_TIME, 13, ...Buffer.from('260231000000Z')]);
    expect(() => readTime(bad, readTlv(bad, 0))).toThrow(/no such day/);
  });
});
