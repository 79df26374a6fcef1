import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/ca throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({});

export type CaErrorCode = keyof typeof errorCodes;

export class CaError extends MeshError<CaErrorCode> {
  static override readonly brand: string = '@mesh/ca.CaError';
}
