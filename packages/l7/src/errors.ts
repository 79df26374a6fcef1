import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/l7 throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({});

export type L7ErrorCode = keyof typeof errorCodes;

export class L7Error extends MeshError<L7ErrorCode> {
  static override readonly brand: string = '@mesh/l7.L7Error';
}
