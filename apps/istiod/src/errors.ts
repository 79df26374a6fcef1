import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Errors of istiod itself (the packages' errors pass through with their own codes). */
export const errorCodes = defineErrorCatalog({
  ERR_ISTIOD_INVALID_FLAG: {
    summary: 'A flag or environment variable of istiod has an invalid value (a malformed address, duration or list).',
    fix: 'Correct the flag or variable named in the message; istiod --help lists every flag and variable with its format.',
  },
  ERR_ISTIOD_LISTEN_FAILED: {
    summary: 'istiod could not listen on one of its ports (already in use, not permitted, or an unknown host).',
    fix: 'Stop whatever holds the port, or move istiod with --grpc-addr, --secure-grpc-addr or --monitoring-addr.',
  },
  ERR_ISTIOD_CA_DIR: {
    summary:
      'The CA directory cannot be used: it holds only part of the cacerts files, its root is for another trust domain, or it cannot be created.',
    fix: 'Point --ca-dir at a complete cacerts directory (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem) or an empty one, with the matching --trust-domain.',
  },
  ERR_ISTIOD_CONFIG_DIR: {
    summary: 'The config directory given with --config-dir does not exist or cannot be read at startup.',
    fix: 'Create the directory (an empty one is fine) or fix its permissions; once running, file errors never stop istiod.',
  },
  ERR_ISTIOD_XDS_UNAUTHENTICATED: {
    summary:
      'An xDS stream on the TLS port carried no credential istiod accepts (no bearer token, an invalid or expired one, or no client certificate).',
    fix: 'Send an Authorization: Bearer service account token with audience istio-ca (meshctl token create), or use the plaintext development port.',
  },
});

export type IstiodErrorCode = keyof typeof errorCodes;

export class IstiodError extends MeshError<IstiodErrorCode> {
  static override readonly brand: string = '@mesh/app-istiod.IstiodError';
}
