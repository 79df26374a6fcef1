// Randomness is a parameter: weighted picks and fault percentages take an Rng so tests use fixed seeds.

export interface Rng {
  /** A uniform draw in [0, 1). */
  next(): number;
}

export const systemRng: Rng = Object.freeze({ next: () => Math.random() });

/**
 * A fast, seedable generator (xoshiro128**, seeded through splitmix32) for reproducible statistics in tests and
 * simulations. Not for cryptography.
 */
export function seededRng(seed: number): Rng {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return {
    next() {
      const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
      const t = (b << 9) >>> 0;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = rotl(d, 11);
      return result / 0x1_0000_0000;
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
