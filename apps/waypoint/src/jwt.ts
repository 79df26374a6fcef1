// RequestAuthentication at the waypoint, as Envoy's jwt_authn filter runs it for Istio: a request without a token
// passes unauthenticated (AuthorizationPolicy decides); a token that fails validation is a 401; a valid one gives the
// claims to authorization (request principal <iss>/<sub>) and routing. Keys come from the rule's inline `jwks` or its
// `jwksUri` (http(s) or file), cached.
import { createPublicKey, verify as verifySignature, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Clock } from '@mesh/core';
import type { JwtRule, RequestAuthentication } from '@mesh/authz';

export type JwtOutcome =
  | { kind: 'none' }
  | { kind: 'valid'; claims: Record<string, unknown>; rule: JwtRule }
  | { kind: 'invalid'; reason: string };

const ALGS: Record<string, { hash: string; pss?: boolean; ec?: boolean }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', pss: true },
  PS384: { hash: 'sha384', pss: true },
  PS512: { hash: 'sha512', pss: true },
  ES256: { hash: 'sha256', ec: true },
  ES384: { hash: 'sha384', ec: true },
  ES512: { hash: 'sha512', ec: true },
};

const b64json = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;

interface KeySet {
  keys: { kid?: string; alg?: string; key: KeyObject }[];
  fetchedAt: number;
}

export class JwksCache {
  readonly #cache = new Map<string, KeySet>();
  readonly #clock: Clock;
  readonly #ttlMs: number;

  constructor(options: { clock: Clock; ttlMs?: number }) {
    this.#clock = options.clock;
    this.#ttlMs = options.ttlMs ?? 5 * 60_000;
  }

  static parse(text: string): KeySet['keys'] {
    const doc = JSON.parse(text) as { keys?: JsonWebKey[] };
    const out: KeySet['keys'] = [];
    for (const jwk of doc.keys ?? []) {
      try {
        out.push({
          ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}),
          ...(typeof jwk.alg === 'string' ? { alg: jwk.alg } : {}),
          key: createPublicKey({ key: jwk, format: 'jwk' }),
        });
      } catch {
        // Envoy skips keys it cannot use and keeps the others.
      }
    }
    return out;
  }

  async keys(rule: JwtRule): Promise<KeySet['keys']> {
    if (rule.jwks) return JwksCache.parse(rule.jwks);
    const uri = rule.jwksUri ?? rule.jwks_uri;
    if (!uri) return [];
    const hit = this.#cache.get(uri);
    if (hit && this.#clock.monotonic() - hit.fetchedAt < this.#ttlMs) return hit.keys;
    const text = uri.startsWith('file:')
      ? await readFile(fileURLToPath(uri), 'utf8')
      : uri.startsWith('/')
        ? await readFile(uri, 'utf8')
        : await (await fetch(uri, { signal: AbortSignal.timeout(5000) })).text();
    const keys = JwksCache.parse(text);
    this.#cache.set(uri, { keys, fetchedAt: this.#clock.monotonic() });
    return keys;
  }
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** The token of a request under a rule's locations (default: `Authorization: Bearer`). */
export function extractToken(rule: JwtRule, headers: Headers, path: string): string | null {
  const header = (name: string) => {
    const v = headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };
  const fromHeaders =
    rule.fromHeaders ?? (rule.fromParams || rule.fromCookies ? [] : [{ name: 'Authorization', prefix: 'Bearer ' }]);
  for (const h of fromHeaders) {
    const v = header(h.name);
    if (v === undefined) continue;
    if (h.prefix) {
      if (v.startsWith(h.prefix)) return v.slice(h.prefix.length).trim();
    } else return v.trim();
  }
  const q = path.indexOf('?');
  if (q >= 0 && rule.fromParams?.length) {
    const params = new URLSearchParams(path.slice(q + 1));
    for (const p of rule.fromParams) {
      const v = params.get(p);
      if (v) return v;
    }
  }
  if (rule.fromCookies?.length) {
    const cookies = header('cookie') ?? '';
    for (const part of cookies.split(';')) {
      const [k, ...rest] = part.trim().split('=');
      if (k && rule.fromCookies.includes(k)) return rest.join('=');
    }
  }
  return null;
}

/** Validates the request's token against the rules of the RequestAuthentications that apply. */
export async function authenticate(
  ras: readonly RequestAuthentication[],
  request: { headers: Headers; path: string },
  options: { jwks: JwksCache; clock: Clock },
): Promise<JwtOutcome> {
  const rules = ras.flatMap((ra) => ra.spec?.jwtRules ?? []);
  if (rules.length === 0) return { kind: 'none' };
  let token: string | null = null;
  for (const rule of rules) {
    token = extractToken(rule, request.headers, request.path);
    if (token) break;
  }
  if (!token) return { kind: 'none' };
  const parts = token.split('.');
  if (parts.length !== 3) return { kind: 'invalid', reason: 'Jwt is not in the form of Header.Payload.Signature' };
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = b64json(parts[0]!);
    claims = b64json(parts[1]!);
  } catch {
    return { kind: 'invalid', reason: 'Jwt header or payload is not base64url JSON' };
  }
  const rule = rules.find((r) => r.issuer === claims.iss);
  if (!rule) return { kind: 'invalid', reason: 'Jwt issuer is not configured' };
  const alg = ALGS[String(header.alg)];
  if (!alg) return { kind: 'invalid', reason: `Jwt algorithm ${String(header.alg)} is not supported` };
  const now = options.clock.now() / 1000;
  if (typeof claims.exp === 'number' && now >= claims.exp) return { kind: 'invalid', reason: 'Jwt is expired' };
  if (typeof claims.nbf === 'number' && now < claims.nbf) return { kind: 'invalid', reason: 'Jwt not yet valid' };
  if (rule.audiences?.length) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.some((a) => rule.audiences!.includes(String(a))))
      return { kind: 'invalid', reason: 'Audiences in Jwt are not allowed' };
  }
  let keys: Awaited<ReturnType<JwksCache['keys']>>;
  try {
    keys = await options.jwks.keys(rule);
  } catch (error) {
    return { kind: 'invalid', reason: `Jwks remote fetch is failed: ${(error as Error).message}` };
  }
  const candidates = keys.filter(
    (k) => (header.kid === undefined || k.kid === header.kid) && (!k.alg || k.alg === header.alg),
  );
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2]!, 'base64url');
  for (const { key } of candidates) {
    try {
      const ok = verifySignature(
        alg.hash,
        data,
        alg.ec
          ? { key, dsaEncoding: 'ieee-p1363' }
          : alg.pss
            ? { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -1 }
            : key,
        signature,
      );
      if (ok) return { kind: 'valid', claims, rule };
    } catch {
      // A key of the wrong type: try the next one.
    }
  }
  return { kind: 'invalid', reason: 'Jwt verification fails' };
}
