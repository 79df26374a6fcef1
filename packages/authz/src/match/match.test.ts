import { describe, expect, it } from 'vitest';
import { cidrBytes, cidrContains, cidrFromBytes, newParsedAddress, parseAddressInto, parseCidr } from './ip.js';
import { isPathTemplate, normalizePath, pathPredicate, pathTemplateProblem } from './path.js';
import {
  formatStringMatch,
  globMatch,
  matchString,
  matchStringRange,
  parseStringMatch,
  stringPredicate,
} from './strings.js';

const addr = (text: string) => {
  const a = newParsedAddress();
  if (!parseAddressInto(text, a)) throw new Error(`not an address: ${text}`);
  return a;
};

describe('string matching', () => {
  it('parses the four forms and round-trips them', () => {
    for (const [value, kind] of [
      ['abc', 'exact'],
      ['abc*', 'prefix'],
      ['*abc', 'suffix'],
      ['*', 'presence'],
    ] as const) {
      expect(parseStringMatch(value).kind).toBe(kind);
      expect(formatStringMatch(parseStringMatch(value))).toBe(value);
    }
    // A star in the middle is a literal character.
    expect(matchString(parseStringMatch('a*b'), 'a*b')).toBe(true);
    expect(matchString(parseStringMatch('a*b'), 'axb')).toBe(false);
    expect(matchString(parseStringMatch('*'), '')).toBe(false);
  });

  it('matches a range of a string without slicing it', () => {
    const id = 'cluster.local/ns/foo/sa/bar';
    const start = id.indexOf('/ns/') + 4;
    const end = id.indexOf('/sa/');
    expect(matchStringRange(parseStringMatch('foo'), id, start, end)).toBe(true);
    expect(matchStringRange(parseStringMatch('fo'), id, start, end)).toBe(false);
    expect(matchStringRange(parseStringMatch('f*'), id, start, end)).toBe(true);
    expect(matchStringRange(parseStringMatch('*oo'), id, start, end)).toBe(true);
    expect(matchStringRange(parseStringMatch('*foo/sa'), id, start, end)).toBe(false);
    expect(matchStringRange(parseStringMatch('*'), id, start, start)).toBe(false);
  });

  it('matches globs without exponential backtracking', () => {
    expect(globMatch('*/ns/foo/*', 'spiffe://td/ns/foo/sa/x')).toBe(true);
    expect(globMatch('*/ns/f*o/*', 'spiffe://td/ns/fabo/sa/x')).toBe(true);
    expect(globMatch('*/ns/foo/*', 'spiffe://td/ns/foobar/sa/x')).toBe(false);
    expect(globMatch('a*', 'a')).toBe(true);
    expect(globMatch('', '')).toBe(true);
    expect(globMatch('*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(300))).toBe(false);
  });

  it('lower-cases both sides when asked (hosts)', () => {
    expect(stringPredicate('Example.COM*', true)('example.com:80')).toBe(true);
    expect(stringPredicate('Example.COM')('example.com')).toBe(false);
  });
});

describe('IP addresses and CIDRs', () => {
  it('parses IPv4 and IPv6 text, rejecting malformed input', () => {
    for (const ok of [
      '10.0.0.1',
      '0.0.0.0',
      '255.255.255.255',
      '::',
      '::1',
      '2001:db8::1',
      'fe80::1%eth0',
      '1:2:3:4:5:6:7:8',
      '::ffff:1.2.3.4',
      '64:ff9b::1.2.3.4',
    ]) {
      expect(parseAddressInto(ok, newParsedAddress()), ok).toBe(true);
    }
    for (const bad of [
      '',
      '10.0.0',
      '10.0.0.256',
      '010.0.0.1',
      '1.2.3.4.5',
      '1::2::3',
      ':1',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      'g::1',
      'a.b.c.d',
      '1:2:3:4:5:6:7:1.2.3.4',
    ]) {
      expect(parseAddressInto(bad, newParsedAddress()), bad).toBe(false);
    }
    expect(addr('::ffff:10.1.2.3').v6).toBe(false);
  });

  it('masks host bits and prints canonical text', () => {
    expect(parseCidr('10.1.2.3/8')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('10.1.2.3')?.text).toBe('10.1.2.3/32');
    expect(parseCidr('2001:db8:0:0:1::5/64')?.text).toBe('2001:db8::/64');
    expect(parseCidr('2001:db8::1')?.text).toBe('2001:db8::1/128');
    expect(parseCidr('0.0.0.0/0')?.text).toBe('0.0.0.0/0');
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/08', 'x/8'])
      expect(parseCidr(bad), bad).toBeUndefined();
  });

  it('contains addresses of its own family only (IPv4-mapped ranges excepted)', () => {
    const v4 = parseCidr('10.0.0.0/8')!;
    expect(cidrContains(v4, addr('10.255.0.1'))).toBe(true);
    expect(cidrContains(v4, addr('11.0.0.1'))).toBe(false);
    expect(cidrContains(v4, addr('::ffff:10.0.0.1'))).toBe(true);
    expect(cidrContains(v4, addr('::a00:1'))).toBe(false);
    const v6 = parseCidr('2001:db8::/33')!;
    expect(cidrContains(v6, addr('2001:db8:7fff::1'))).toBe(true);
    expect(cidrContains(v6, addr('2001:db8:8000::1'))).toBe(false);
    expect(cidrContains(v6, addr('10.0.0.1'))).toBe(false);
    expect(cidrContains(parseCidr('::/0')!, addr('::1'))).toBe(true);
    expect(cidrContains(parseCidr('0.0.0.0/0')!, addr('1.2.3.4'))).toBe(true);
    expect(cidrContains(parseCidr('::ffff:0:0/96')!, addr('1.2.3.4'))).toBe(true);
    expect(cidrContains(parseCidr('ffff::/16')!, addr('ffff::1'))).toBe(true);
  });

  it('converts to and from the wire bytes', () => {
    for (const text of ['10.0.0.0/8', '192.168.1.7/32', '2001:db8::/32', 'ffff:ffff::1/128']) {
      const c = parseCidr(text)!;
      const back = cidrFromBytes(cidrBytes(c), c.prefix)!;
      expect(back.text).toBe(c.text);
    }
    expect(cidrFromBytes(Uint8Array.of(1, 2, 3), 24)).toBeUndefined();
    expect(cidrFromBytes(Uint8Array.of(1, 2, 3, 4), 40)).toBeUndefined();
  });
});

describe('paths', () => {
  it('normalizes as Envoy does by default (BASE)', () => {
    const n = (p: string, mode?: Parameters<typeof normalizePath>[1]) => {
      const r = normalizePath(p, mode);
      return r.ok ? r.path : `400 ${r.reason}`;
    };
    expect(n('/a/b?x=1#f')).toBe('/a/b');
    expect(n('/a/./b/../c')).toBe('/a/c');
    expect(n('/../../a')).toBe('/a');
    expect(n('/a/..')).toBe('/');
    expect(n('/a\\b')).toBe('/a/b');
    expect(n('/%61%7E/%2e%2E/x')).toBe('/x');
    expect(n('/%61%7e')).toBe('/a~');
    expect(n('/a%2fb')).toBe('/a%2Fb');
    expect(n('/a//b')).toBe('/a//b');
    expect(n('/a//b', 'MERGE_SLASHES')).toBe('/a/b');
    expect(n('/a%2F%2fb', 'DECODE_AND_MERGE_SLASHES')).toBe('/a/b');
    expect(n('/a/../b', 'NONE')).toBe('/a/../b');
    expect(n('/a%00')).toBe('400 the path contains %00');
  });

  it('matches templates and wildcard forms', () => {
    expect(isPathTemplate('/a/{*}')).toBe(true);
    expect(isPathTemplate('/a/*')).toBe(false);
    expect(pathPredicate('/a/{*}/c')('/a/b/c')).toBe(true);
    expect(pathPredicate('/a/{*}/c')('/a//c')).toBe(false);
    expect(pathPredicate('/a/{**}')('/a/b/c/d')).toBe(true);
    expect(pathPredicate('/a.b/{*}')('/axb/c')).toBe(false);
    expect(pathPredicate('/api*')('/apis')).toBe(true);
    expect(pathTemplateProblem('/a/{**}')).toBeUndefined();
    expect(pathTemplateProblem('a/{*}')).toMatch(/start with/);
    expect(pathTemplateProblem('/a/{**}/b')).toBeUndefined();
    expect(pathTemplateProblem('/a/{**}/{*}')).toMatch(/last operator/);
    expect(pathTemplateProblem('/a//{*}')).toMatch(/not a valid literal/);
    expect(pathTemplateProblem('/a b/{*}')).toMatch(/not a valid literal/);
    expect(pathPredicate('/a/{**}/b')('/a/x/y/b')).toBe(true);
  });
});
