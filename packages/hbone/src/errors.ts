import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/hbone throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({});

export type HboneErrorCode = keyof typeof errorCodes;

export class HboneError extends MeshError<HboneErrorCode> {
  static override readonly brand: string = '@mesh/hbone.HboneError';
}
