import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/config throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({});

export type ConfigErrorCode = keyof typeof errorCodes;

export class ConfigError extends MeshError<ConfigErrorCode> {
  static override readonly brand: string = '@mesh/config.ConfigError';
}
