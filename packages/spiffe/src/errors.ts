import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/spiffe throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({});

export type SpiffeErrorCode = keyof typeof errorCodes;

export class SpiffeError extends MeshError<SpiffeErrorCode> {
  static override readonly brand: string = '@mesh/spiffe.SpiffeError';
}
