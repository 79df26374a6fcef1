// Time is a parameter: decisions (authz, routing, outlier detection) take a Clock so tests control it.

export interface Clock {
  /** Wall-clock time in milliseconds since the Unix epoch (certificate validity, timestamps in logs). */
  now(): number;
  /** A monotonic reading in milliseconds with an arbitrary origin (durations, timeouts, ejection windows). */
  monotonic(): number;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
});

/** A clock that moves only when told to; both readings advance together. */
export class ManualClock implements Clock {
  #wall: number;
  #mono = 0;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#wall = startMs;
  }

  now(): number {
    return this.#wall;
  }

  monotonic(): number {
    return this.#mono;
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot move a clock backwards (${ms} ms)`);
    this.#wall += ms;
    this.#mono += ms;
  }

  /** Sets the wall clock (the monotonic reading keeps its pace). */
  setWall(ms: number): void {
    this.#wall = ms;
  }
}
