// Verifying bearer JWTs (Kubernetes service account tokens, OIDC tokens) against a JWKS with node:crypto: JWS compact
// serialization, an asymmetric algorithm allow-list, exp/nbf with leeway, audience and issuer checks.
import { createPublicKey, verify, constants, type KeyObject, type JsonWebKey } from 'node:crypto';

export class JwtError extends Error {
  override readonly name = 'JwtError';
}

export type JwtClaims = Record<string, unknown> & {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
};

export interface Jwks {
  keys: ReadonlyArray<JsonWebKey & { kid?: string; alg?: string; use?: string }>;
}

/** The JWS algorithms accepted (the JWT-SVID list): never `none`, never HMAC. */
const ALGORITHMS: Record<string, { hash: string; kty: string; pss?: boolean; ec?: boolean }> = {
  RS256: { hash: 'sha256', kty: 'RSA' },
  RS384: { hash: 'sha384', kty: 'RSA' },
  RS512: { hash: 'sha512', kty: 'RSA' },
  PS256: { hash: 'sha256', kty: 'RSA', pss: true },
  PS384: { hash: 'sha384', kty: 'RSA', pss: true },
  PS512: { hash: 'sha512', kty: 'RSA', pss: true },
  ES256: { hash: 'sha256', kty: 'EC', ec: true },
  ES384: { hash: 'sha384', kty: 'EC', ec: true },
  ES512: { hash: 'sha512', kty: 'EC', ec: true },
};

function decodeJson(part: string, what: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new JwtError(`${what} is not base64url`);
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new JwtError(`${what} is not a JSON object`);
  }
}

export interface VerifyJwtOptions {
  jwks: Jwks;
  /** Accepted audiences; the token's aud must contain one of them. */
  audiences: readonly string[];
  /** Accepted issuers; any when omitted. */
  issuers?: readonly string[];
  /** Epoch milliseconds. */
  now: number;
  /** Clock skew allowance for exp and nbf; default 60 s. */
  leewayMs?: number;
}

const keyCache = new WeakMap<object, KeyObject>();
function keyOf(jwk: JsonWebKey): KeyObject {
  let key = keyCache.get(jwk);
  if (!key) {
    key = createPublicKey({ key: jwk, format: 'jwk' });
    keyCache.set(jwk, key);
  }
  return key;
}

/** Verifies a compact JWS and its registered claims; returns the claims. Throws JwtError with the reason. */
export function verifyJwt(token: string, options: VerifyJwtOptions): JwtClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('not a compact JWS (three dot-separated parts)');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart, 'header');
  const alg = typeof header.alg === 'string' ? header.alg : '';
  const spec = ALGORITHMS[alg];
  if (!spec) throw new JwtError(`algorithm ${JSON.stringify(header.alg)} is not accepted`);
  if (header.crit !== undefined) throw new JwtError('critical header parameters are not supported');
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const candidates = options.jwks.keys.filter(
    (k) =>
      k.kty === spec.kty &&
      (k.use === undefined || k.use === 'sig' || k.use === 'jwt-svid') &&
      (k.alg === undefined || k.alg === alg) &&
      (kid === undefined || k.kid === kid),
  );
  if (candidates.length === 0) throw new JwtError(`no key${kid ? ` with kid ${kid}` : ''} for ${alg}`);
  if (!/^[A-Za-z0-9_-]+$/.test(signaturePart)) throw new JwtError('signature is not base64url');
  const signature = Buffer.from(signaturePart, 'base64url');
  const data = Buffer.from(`${headerPart}.${payloadPart}`);
  const verified = candidates.some((jwk) => {
    try {
      const key = keyOf(jwk);
      return verify(
        spec.hash,
        data,
        spec.ec
          ? { key, dsaEncoding: 'ieee-p1363' }
          : spec.pss
            ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
            : key,
        signature,
      );
    } catch {
      return false;
    }
  });
  if (!verified) throw new JwtError('signature does not verify');
  const claims = decodeJson(payloadPart, 'payload') as JwtClaims;
  const leeway = options.leewayMs ?? 60_000;
  if (typeof claims.exp !== 'number') throw new JwtError('exp is missing');
  if (options.now - leeway >= claims.exp * 1000) throw new JwtError('token expired');
  if (typeof claims.nbf === 'number' && options.now + leeway < claims.nbf * 1000)
    throw new JwtError('token not valid yet');
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (!aud.some((a) => options.audiences.includes(a)))
    throw new JwtError(`audience ${JSON.stringify(claims.aud)} is not one of ${options.audiences.join(', ')}`);
  if (options.issuers && !options.issuers.includes(claims.iss ?? ''))
    throw new JwtError(`issuer ${JSON.stringify(claims.iss)} is not accepted`);
  return claims;
}
