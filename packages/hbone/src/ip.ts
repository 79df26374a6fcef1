// IP address text: strict parsing (as Rust's std parser: no leading zeros in IPv4, no zones in IPv6) and canonical
// formatting (RFC 5952). Pure.

/** Parses a dotted-quad IPv4 address strictly (no leading zeros, as Rust's std parser); undefined if it is not one. */
export function parseIpv4Octets(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    octets.push(n);
  }
  return octets;
}

/** Parses an IPv6 address (no zone) into 8 16-bit groups; undefined if it is not one. */
export function parseIpv6Groups(text: string): number[] | undefined {
  if (text.length < 2 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseSide = (side: string, allowV4Tail: boolean): number[] | undefined => {
    if (side === '') return [];
    const pieces = side.split(':');
    const groups: number[] = [];
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (allowV4Tail && i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4Octets(piece);
        if (!v4) return undefined;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
      groups.push(Number.parseInt(piece, 16));
    }
    return groups;
  };
  if (halves.length === 1) {
    const groups = parseSide(halves[0]!, true);
    return groups && groups.length === 8 ? groups : undefined;
  }
  const head = parseSide(halves[0]!, false);
  const tail = parseSide(halves[1]!, true);
  if (!head || !tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 text of 8 groups: lower case, the longest run (≥ 2) of zero groups compressed, v4-mapped in mixed form. */
export function formatIpv6Groups(groups: readonly number[]): string {
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  }
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLength < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The canonical text of an IP address (IPv4 dotted quad; IPv6 per RFC 5952), or undefined if `text` is not one. */
export function canonicalIp(text: string): { kind: 'ipv4' | 'ipv6'; address: string } | undefined {
  const v4 = parseIpv4Octets(text);
  if (v4) return { kind: 'ipv4', address: v4.join('.') };
  const v6 = parseIpv6Groups(text);
  if (v6) return { kind: 'ipv6', address: formatIpv6Groups(v6) };
  return undefined;
}

/** The 4 or 16 bytes of an IP address; `asV6` maps IPv4 into ::ffff:0:0/96. */
export function ipBytes(text: string, asV6 = false): Uint8Array | undefined {
  const v4 = parseIpv4Octets(text);
  if (v4) return asV6 ? Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4) : Uint8Array.from(v4);
  const v6 = parseIpv6Groups(text);
  if (!v6) return undefined;
  const out = new Uint8Array(16);
  v6.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 255;
  });
  return out;
}
