// IPv4 and IPv6 addresses and CIDR ranges without per-request allocation: an address is parsed into four 32-bit words
// of a caller-owned scratch (IPv4 uses word 3; IPv4-mapped IPv6 addresses are treated as IPv4, as ztunnel does with
// its canonical socket addresses).

export interface ParsedAddress {
  v6: boolean;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
}

export function newParsedAddress(): ParsedAddress {
  return { v6: false, w0: 0, w1: 0, w2: 0, w3: 0 };
}

function parseIPv4At(text: string, start: number, end: number): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (octet < 0) return -1;
      value = value * 256 + octet;
      octet = -1;
      digits = 0;
      dots++;
      if (dots > 3) return -1;
    } else if (c >= 48 && c <= 57) {
      // Leading zeros are ambiguous (octal in some parsers); Go's netip rejects them, and so do we.
      if (digits > 0 && octet === 0) return -1;
      octet = (octet < 0 ? 0 : octet) * 10 + (c - 48);
      digits++;
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || octet < 0) return -1;
  return value * 256 + octet;
}

const hexValue = (c: number) =>
  c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;

// Scratch for the 8 groups of an IPv6 address; module-level state is safe in single-threaded JS and never escapes.
const groups = new Uint16Array(8);

function parseIPv6Into(text: string, out: ParsedAddress): boolean {
  let end = text.length;
  const zone = text.indexOf('%');
  if (zone !== -1) end = zone;
  let count = 0;
  let gap = -1;
  let i = 0;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
    if (i === end) {
      groups.fill(0);
      out.v6 = true;
      out.w0 = out.w1 = out.w2 = out.w3 = 0;
      return true;
    }
  } else if (text.charCodeAt(0) === 58) {
    return false;
  }
  while (i < end) {
    if (count >= 8) return false;
    // An embedded IPv4 tail (::ffff:1.2.3.4) takes two groups.
    let j = i;
    let value = 0;
    let digits = 0;
    while (j < end) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
      j++;
      if (digits > 4) return false;
    }
    if (j < end && text.charCodeAt(j) === 46) {
      const v4 = parseIPv4At(text, i, end);
      if (v4 < 0 || count > 6) return false;
      groups[count++] = Math.floor(v4 / 65536);
      groups[count++] = v4 % 65536;
      i = end;
      break;
    }
    if (digits === 0) return false;
    groups[count++] = value;
    if (j === end) {
      i = j;
      break;
    }
    if (text.charCodeAt(j) !== 58) return false;
    j++;
    if (j < end && text.charCodeAt(j) === 58) {
      if (gap >= 0) return false;
      gap = count;
      j++;
      if (j === end) {
        i = j;
        break;
      }
    } else if (j === end) {
      return false;
    }
    i = j;
  }
  if (gap >= 0) {
    if (count > 7) return false;
    const fill = 8 - count;
    for (let k = count - 1; k >= gap; k--) groups[k + fill] = groups[k]!;
    for (let k = gap; k < gap + fill; k++) groups[k] = 0;
  } else if (count !== 8) {
    return false;
  }
  out.v6 = true;
  out.w0 = groups[0]! * 65536 + groups[1]!;
  out.w1 = groups[2]! * 65536 + groups[3]!;
  out.w2 = groups[4]! * 65536 + groups[5]!;
  out.w3 = groups[6]! * 65536 + groups[7]!;
  // IPv4-mapped (::ffff:a.b.c.d) is the IPv4 address.
  if (out.w0 === 0 && out.w1 === 0 && out.w2 === 0xffff) out.v6 = false;
  return true;
}

/** Parses IPv4 or IPv6 text into `out`; false when it is not an address. Allocates nothing. */
export function parseAddressInto(text: string, out: ParsedAddress): boolean {
  if (text.length === 0) return false;
  if (text.indexOf(':') === -1) {
    const v4 = parseIPv4At(text, 0, text.length);
    if (v4 < 0) return false;
    out.v6 = false;
    out.w0 = out.w1 = 0;
    out.w2 = 0xffff;
    out.w3 = v4;
    return true;
  }
  return parseIPv6Into(text, out);
}

