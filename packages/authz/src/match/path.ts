// HTTP path handling as the waypoint's Envoy does it before authorization (policy-semantics §1.12), and the
// `paths` matchers of AuthorizationPolicy: wildcard forms and path templates ({*}, {**}).
import { parseStringMatch, matchString } from './strings.js';

/** MeshConfig `pathNormalization.normalization`. */
export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

export type NormalizedPath = { ok: true; path: string } | { ok: false; status: 400; reason: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;

function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : escape.toUpperCase();
  });
}

function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      if (out.length > 1) out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/**
 * The path authorization sees: the query string and fragment removed, then normalized per `mode` (default `BASE`:
 * backslashes become `/`, percent-encoded unreserved characters are decoded, dot segments are removed;
 * `MERGE_SLASHES` also merges `//`; `DECODE_AND_MERGE_SLASHES` first decodes `%2F` and `%5C`). A `%00` is rejected
 * with 400, as Envoy does.
 */
export function normalizePath(rawPath: string, mode: PathNormalization = 'BASE'): NormalizedPath {
  let path = rawPath;
  const q = path.search(/[?#]/);
  if (q !== -1) path = path.slice(0, q);
  // Nothing to normalize: no escapes, backslashes, dot segments or repeated slashes.
  if (!/[%\\]|\/\.|\/\//.test(path)) return { ok: true, path };
  if (/%00/.test(path)) return { ok: false, status: 400, reason: 'the path contains %00' };
  if (mode === 'NONE') return { ok: true, path };
  if (mode === 'DECODE_AND_MERGE_SLASHES') path = path.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  path = path.replace(/\\/g, '/');
  path = decodeUnreserved(path);
  path = removeDotSegments(path);
  if (mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES') path = path.replace(/\/{2,}/g, '/');
  return { ok: true, path };
}

/** Whether a `paths` value uses Envoy path-template operators. */
export function isPathTemplate(value: string): boolean {
  return value.includes('{*}') || value.includes('{**}');
}

// RFC 3986 pchar: what a literal segment of a path template may contain (Istio's CheckValidPathTemplate).
const VALID_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

/** Why a path template is invalid, or undefined when it is valid (Istio's validation rules). */
export function pathTemplateProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return 'a path template must start with "/"';
  let matchAnySeen = false;
  for (const segment of value.replace(/^\/+|\/+$/g, '').split('/')) {
    if (segment === '{*}' || segment === '{**}') {
      if (matchAnySeen) return '{**} must be the last operator';
      if (segment === '{**}') matchAnySeen = true;
      continue;
    }
    if (segment.includes('{') || segment.includes('}'))
      return `segment "${segment}" mixes an operator with other characters`;
    if (!VALID_LITERAL.test(segment)) {
      return segment.includes('*')
        ? 'a path template cannot also use * or ** wildcards'
        : `segment "${segment}" is not a valid literal (RFC 3986 pchar)`;
    }
  }
  return undefined;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A predicate over normalized paths for one `paths` value. */
export function pathPredicate(value: string): (path: string) => boolean {
  if (isPathTemplate(value)) {
    const body = value
      .slice(1)
      .split('/')
      .map((s) => (s === '{*}' ? '[^/]+' : s === '{**}' ? '.*' : escapeRegExp(s)))
      .join('/');
    const re = new RegExp(`^/${body}$`);
    return (path) => re.test(path);
  }
  const m = parseStringMatch(value);
  return (path) => matchString(m, path);
}
