// RE2 regular expressions with Envoy's semantics: a match is a full match of the value, evaluation is linear time
// (re2js, a pure-JavaScript port of RE2/J: no backtracking, no native addon). See docs/DECISIONS.md.
import { RE2JS } from 're2js';
import { L7Error } from './errors.js';

export interface Re2 {
  readonly source: string;
  /** True when the whole of `value` matches (Envoy's safe_regex semantics). */
  matches(value: string): boolean;
  /** RE2 GlobalReplace: every non-overlapping match replaced; `\1`…`\9` in `rewrite` are capture groups. */
  replaceAll(value: string, rewrite: string): string;
}

const cache = new Map<string, Re2>();

/** The RE2 syntax error for `pattern`, or `undefined` when it compiles. */
export function re2SyntaxError(pattern: string): string | undefined {
  try {
    compileRe2(pattern);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Compiles `pattern` as RE2. Throws ERR_L7_INVALID_REGEX (with `field` in the message) for syntax RE2 does not have,
 * such as lookarounds and backreferences. Compiled patterns are shared: compile once, match many times.
 */
export function compileRe2(pattern: string, field = 'regex'): Re2 {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (error) {
    const reason = (error as Error).message.replace(/^error parsing regexp: /, '');
    throw new L7Error('ERR_L7_INVALID_REGEX', `${field}: ${JSON.stringify(pattern)} is not RE2: ${reason}`, {
      cause: error,
      details: { path: field, pattern },
    });
  }
  const compiled: Re2 = {
    source: pattern,
    matches: (value) => re.matches(value),
    replaceAll: (value, rewrite) => re.matcher(value).replaceAll(toJavaReplacement(rewrite)),
  };
  if (cache.size > 10_000) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

/** RE2's `\1` group references become re2js's `$1`; a literal `$` is escaped. */
function toJavaReplacement(rewrite: string): string {
  let out = '';
  for (let i = 0; i < rewrite.length; i++) {
    const c = rewrite[i]!;
    if (c === '\\' && i + 1 < rewrite.length) {
      const next = rewrite[i + 1]!;
      if (next >= '0' && next <= '9') out += `$${next}`;
      else out += next === '$' ? '\\$' : next === '\\' ? '\\\\' : next;
      i++;
    } else if (c === '$') out += '\\$';
    else out += c;
  }
  return out;
}
