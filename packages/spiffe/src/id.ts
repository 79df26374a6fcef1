// SPIFFE IDs and trust domains, parsed exactly per SPIFFE-ID §2 with one error code per rule.
import { SpiffeError, type SpiffeErrorCode } from './errors.js';

/** SPIFFE-ID §2.3: IDs up to 2048 bytes must be accepted, and none longer may be created. */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** SPIFFE-ID §2.3: the trust domain is a URI host, at most 255 bytes. */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const SCHEME = 'spiffe://';

// Character classes as lookup tables over ASCII.
const TD_CHARS = new Uint8Array(128);
const PATH_CHARS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[a-z0-9._-]/.test(ch)) TD_CHARS[c] = 1;
  if (/[a-zA-Z0-9._-]/.test(ch)) PATH_CHARS[c] = 1;
}

function fail(code: SpiffeErrorCode, message: string, input: string): never {
  throw new SpiffeError(code, message, { details: { input: input.length > 300 ? `${input.slice(0, 300)}…` : input } });
}

const describeChar = (c: string) => (c === '\n' ? 'a newline' : c === ' ' ? 'a space' : JSON.stringify(c));

/** Checks trust domain characters of `text[from, to)`; `input` is what the caller passed (for messages). */
function checkTrustDomain(text: string, from: number, to: number, input: string): void {
  // user:password@host fails on the userinfo rule, not on the colon.
  let authorityEnd = to;
  for (const stop of ['?', '#']) {
    const i = text.indexOf(stop, from);
    if (i !== -1 && i < authorityEnd) authorityEnd = i;
  }
  const at = text.indexOf('@', from);
  if (at !== -1 && at < authorityEnd)
    fail('ERR_SPIFFE_ID_USERINFO', 'trust domain cannot have a userinfo part (user@)', input);
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 128 && TD_CHARS[c]) continue;
    const ch = text[i]!;
    if (c >= 65 && c <= 90) fail('ERR_SPIFFE_TRUST_DOMAIN_CASE', 'trust domain must be lowercase', input);
    if (ch === ':') fail('ERR_SPIFFE_ID_PORT', 'trust domain cannot have a port or a colon', input);
    if (ch === '%') fail('ERR_SPIFFE_ID_PERCENT_ENCODED', 'trust domain cannot contain percent-encoding', input);
    if (ch === '?') fail('ERR_SPIFFE_ID_QUERY', 'SPIFFE ID cannot have a query', input);
    if (ch === '#') fail('ERR_SPIFFE_ID_FRAGMENT', 'SPIFFE ID cannot have a fragment', input);
    fail(
      'ERR_SPIFFE_TRUST_DOMAIN_CHAR',
      `trust domain characters are limited to lowercase letters, numbers, dots, dashes and underscores (found ${describeChar(ch)})`,
      input,
    );
  }
  if (to === from) fail('ERR_SPIFFE_TRUST_DOMAIN_MISSING', 'trust domain is missing', input);
  if (to - from > MAX_TRUST_DOMAIN_BYTES)
    fail('ERR_SPIFFE_TRUST_DOMAIN_TOO_LONG', `trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`, input);
}

