// Reconnect delays: exponential growth with jitter, so that a fleet of proxies does not reconnect in lockstep when
// the control plane restarts.
import { systemRng, type Rng } from '@mesh/core';
import { XdsError } from './errors.js';

export interface BackoffOptions {
  /** First delay. Default 100 ms. */
  initialMs?: number;
  /** Ceiling. Default 15 s (ztunnel's). */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  multiplier?: number;
  /** Each delay is drawn uniformly from ±jitter of its nominal value. Default 0.2. */
  jitter?: number;
}

export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #multiplier: number;
  readonly #jitter: number;
  readonly #rng: Rng;
  #nominal: number;

  constructor(options: BackoffOptions = {}, rng: Rng = systemRng) {
    this.#initial = options.initialMs ?? 100;
    this.#max = options.maxMs ?? 15_000;
    this.#multiplier = options.multiplier ?? 2;
    this.#jitter = options.jitter ?? 0.2;
    if (!(this.#initial > 0) || !(this.#max >= this.#initial) || !(this.#multiplier >= 1)) {
      throw new XdsError(
        'ERR_XDS_INVALID_OPTIONS',
        'backoff needs initialMs > 0, maxMs >= initialMs and multiplier >= 1',
        {
          details: { ...options },
        },
      );
    }
    if (!(this.#jitter >= 0 && this.#jitter < 1)) {
      throw new XdsError('ERR_XDS_INVALID_OPTIONS', 'backoff jitter must be in [0, 1)', { details: { ...options } });
    }
    this.#rng = rng;
    this.#nominal = this.#initial;
  }

  /** The delay before the next attempt; each call grows the following one. */
  next(): number {
    const nominal = this.#nominal;
    this.#nominal = Math.min(this.#max, nominal * this.#multiplier);
    const spread = nominal * this.#jitter;
    return Math.max(0, Math.round(nominal - spread + this.#rng.next() * 2 * spread));
  }

  /** Back to the initial delay (after a connection proved healthy). */
  reset(): void {
    this.#nominal = this.#initial;
  }
}
