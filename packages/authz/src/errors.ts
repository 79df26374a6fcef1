import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/authz throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({
  ERR_AUTHZ_INVALID_RESOURCE: {
    summary:
      'A security.istio.io resource (AuthorizationPolicy, PeerAuthentication or RequestAuthentication) failed schema or semantic validation.',
    fix: 'Correct the fields listed in error.details.issues; each issue names its field path, and its file and document index when the caller supplied them.',
  },
  ERR_AUTHZ_UNSUPPORTED_KIND: {
    summary:
      'The object is not an AuthorizationPolicy, PeerAuthentication or RequestAuthentication of apiVersion security.istio.io/v1 or security.istio.io/v1beta1.',
    fix: 'Pass only security.istio.io resources to this engine, or check the apiVersion and kind fields for typos.',
  },
  ERR_AUTHZ_INVALID_YAML: {
    summary: 'The YAML text could not be parsed.',
    fix: 'Fix the syntax error at the line and column given in the message (error.details has the file and document index).',
  },
  ERR_AUTHZ_INVALID_REQUEST: {
    summary: 'An authorization request has a missing or malformed attribute, such as an IP address or a port.',
    fix: 'Pass IP addresses as IPv4 or IPv6 text, ports as integers from 0 to 65535, and principals without the spiffe:// prefix or with it.',
  },
  ERR_AUTHZ_INVALID_XDS: {
    summary: 'An istio.security.Authorization resource cannot be used: it has an unknown scope or action, or no name.',
    fix: 'Check the control plane that produced it; ztunnel rejects (NACKs) the same resource.',
  },
});

export type AuthzErrorCode = keyof typeof errorCodes;

export class AuthzError extends MeshError<AuthzErrorCode> {
  static override readonly brand: string = '@mesh/authz.AuthzError';
}