/** Checks a path `text[from, end)` that starts with '/' (or is empty). */
function checkPath(text: string, from: number, input: string): void {
  const end = text.length;
  let segmentStart = from + 1;
  for (let i = from + 1; i <= end; i++) {
    if (i === end || text.charCodeAt(i) === 47 /* / */) {
      const length = i - segmentStart;
      if (length === 0) {
        if (i === end) fail('ERR_SPIFFE_PATH_TRAILING_SLASH', 'path cannot have a trailing slash', input);
        fail('ERR_SPIFFE_PATH_EMPTY_SEGMENT', 'path cannot contain empty segments', input);
      }
      if (
        text.charCodeAt(segmentStart) === 46 &&
        (length === 1 || (length === 2 && text.charCodeAt(segmentStart + 1) === 46))
      )
        fail('ERR_SPIFFE_PATH_DOT_SEGMENT', 'path cannot contain dot segments', input);
      segmentStart = i + 1;
      continue;
    }
    const c = text.charCodeAt(i);
    if (c < 128 && PATH_CHARS[c]) continue;
    const ch = text[i]!;
    if (ch === '%') fail('ERR_SPIFFE_ID_PERCENT_ENCODED', 'path cannot contain percent-encoding', input);
    if (ch === '?') fail('ERR_SPIFFE_ID_QUERY', 'SPIFFE ID cannot have a query', input);
    if (ch === '#') fail('ERR_SPIFFE_ID_FRAGMENT', 'SPIFFE ID cannot have a fragment', input);
    fail(
      'ERR_SPIFFE_PATH_CHAR',
      `path segment characters are limited to letters, numbers, dots, dashes and underscores (found ${describeChar(ch)})`,
      input,
    );
  }
}

function byteLength(text: string): number {
  // Fast path: every character below U+0080 is one byte.
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) return Buffer.byteLength(text, 'utf8');
  return text.length;
}

/** Splits and validates; returns [trustDomain, path] in canonical form. */
function parseIdParts(input: string): [string, string] {
  if (typeof input !== 'string') throw new TypeError('a SPIFFE ID must be a string');
  if (input.length === 0) fail('ERR_SPIFFE_ID_EMPTY', 'SPIFFE ID cannot be empty', input);
  if (input.length > MAX_SPIFFE_ID_BYTES || byteLength(input) > MAX_SPIFFE_ID_BYTES)
    fail('ERR_SPIFFE_ID_TOO_LONG', `SPIFFE ID is longer than ${MAX_SPIFFE_ID_BYTES} bytes`, input);
  // SPIFFE-ID §2.4: the scheme is case-insensitive; its canonical form is lowercase.
  if (!input.startsWith(SCHEME) && input.slice(0, SCHEME.length).toLowerCase() !== SCHEME)
    fail('ERR_SPIFFE_ID_SCHEME', 'scheme is missing or invalid: a SPIFFE ID starts with spiffe://', input);
  const slash = input.indexOf('/', SCHEME.length);
  const tdEnd = slash === -1 ? input.length : slash;
  checkTrustDomain(input, SCHEME.length, tdEnd, input);
  if (slash !== -1) checkPath(input, slash, input);
  return [input.slice(SCHEME.length, tdEnd), slash === -1 ? '' : input.slice(slash)];
}

/** A SPIFFE trust domain name (SPIFFE-ID §2.1). Compare with `equals` or by `name`. */
export class TrustDomain {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * Parses a trust domain name (`example.org`) or the path-less ID form (`spiffe://example.org`).
   * Throws SpiffeError with the code of the rule broken.
   */
  static parse(input: string | TrustDomain): TrustDomain {
    if (input instanceof TrustDomain) return input;
    if (typeof input !== 'string') throw new TypeError('a trust domain must be a string');
    if (input.includes('://') || input.slice(0, SCHEME.length).toLowerCase() === SCHEME) {
      const [td, path] = parseIdParts(input);
      if (path !== '')
        fail('ERR_SPIFFE_TRUST_DOMAIN_CHAR', 'a trust domain cannot have a path (did you pass a SPIFFE ID?)', input);
      return new TrustDomain(td);
    }
    if (input.length === 0) fail('ERR_SPIFFE_ID_EMPTY', 'trust domain cannot be empty', input);
    const slash = input.indexOf('/');
    checkTrustDomain(input, 0, slash === -1 ? input.length : slash, input);
    if (slash !== -1) fail('ERR_SPIFFE_TRUST_DOMAIN_CHAR', 'a trust domain cannot contain a slash', input);
    return new TrustDomain(input);
  }

