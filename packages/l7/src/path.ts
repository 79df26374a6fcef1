// Request path handling as Envoy's HTTP connection manager does it before routing (reference §1.12): split off the
// query, normalize the path (RFC 3986 dot segments, backslashes, unreserved percent-decoding; optionally merged
// slashes and decoded %2F/%5C), reject %00.

/** MeshConfig `pathNormalization.normalization`. `BASE` is Istio's default. */
export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** The normalized path, or `null` when Envoy would reject the request (400). The input has no query string. */
export function normalizePath(path: string, mode: PathNormalization = 'BASE'): string | null {
  // Fast path: nothing to decode, no backslash, no dot segment candidate, no doubled slash.
  let plain = path.charCodeAt(0) === 47;
  for (let i = 0; plain && i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 37 /* % */ || c === 92 /* \ */ || c === 46 /* . */ || (c === 47 && path.charCodeAt(i + 1) === 47))
      plain = false;
  }
  if (plain) return path;
  if (/%00/.test(path)) return null;
  if (mode === 'NONE') return path;
  let p = path;
  if (mode === 'DECODE_AND_MERGE_SLASHES') p = p.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  if (p.includes('%')) {
    p = p.replace(/%([0-9A-Fa-f]{2})/g, (_whole, hex: string) => {
      const ch = String.fromCharCode(Number.parseInt(hex, 16));
      return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    });
  }
  if (p.includes('\\')) p = p.replace(/\\/g, '/');
  if (mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES') p = p.replace(/\/{2,}/g, '/');
  if (p.includes('.')) p = removeDotSegments(p);
  if (!p.startsWith('/')) p = `/${p}`;
  return p;
}

/** RFC 3986 §5.2.4. */
export function removeDotSegments(path: string): string {
  if (!/(^|\/)\.\.?(\/|$)/.test(path)) return path;
  const input = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const seg = input[i]!;
    const last = i === input.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      if (out.length > 1) out.pop();
      if (last) out.push('');
    } else out.push(seg);
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/**
 * Query parameters as Envoy's route matcher sees them: `a=1&b&c=` → {a: '1', b: '', c: ''}; the first occurrence of a
 * name wins; names and values are not percent-decoded (Envoy compares the raw text).
 */
export function parseQuery(query: string): Map<string, string> {
  const params = new Map<string, string>();
  if (query.length === 0) return params;
  for (const part of query.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (!params.has(name)) params.set(name, eq === -1 ? '' : part.slice(eq + 1));
  }
  return params;
}
