// IP addresses as the wire carries them (4 or 16 raw bytes), and the deterministic VIP allocator.

/** 4 bytes for IPv4, 16 for IPv6; null when `text` is not an address. */
export function parseIp(text: string): Uint8Array | null {
  if (text.includes(':')) return parseIpv6(text);
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  if (text.includes('%')) return null;
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl !== -1) {
    if (text.indexOf('::', dbl + 1) !== -1) return null;
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIp(p);
        if (!v4 || v4.length !== 4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  if (!h || !t) return null;
  const missing = 8 - h.length - t.length;
  if (dbl === -1 ? missing !== 0 : missing < 1) return null;
  const all = [...h, ...new Array<number>(dbl === -1 ? 0 : missing).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

export function isIp(text: string): boolean {
  return parseIp(text) !== null;
}

/** `10.0.0.0/8` or an address; null when invalid. */
export function parseCidr(text: string): { address: Uint8Array; length: number } | null {
  const slash = text.indexOf('/');
  const address = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!address) return null;
  if (slash === -1) return { address, length: address.length * 8 };
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return null;
  const length = Number(lenText);
  return length > address.length * 8 ? null : { address, length };
}

export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Normalizes an address's text form (`10.0.0.1`, `2001:db8::1`); returns the input when it is not an address. */
export function canonicalIp(text: string): string {
  const b = parseIp(text);
  return b ? formatIp(b) : text;
}

/**
 * Hands out IPv4 addresses from a CIDR range for objects that have none (Services without `spec.clusterIP`,
 * ServiceEntries without `spec.addresses`). An object's address is derived from a hash of its key, probing upwards on
 * collision, so it stays the same across restarts and does not depend on the order objects arrive in (unless two keys
 * collide). Addresses already taken by explicit assignments are skipped.
 */
export class IpAllocator {
  readonly #base: number;
  readonly #size: number;
  readonly #byKey = new Map<string, number>();
  readonly #taken = new Map<number, string>();

  constructor(readonly cidr: string) {
    const parsed = parseCidr(cidr);
    if (!parsed || parsed.address.length !== 4 || parsed.length > 30)
      throw new RangeError(`${cidr} is not an IPv4 range of at least 4 addresses`);
    const a = parsed.address;
    const mask = parsed.length === 0 ? 0 : (~0 << (32 - parsed.length)) >>> 0;
    this.#base = ((((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0) & mask) >>> 0;
    this.#size = 2 ** (32 - parsed.length);
  }

  /** Marks an address as used by an explicit assignment (so allocation skips it). */
  reserve(ip: string, owner: string): void {
    const n = toNumber(ip);
    if (n !== null && n >= this.#base && n < this.#base + this.#size && !this.#taken.has(n)) this.#taken.set(n, owner);
  }

  release(owner: string): void {
    const n = this.#byKey.get(owner);
    if (n !== undefined) {
      this.#byKey.delete(owner);
      if (this.#taken.get(n) === owner) this.#taken.delete(n);
    }
    for (const [addr, who] of this.#taken) if (who === owner) this.#taken.delete(addr);
  }

  /** The address of `key` (the same one on every call until released); null when the range is full. */
  allocate(key: string): string | null {
    const existing = this.#byKey.get(key);
    if (existing !== undefined) return fromNumber(existing);
    // Never the network or the broadcast address.
    const usable = this.#size - 2;
    let offset = fnv1a(key) % usable;
    for (let probes = 0; probes < usable; probes++) {
      const n = this.#base + 1 + ((offset + 1) % usable);
      if (!this.#taken.has(n)) {
        this.#taken.set(n, key);
        this.#byKey.set(key, n);
        return fromNumber(n);
      }
      offset++;
    }
    return null;
  }
}

function toNumber(ip: string): number | null {
  const b = parseIp(ip);
  return b && b.length === 4 ? ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0 : null;
}

function fromNumber(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
