// 32-bit hashing for consistent-hash load balancing: MurmurHash3 (x86_32) over UTF-16 code units. Deterministic across
// processes and platforms; not Envoy's xxHash64, so the host picked for a key differs from Envoy's (the stickiness
// properties are the same).
import type { HashPolicy } from '../destination-rule.js';
import type { RouteRequest } from '../decision.js';

export function hash32(text: string, seed = 0): number {
  let h = seed >>> 0;
  const n = text.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = (text.charCodeAt(i) & 0xffff) | ((text.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = text.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The hash key of a request under a DestinationRule consistentHash policy, or null when the request has no value for
 * it (Envoy then picks as if no hash policy were set: a random host). `sourceIp` is the downstream address.
 */
export function requestHash(policy: HashPolicy | null, request: RouteRequest, sourceIp?: string): number | null {
  if (!policy) return null;
  const headers = request.headers ?? {};
  const get = (name: string) => {
    const v = headers[name];
    return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
  };
  if (policy.header !== undefined) {
    const v = get(policy.header);
    return v === undefined ? null : hash32(v);
  }
  if (policy.cookie) {
    const cookies = get('cookie');
    if (cookies === undefined) return null;
    for (const part of cookies.split(/;\s*/)) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq) === policy.cookie.name) return hash32(part.slice(eq + 1));
    }
    return null;
  }
  if (policy.sourceIp) return sourceIp ? hash32(sourceIp) : null;
  if (policy.queryParameter !== undefined) {
    const q = request.path.indexOf('?');
    if (q === -1) return null;
    for (const part of request.path.slice(q + 1).split('&')) {
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      if (name === policy.queryParameter) return hash32(eq === -1 ? '' : part.slice(eq + 1));
    }
    return null;
  }
  return null;
}
