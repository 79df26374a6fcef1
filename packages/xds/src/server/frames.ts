// Frames shared between connections. When many proxies get the same push (wildcard subscribers, the common ztunnel
// case), one encoded frame and one nonce serve all of them: memory per in-flight push is then only gRPC's framed
// copy, and the frame is built once. Nonces need only be unique per stream, which the caller checks.

/** Frames smaller than this are cheaper to rebuild than to look up. */
export const SHARE_MIN_BYTES = 64 * 1024;
const MAX_FRAMES = 4;

export interface SharedFrame {
  frame: Uint8Array;
  nonce: string;
}

export class FrameCache {
  readonly #frames = new Map<string, SharedFrame>();

  get(key: string): SharedFrame | undefined {
    const hit = this.#frames.get(key);
    if (hit) {
      this.#frames.delete(key); // most recently used last
      this.#frames.set(key, hit);
    }
    return hit;
  }

  set(key: string, frame: SharedFrame): void {
    this.#frames.set(key, frame);
    if (this.#frames.size > MAX_FRAMES) this.#frames.delete(this.#frames.keys().next().value!);
  }

  clear(): void {
    this.#frames.clear();
  }
}
