// A strict JSON reader for bundle documents: integers beyond 2^53 become bigint (spiffe_sequence must keep 64 bits,
// SPIFFE Trust Domain and Bundle §4.1.1) and duplicate object keys are an error (bundle maps must reject duplicate
// trust domains). JSON.parse can do neither on Node 20.

export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };

export class JsonError extends Error {
  override readonly name = 'JsonError';
}

export function parseJsonStrict(text: string, maxDepth = 64): Json {
  let at = 0;
  const ws = () => {
    while (at < text.length) {
      const c = text.charCodeAt(at);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) at++;
      else break;
    }
  };
  const fail = (what: string): never => {
    throw new JsonError(`${what} at offset ${at}`);
  };
  const value = (depth: number): Json => {
    if (depth > maxDepth) fail('nesting too deep');
    ws();
    const c = text[at];
    if (c === '{') {
      at++;
      const out: { [key: string]: Json } = {};
      ws();
      if (text[at] === '}') {
        at++;
        return out;
      }
      for (;;) {
        ws();
        if (text[at] !== '"') fail('expected a key');
        const key = string();
        if (Object.hasOwn(out, key)) fail(`duplicate key ${JSON.stringify(key)}`);
        ws();
        if (text[at++] !== ':') fail('expected ":"');
        Object.defineProperty(out, key, {
          value: value(depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        ws();
        const sep = text[at++];
        if (sep === '}') return out;
        if (sep !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      at++;
      const out: Json[] = [];
      ws();
      if (text[at] === ']') {
        at++;
        return out;
      }
      for (;;) {
        out.push(value(depth + 1));
        ws();
        const sep = text[at++];
        if (sep === ']') return out;
        if (sep !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', at)) return ((at += 4), true);
    if (text.startsWith('false', at)) return ((at += 5), false);
    if (text.startsWith('null', at)) return ((at += 4), null);
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(at, at + 400));
    if (!match) return fail('unexpected character');
    at += match[0].length;
    if (!match[2] && !match[3]) {
      const n = Number(match[0]);
      return Number.isSafeInteger(n) ? n : BigInt(match[0]);
    }
    return Number(match[0]);
  };
  const string = (): string => {
    const start = at;
    at++;
    let out = '';
    for (;;) {
      const c = text[at];
      if (c === undefined) return fail('unterminated string');
      if (c === '"') {
        at++;
        return out;
      }
      if (c === '\\') {
        const e = text[at + 1];
        const map: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (e === 'u') {
          const hex = text.slice(at + 2, at + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(Number.parseInt(hex, 16));
          at += 6;
        } else if (e !== undefined && map[e] !== undefined) {
          out += map[e];
          at += 2;
        } else fail('bad escape');
        continue;
      }
      if (c.charCodeAt(0) < 0x20) fail(`control character in string starting at ${start}`);
      out += c;
      at++;
    }
  };
  const result = value(0);
  ws();
  if (at !== text.length) fail('trailing characters');
  return result;
}

/** JSON.stringify that writes bigints as exact integers. */
export function stringifyJson(value: unknown, indent?: number): string {
  const marker = '\u0000bigint:';
  const text = JSON.stringify(
    value,
    (_key, v: unknown) => (typeof v === 'bigint' ? `${marker}${v.toString()}` : v),
    indent,
  );
  return text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1');
}
