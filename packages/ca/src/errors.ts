import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/ca throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({
  // Signing requests.
  ERR_CA_BAD_CSR: {
    summary: 'The certificate signing request is not a readable PKCS#10 request (bad PEM, truncated or malformed DER).',
    fix: 'Send one PEM CERTIFICATE REQUEST block; openssl req -noout -text -in <file> shows whether it is readable.',
  },
  ERR_CA_CSR_SIGNATURE: {
    summary:
      'The CSR signature does not verify with the public key it carries, so the requester did not prove possession of the key.',
    fix: 'Sign the CSR with the private key of the public key it contains; regenerate it if it was altered.',
  },
  ERR_CA_CSR_POLICY: {
    summary:
      'The CSR breaks the strict CSR policy (istio-csr rules): a subject, DNS/IP/email names, URI SANs other than the identity, or extra extensions.',
    fix: 'Send a CSR with an empty subject and exactly the identity as URI SAN, or run the CA with csrPolicy "istio".',
  },
  ERR_CA_KEY_NOT_ALLOWED: {
    summary: 'The CSR public key type or size is not accepted (RSA below 2048 bits, an unknown curve or algorithm).',
    fix: 'Use ECDSA P-256 (what ztunnel generates), P-384, RSA 2048 or larger, or Ed25519.',
  },
  ERR_CA_TTL_TOO_LONG: {
    summary:
      'The requested certificate lifetime exceeds the CA maximum (90 days by default); nothing is silently clamped, as in Istio.',
    fix: 'Request a shorter validity, or raise maxTtlMs on the CA.',
  },
  ERR_CA_INVALID_OPTION: {
    summary: 'An option passed to the CA is invalid (for example a malformed duration or a negative lifetime).',
    fix: 'Correct the option named in the message; durations look like 90s, 30m, 24h, 7d or 1h30m.',
  },
  ERR_CA_BAD_IDENTITY: {
    summary:
      'The identity to issue for is not usable in a leaf certificate (no SPIFFE ID and no DNS name, or a SPIFFE ID without a path).',
    fix: 'Issue for a workload SPIFFE ID such as spiffe://cluster.local/ns/default/sa/web, or pass DNS names.',
  },
  ERR_CA_FOREIGN_TRUST_DOMAIN: {
    summary:
      'The identity belongs to another trust domain than the CA; a CA only issues identities of its own trust domain.',
    fix: 'Send the request to the CA of that trust domain, or configure this CA with the right trust domain.',
  },
  ERR_CA_EXPIRED: {
    summary: 'The CA signing certificate (or a certificate of its chain) has expired, so the CA refuses to issue.',
    fix: 'Rotate the CA: plug in a new intermediate (cacerts) or let the self-signed root rotate; check the clock.',
  },
  ERR_CA_NOT_YET_VALID: {
    summary: 'The CA signing certificate is not valid yet at the current time.',
    fix: 'Check the clock of the CA machine and the notBefore of the plugged-in certificate.',
  },

  // CA material.
  ERR_CA_CACERTS_MISSING: {
    summary: 'A file of the cacerts layout is missing (ca-cert.pem, ca-key.pem and root-cert.pem are required).',
    fix: "Create the directory with meshctl ca init, or mount Istio's cacerts secret with all of its keys.",
  },
  ERR_CA_CACERTS_INVALID: {
    summary: 'A file of the CA material could not be read as PEM certificates or a private key.',
    fix: 'Check the file named in the message; each .pem file must hold PEM blocks of the expected kind.',
  },
  ERR_CA_CACERTS_EXISTS: {
    summary: 'The target directory already holds CA files, and overwriting was not requested.',
    fix: 'Choose an empty directory, or pass overwrite (meshctl ca init --force) to replace the files.',
  },
  ERR_CA_KEY_MISMATCH: {
    summary: 'The CA private key does not belong to the CA signing certificate.',
    fix: 'Pair ca-key.pem with the ca-cert.pem it was issued for.',
  },
  ERR_CA_NOT_A_CA: {
    summary:
      'The signing certificate is not a CA certificate (no basicConstraints cA=true, or no keyCertSign key usage).',
    fix: 'Plug in an intermediate CA certificate, not a leaf or server certificate.',
  },
  ERR_CA_CHAIN_INVALID: {
    summary: 'The signing certificate does not chain to the trust anchors in root-cert.pem through cert-chain.pem.',
    fix: 'Put the intermediates between ca-cert.pem and the root into cert-chain.pem, and the root into root-cert.pem.',
  },
  ERR_CA_ROOT_CHANGE_REJECTED: {
    summary:
      'Reloaded CA material has trust anchors that neither contain nor are contained in the current ones (Istio multi-root rule).',
    fix: 'Rotate roots in two steps: first add the new root next to the old one, later remove the old one.',
  },
  ERR_CA_ROTATION_STATE: {
    summary:
      'A root rotation step was requested in the wrong state (nothing prepared, retiring the active root, or a plug-in CA).',
    fix: 'Follow the order prepare, activate, retire; a plug-in CA rotates by replacing its cacerts files.',
  },

  // Service account tokens (file mode).
  ERR_CA_TOKEN_KEY_MISSING: {
    summary: 'The CA directory has no service account token signing key (sa.key).',
    fix: 'Start istiod once with this --ca-dir (it creates sa.key and sa.pub), or run meshctl token create, which creates them.',
  },
  ERR_CA_TOKEN_KEY_INVALID: {
    summary:
      'A token signing or verification key file (sa.key, sa.pub) cannot be read, is not PEM, or holds an unsupported key.',
    fix: 'Use an EC P-256/P-384 or RSA (2048 bits or more) key in PEM; sa.pub holds one PEM public key per signing key.',
  },

  // The Istio CA service.
  ERR_CA_UNAUTHENTICATED: {
    summary: 'No authenticator accepted the caller (no or invalid bearer token, no verified client certificate).',
    fix: 'Send an Authorization: Bearer token with audience istio-ca, or connect with an SVID client certificate of the mesh.',
  },
  ERR_CA_IMPERSONATION_DENIED: {
    summary:
      'The caller asked for another identity (ImpersonatedIdentity) but is not a trusted node agent, or the workload is not on its node.',
    fix: 'Only the configured node agents (such as istio-system/ztunnel) may impersonate, and only workloads on their own node.',
  },
  ERR_CA_AMBIGUOUS_IDENTITY: {
    summary:
      'The authenticated caller has several identities in the trust domain, and an X.509-SVID carries exactly one.',
    fix: 'Authenticate with a credential that maps to one identity.',
  },
  ERR_CA_REQUEST_FAILED: {
    summary: 'The CA server could not be reached or failed the call (a gRPC error without a CA error code).',
    fix: 'Check the CA address, TLS settings and the server logs; the message carries the gRPC status.',
  },
  ERR_CA_BAD_RESPONSE: {
    summary:
      'The CA response is unusable: fewer than two certificates, unreadable PEM, or a chain that does not verify against its roots.',
    fix: 'Check the CA: it must return the leaf first and the roots last (Istio cert_chain).',
  },
  ERR_CA_IDENTITY_MISMATCH: {
    summary: 'The certificate returned by the CA is for another identity than the one requested.',
    fix: 'Check the CA authentication and impersonation configuration; ztunnel refuses such certificates too.',
  },
});

export type CaErrorCode = keyof typeof errorCodes;

export class CaError extends MeshError<CaErrorCode> {
  static override readonly brand: string = '@mesh/ca.CaError';
}
