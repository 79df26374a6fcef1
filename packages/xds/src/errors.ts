import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/xds throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({});

export type XdsErrorCode = keyof typeof errorCodes;

export class XdsError extends MeshError<XdsErrorCode> {
  static override readonly brand: string = '@mesh/xds.XdsError';
}
