import { describe, expect, it } from 'vitest';
import { CoreError, defineErrorCatalog, MeshError } from './errors.js';

class AlphaError extends MeshError<'ERR_ALPHA_X'> {
  static override readonly brand: string = '@mesh/alpha.AlphaError';
}
class BetaError extends MeshError<'ERR_BETA_X'> {
  static override readonly brand: string = '@mesh/beta.BetaError';
}

describe('MeshError', () => {
  it('carries code, message, cause and details', () => {
    const cause = new Error('low level');
    const error = new AlphaError('ERR_ALPHA_X', 'it broke', { cause, details: { field: 'spec.rules[0]' } });
    expect(error.code).toBe('ERR_ALPHA_X');
    expect(error.message).toBe('it broke');
    expect(error.cause).toBe(cause);
    expect(error.details).toEqual({ field: 'spec.rules[0]' });
    expect(error.name).toBe('AlphaError');
    expect(String(error)).toBe('ERR_ALPHA_X: it broke');
    expect(error.stack).toContain('AlphaError');
  });

  it('distinguishes sibling subclasses', () => {
    const alpha = new AlphaError('ERR_ALPHA_X', 'a');
    expect(alpha instanceof AlphaError).toBe(true);
    expect(alpha instanceof MeshError).toBe(true);
    expect(alpha instanceof BetaError).toBe(false);
    expect(alpha instanceof Error).toBe(true);
    expect(new Error('plain') instanceof MeshError).toBe(false);
    expect((null as unknown as object) instanceof MeshError).toBe(false);
  });

  it('recognises errors created by another copy of the package (same brands, different classes)', () => {
    // A second install of @mesh/alpha would define a distinct class with the same brand.
    class AlphaErrorCopy extends MeshError<'ERR_ALPHA_X'> {
      static override readonly brand: string = '@mesh/alpha.AlphaError';
    }
    const fromCopy = new AlphaErrorCopy('ERR_ALPHA_X', 'from the other copy');
    expect(fromCopy instanceof AlphaError).toBe(true);
    expect(new AlphaError('ERR_ALPHA_X', 'x') instanceof AlphaErrorCopy).toBe(true);
  });

  it('narrows by code with MeshError.is', () => {
    const error: unknown = new CoreError('ERR_CORE_TIMEOUT', 'slow');
    expect(MeshError.is(error, 'ERR_CORE_TIMEOUT')).toBe(true);
    expect(MeshError.is(error, 'ERR_CORE_ABORTED')).toBe(false);
    expect(MeshError.is(new Error('x'))).toBe(false);
  });

  it('freezes catalogs', () => {
    const catalog = defineErrorCatalog({ ERR_X_Y: { summary: 's', fix: 'f' } });
    expect(Object.isFrozen(catalog)).toBe(true);
  });
});