  /** The path-less SPIFFE ID of this trust domain: spiffe://<name>. */
  get id(): SpiffeId {
    return SpiffeId.fromPath(this, '');
  }

  /** Builds an ID in this trust domain from path segments, each validated. */
  idFromSegments(...segments: string[]): SpiffeId {
    return SpiffeId.fromSegments(this, ...segments);
  }

  equals(other: TrustDomain | string): boolean {
    return this.name === (typeof other === 'string' ? other : other.name);
  }

  toString(): string {
    return this.name;
  }

  toJSON(): string {
    return this.name;
  }
}

/** A SPIFFE ID (SPIFFE-ID §2): immutable, canonical (lowercase scheme), compared by its string form. */
export class SpiffeId {
  readonly trustDomain: TrustDomain;
  /** The path, '' or starting with '/'. Case-sensitive. */
  readonly path: string;
  readonly #text: string;

  private constructor(trustDomain: TrustDomain, path: string) {
    this.trustDomain = trustDomain;
    this.path = path;
    this.#text = `${SCHEME}${trustDomain.name}${path}`;
  }

  /** Parses and validates a SPIFFE ID. Throws SpiffeError whose code names the rule broken (ERR_SPIFFE_*). */
  static parse(input: string | SpiffeId): SpiffeId {
    if (input instanceof SpiffeId) return input;
    const [td, path] = parseIdParts(input);
    return new SpiffeId(trustedTrustDomain(td), path);
  }

  /** Like `parse`, but returns undefined instead of throwing. */
  static tryParse(input: string): SpiffeId | undefined {
    try {
      return SpiffeId.parse(input);
    } catch (error) {
      if (error instanceof SpiffeError) return undefined;
      throw error;
    }
  }

  /** An ID from a trust domain and a path that is '' or starts with '/'. */
  static fromPath(trustDomain: TrustDomain | string, path: string): SpiffeId {
    const td = TrustDomain.parse(trustDomain);
    if (path !== '' && !path.startsWith('/'))
      fail('ERR_SPIFFE_PATH_CHAR', 'a SPIFFE ID path must be empty or start with a slash', path);
    const text = `${SCHEME}${td.name}${path}`;
    if (byteLength(text) > MAX_SPIFFE_ID_BYTES)
      fail('ERR_SPIFFE_ID_TOO_LONG', `SPIFFE ID is longer than ${MAX_SPIFFE_ID_BYTES} bytes`, text);
    if (path !== '') checkPath(path, 0, text);
    return new SpiffeId(td, path);
  }

  /** An ID from path segments (without slashes), e.g. `fromSegments(td, 'ns', 'default', 'sa', 'web')`. */
  static fromSegments(trustDomain: TrustDomain | string, ...segments: string[]): SpiffeId {
    for (const segment of segments)
      if (segment.includes('/')) fail('ERR_SPIFFE_PATH_CHAR', 'a path segment cannot contain a slash', segment);
    return SpiffeId.fromPath(trustDomain, segments.map((s) => `/${s}`).join(''));
  }

  /** Path segments without slashes; [] for a path-less ID. */
  get segments(): string[] {
    return this.path === '' ? [] : this.path.slice(1).split('/');
  }

  isMemberOf(trustDomain: TrustDomain | string): boolean {
    return this.trustDomain.equals(typeof trustDomain === 'string' ? trustDomain : trustDomain.name);
  }

  equals(other: SpiffeId | string): boolean {
    return this.#text === (typeof other === 'string' ? other : other.#text);
  }

  toString(): string {
    return this.#text;
  }

  toJSON(): string {
    return this.#text;
  }
}

// For names parseIdParts already validated.
const trustedTrustDomain = (name: string) => new (TrustDomain as unknown as new (name: string) => TrustDomain)(name);

/** True when `input` is a valid SPIFFE ID. */
export function isSpiffeId(input: string): boolean {
  return SpiffeId.tryParse(input) !== undefined;
}
