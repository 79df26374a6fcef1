/**
 * The one error base of every @mesh package.
 *
 * - Stable string codes `ERR_<PKG>_<WHAT>`, each documented in docs/errors.md (a test keeps the two in sync).
 * - `instanceof` works across duplicate installs: the check reads a brand stored under a `Symbol.for` key instead of
 *   comparing prototypes, because independently published packages end up installed more than once in users' trees.
 * - `cause` chaining through the standard `ErrorOptions`.
 */

/** What docs/errors.md says about one code. */
export interface ErrorCodeDoc {
  /** What happened, in one sentence. */
  readonly summary: string;
  /** What the user can do about it. */
  readonly fix: string;
}

/** A package's table of error codes; the keys are the codes. */
export type ErrorCatalog = Readonly<Record<`ERR_${string}`, ErrorCodeDoc>>;

export interface MeshErrorOptions {
  /** The lower-level error this one wraps. */
  cause?: unknown;
  /** Structured facts for logs and callers (a field path, a status code, …). Never secrets. */
  details?: Readonly<Record<string, unknown>>;
}

const BRANDS = Symbol.for('@mesh/core.error-brands');

type Branded = { [BRANDS]?: readonly string[] };

/**
 * Base class of every error thrown by @mesh packages. Subclasses declare their own `brand` so that
 * `err instanceof SpiffeError` is true only for errors of that package, whichever copy created them.
 */
export class MeshError<Code extends string = string> extends Error {
  /** Unique across the ecosystem: `<package name>.<class name>`. Every subclass overrides it. */
  static readonly brand: string = '@mesh/core.MeshError';

  readonly code: Code;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: Code, message: string, options: MeshErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.name = new.target.name;
    const brands: string[] = [];
    for (let ctor: unknown = new.target; typeof ctor === 'function'; ctor = Object.getPrototypeOf(ctor)) {
      if (Object.hasOwn(ctor, 'brand')) brands.push((ctor as typeof MeshError).brand);
      if (ctor === MeshError) break;
    }
    Object.defineProperty(this, BRANDS, { value: Object.freeze(brands), enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const brands = (value as Branded)[BRANDS];
    return Array.isArray(brands) && brands.includes(this.brand);
  }

  /** `MeshError.is(err, 'ERR_X')` narrows `err` to an error with that code. */
  static is<C extends string>(value: unknown, code?: C): value is MeshError<C> {
    return value instanceof MeshError && (code === undefined || value.code === code);
  }

  /** `ERR_X: message` — the form CLIs print on the first line of stderr. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

/**
 * Declares a package's catalog with literal keys, so `keyof typeof catalog` is the package's code union.
 * Codes must be `ERR_<PKG>_<WHAT>` in upper snake case.
 */
export function defineErrorCatalog<const T extends ErrorCatalog>(catalog: T): T {
  return Object.freeze(catalog);
}

/** Errors of @mesh/core itself. */
export const errorCodes = defineErrorCatalog({
  ERR_CORE_ABORTED: {
    summary: 'The operation was cancelled through its AbortSignal before it finished.',
    fix: 'Expected when you abort; otherwise look at who aborted the signal (a deadline, a shutdown).',
  },
  ERR_CORE_TIMEOUT: {
    summary: 'The operation did not finish within its deadline.',
    fix: 'Raise the timeout option, or find out why the peer or resource is slow.',
  },
});

export type CoreErrorCode = keyof typeof errorCodes;

export class CoreError extends MeshError<CoreErrorCode> {
  static override readonly brand: string = '@mesh/core.CoreError';
}