/** A CIDR with the address masked to its prefix. */
export interface Cidr {
  readonly v6: boolean;
  readonly prefix: number;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  /** Canonical text, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string;
}

const maskWord = (word: number, bits: number) => {
  if (bits >= 32) return word >>> 0;
  if (bits <= 0) return 0;
  return (word & (0xffffffff << (32 - bits))) >>> 0;
};

function formatAddress(a: ParsedAddress): string {
  if (!a.v6) return [a.w3 >>> 24, (a.w3 >>> 16) & 255, (a.w3 >>> 8) & 255, a.w3 & 255].join('.');
  const g = [a.w0, a.w1, a.w2, a.w3].flatMap((w) => [w >>> 16, w & 0xffff]);
  // Longest run of zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Parses `10.0.0.0/8`, `2001:db8::/32`, or a single address (a host prefix: /32 or /128). Returns undefined when
 * invalid. Host bits are masked (Envoy and ztunnel compare the network part only).
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const a = newParsedAddress();
  // IPv4-mapped text is still an IPv6 literal for prefix purposes; parse it as written.
  if (!parseAddressInto(addressText, a)) return undefined;
  const v6 = addressText.includes(':');
  const bitsMax = v6 ? 128 : 32;
  let prefix = bitsMax;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > bitsMax) return undefined;
  }
  if (!v6) {
    const w3 = maskWord(a.w3, prefix);
    const parsed = { v6: false, w0: 0, w1: 0, w2: 0xffff, w3 };
    return { ...parsed, prefix, text: `${formatAddress(parsed)}/${prefix}` };
  }
  // Re-read words as written (a mapped literal keeps its IPv6 form here).
  const words = [a.w0, a.w1, a.w2, a.w3];
  const masked = words.map((w, i) => maskWord(w, prefix - i * 32));
  const parsed = { v6: true, w0: masked[0]!, w1: masked[1]!, w2: masked[2]!, w3: masked[3]! };
  return { ...parsed, prefix, text: `${formatAddress(parsed)}/${prefix}` };
}

/** Whether the parsed address lies inside the CIDR (an IPv4 address never matches an IPv6 range and vice versa). */
export function cidrContains(cidr: Cidr, a: ParsedAddress): boolean {
  if (cidr.v6) {
    if (!a.v6) {
      // IPv4-mapped ranges (::ffff:0:0/96 and longer) contain the IPv4 addresses they map.
      if (cidr.prefix < 96 || cidr.w0 !== 0 || cidr.w1 !== 0 || cidr.w2 !== 0xffff) return false;
      return maskWord(a.w3, cidr.prefix - 96) === cidr.w3;
    }
    const p = cidr.prefix;
    return (
      maskWord(a.w0, p) === cidr.w0 &&
      maskWord(a.w1, p - 32) === cidr.w1 &&
      maskWord(a.w2, p - 64) === cidr.w2 &&
      maskWord(a.w3, p - 96) === cidr.w3
    );
  }
  if (a.v6) return false;
  return maskWord(a.w3, cidr.prefix) === cidr.w3;
}

/** Address bytes (4 or 16) of a CIDR's network, for the xDS form. */
export function cidrBytes(cidr: Cidr): Uint8Array {
  const words = cidr.v6 ? [cidr.w0, cidr.w1, cidr.w2, cidr.w3] : [cidr.w3];
  const out = new Uint8Array(words.length * 4);
  words.forEach((w, i) => {
    out[i * 4] = w >>> 24;
    out[i * 4 + 1] = (w >>> 16) & 255;
    out[i * 4 + 2] = (w >>> 8) & 255;
    out[i * 4 + 3] = w & 255;
  });
  return out;
}

/** The CIDR for address bytes and a prefix length from the xDS form; undefined if either is invalid (ztunnel skips those). */
export function cidrFromBytes(bytes: Uint8Array, length: number): Cidr | undefined {
  if (bytes.length !== 4 && bytes.length !== 16) return undefined;
  const parts: string[] = [];
  if (bytes.length === 4) {
    parts.push(Array.from(bytes).join('.'));
  } else {
    const g: string[] = [];
    for (let i = 0; i < 16; i += 2) g.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    parts.push(g.join(':'));
  }
  return parseCidr(`${parts[0]}/${length}`);
}
