// Bounds how many connections have a push on the wire at once, so memory stays bounded however many proxies connect
// at the same moment (each in-flight push holds its frame twice: ours and gRPC's framed copy). A slot frees when
// the frame has been flushed to the connection, or after a timeout for a proxy that does not read.

export class PushGate {
  #active = 0;
  readonly #waiting = new Set<() => void>();

  constructor(readonly limit: number) {}

  get active(): number {
    return this.#active;
  }

  /** Takes a slot, or queues `resume` to be called when one frees (then call acquire again). */
  acquire(resume: () => void): boolean {
    if (this.#active < this.limit) {
      this.#active++;
      this.#waiting.delete(resume);
      return true;
    }
    this.#waiting.add(resume);
    return false;
  }

  release(): void {
    this.#active--;
    const next = this.#waiting.values().next();
    if (!next.done) {
      this.#waiting.delete(next.value);
      next.value();
    }
  }

  cancel(resume: () => void): void {
    this.#waiting.delete(resume);
  }
}
