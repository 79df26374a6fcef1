// Istio's string forms: `abc` exact, `abc*` prefix, `*abc` suffix, `*` presence (a non-empty value).
// A `*` anywhere else is a literal character.

export type StringMatch =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'suffix'; readonly value: string }
  | { readonly kind: 'presence'; readonly value: '' };

/** The form Istio gives a policy value (the same rule istiod uses when it builds ztunnel's StringMatch). */
export function parseStringMatch(value: string): StringMatch {
  if (value === '*') return { kind: 'presence', value: '' };
  if (value.startsWith('*')) return { kind: 'suffix', value: value.slice(1) };
  if (value.endsWith('*')) return { kind: 'prefix', value: value.slice(0, -1) };
  return { kind: 'exact', value };
}

/** Writes a StringMatch back in policy form. */
export function formatStringMatch(match: StringMatch): string {
  switch (match.kind) {
    case 'presence':
      return '*';
    case 'prefix':
      return `${match.value}*`;
    case 'suffix':
      return `*${match.value}`;
    default:
      return match.value;
  }
}

export function matchString(match: StringMatch, input: string): boolean {
  switch (match.kind) {
    case 'exact':
      return input === match.value;
    case 'prefix':
      return input.startsWith(match.value);
    case 'suffix':
      return input.endsWith(match.value);
    default:
      return input.length > 0;
  }
}

/**
 * Matches `input.slice(start, end)` without creating that substring (the L4 path allocates nothing per connection).
 */
export function matchStringRange(match: StringMatch, input: string, start: number, end: number): boolean {
  const length = end - start;
  const v = match.value;
  switch (match.kind) {
    case 'exact':
      return length === v.length && input.startsWith(v, start);
    case 'prefix':
      return length >= v.length && input.startsWith(v, start);
    case 'suffix':
      return length >= v.length && input.startsWith(v, end - v.length);
    default:
      return length > 0;
  }
}

/** A predicate for one policy value; `ignoreCase` lower-cases both sides (HTTP hosts). */
export function stringPredicate(value: string, ignoreCase = false): (input: string) => boolean {
  const m = parseStringMatch(ignoreCase ? value.toLowerCase() : value);
  if (ignoreCase) return (input) => matchString(m, input.toLowerCase());
  return (input) => matchString(m, input);
}

/**
 * Whether `text` matches `pattern`, where every `*` matches any run of characters (including none) and everything else
 * is literal. Linear-time in practice (greedy with one backtrack point), never exponential like a backtracking regex.
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star !== -1) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}
