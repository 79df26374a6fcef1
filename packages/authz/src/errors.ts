import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/authz throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({});

export type AuthzErrorCode = keyof typeof errorCodes;

export class AuthzError extends MeshError<AuthzErrorCode> {
  static override readonly brand: string = '@mesh/authz.AuthzError';
}
