import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/spiffe throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({
  // SPIFFE IDs and trust domains (SPIFFE-ID §2): one code per rule.
  ERR_SPIFFE_ID_EMPTY: {
    summary: 'The SPIFFE ID or trust domain is an empty string.',
    fix: 'Pass an ID of the form spiffe://<trust-domain>/<path>, or a trust domain name such as example.org.',
  },
  ERR_SPIFFE_ID_SCHEME: {
    summary: 'The ID does not start with the spiffe:// scheme and authority separator (SPIFFE-ID §2).',
    fix: 'Write the ID as spiffe://<trust-domain>/<path>; other URI schemes are not SPIFFE IDs.',
  },
  ERR_SPIFFE_ID_TOO_LONG: {
    summary: 'The SPIFFE ID is longer than 2048 bytes, the interoperable maximum (SPIFFE-ID §2.3).',
    fix: 'Use a shorter path; IDs above 2048 bytes must not be generated and are not accepted here.',
  },
  ERR_SPIFFE_ID_USERINFO: {
    summary: 'The authority of the SPIFFE ID has a userinfo part (user@host), which SPIFFE-ID §2.1 forbids.',
    fix: 'Remove everything up to and including the @ from the trust domain.',
  },
  ERR_SPIFFE_ID_PORT: {
    summary: 'The authority of the SPIFFE ID has a port or a colon, which SPIFFE-ID §2.1 forbids.',
    fix: 'Remove the :port from the trust domain; trust domains are names, not network addresses.',
  },
  ERR_SPIFFE_ID_QUERY: {
    summary: 'The SPIFFE ID has a query component (?...), which SPIFFE-ID §2 forbids.',
    fix: 'Remove the ? and what follows it; encode that information in the path instead.',
  },
  ERR_SPIFFE_ID_FRAGMENT: {
    summary: 'The SPIFFE ID has a fragment component (#...), which SPIFFE-ID §2 forbids.',
    fix: 'Remove the # and what follows it.',
  },
  ERR_SPIFFE_ID_PERCENT_ENCODED: {
    summary: 'The SPIFFE ID contains percent-encoded characters, which SPIFFE-ID §2.1 and §2.2 forbid.',
    fix: 'Use only the allowed characters literally: letters, digits, dots, dashes and underscores.',
  },
  ERR_SPIFFE_TRUST_DOMAIN_MISSING: {
    summary: 'The SPIFFE ID has no trust domain (nothing between spiffe:// and the path).',
    fix: 'Put the trust domain name after spiffe://, for example spiffe://cluster.local/ns/default/sa/default.',
  },
  ERR_SPIFFE_TRUST_DOMAIN_CASE: {
    summary: 'The trust domain contains uppercase letters; SPIFFE-ID §2.1 requires it to be lowercase.',
    fix: 'Write the trust domain in lowercase.',
  },
  ERR_SPIFFE_TRUST_DOMAIN_CHAR: {
    summary:
      'The trust domain contains a character outside [a-z0-9._-] (SPIFFE-ID §2.1), such as an IPv6 literal, a space or a non-ASCII byte.',
    fix: 'Use only lowercase letters, digits, dots, dashes and underscores in the trust domain.',
  },
  ERR_SPIFFE_TRUST_DOMAIN_TOO_LONG: {
    summary: 'The trust domain is longer than 255 bytes, the URI host limit (SPIFFE-ID §2.3).',
    fix: 'Choose a trust domain name of at most 255 bytes.',
  },
  ERR_SPIFFE_PATH_EMPTY_SEGMENT: {
    summary: 'The path of the SPIFFE ID has an empty segment (//), which SPIFFE-ID §2.2 forbids.',
    fix: 'Remove the doubled slash.',
  },
  ERR_SPIFFE_PATH_DOT_SEGMENT: {
    summary: 'The path of the SPIFFE ID has a . or .. segment, which SPIFFE-ID §2.2 forbids.',
    fix: 'Write the path without relative segments.',
  },
  ERR_SPIFFE_PATH_TRAILING_SLASH: {
    summary: 'The path of the SPIFFE ID ends with a slash, which SPIFFE-ID §2.2 forbids.',
    fix: 'Remove the trailing slash; an ID without a path is written spiffe://<trust-domain>.',
  },
  ERR_SPIFFE_PATH_CHAR: {
    summary:
      'A path segment of the SPIFFE ID contains a character outside [a-zA-Z0-9._-] (SPIFFE-ID §2.2), such as a space, a newline or a non-ASCII byte.',
    fix: 'Use only letters, digits, dots, dashes and underscores in path segments.',
  },
  ERR_SPIFFE_NOT_ISTIO_IDENTITY: {
    summary: 'The SPIFFE ID is not of the Istio form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.',
    fix: 'Pass a workload identity of the Istio form, or use the generic SpiffeId API for other paths.',
  },

  // Encodings.
  ERR_SPIFFE_BAD_PEM: {
    summary: 'The input is not valid PEM: no block, mismatched BEGIN/END lines, bad base64, or an unexpected label.',
    fix: 'Check that the file holds what the option expects (certificates, a key, a CSR) in PEM form.',
  },
  ERR_SPIFFE_BAD_CERTIFICATE: {
    summary: 'A certificate could not be parsed: truncated or malformed DER, or a malformed extension.',
    fix: 'Check the certificate file; openssl x509 -noout -text -in <file> shows whether OpenSSL can read it.',
  },
  ERR_SPIFFE_BAD_CSR: {
    summary: 'A PKCS#10 certificate signing request could not be parsed.',
    fix: 'Check the CSR; openssl req -noout -text -in <file> shows whether OpenSSL can read it.',
  },
  ERR_SPIFFE_BAD_KEY: {
    summary: 'A private key could not be read (not PEM or DER PKCS#8, SEC1 or PKCS#1, or encrypted).',
    fix: 'Provide an unencrypted private key in PEM; convert others with openssl pkcs8 -topk8 -nocrypt.',
  },
  ERR_SPIFFE_KEY_MISMATCH: {
    summary: 'The private key does not belong to the leaf certificate of the SVID.',
    fix: 'Pair the certificate chain with the key its CSR was made from.',
  },
  ERR_SPIFFE_BAD_BUNDLE: {
    summary:
      'A trust bundle could not be read: malformed PEM or JSON, a missing keys member, or an unreadable x5c certificate.',
    fix: 'Provide PEM CA certificates or a SPIFFE bundle (a JWK set with x509-svid keys), as in SPIFFE Trust Domain and Bundle §4.',
  },
  ERR_SPIFFE_INVALID_TEMPLATE: {
    summary: 'A certificate or CSR template is invalid (for example a CA certificate without a subject).',
    fix: 'Correct the template field named in the message.',
  },

  // X.509-SVID rules (X509-SVID §2-§5).
  ERR_SPIFFE_EMPTY_CHAIN: {
    summary: 'No certificates were given for an X.509-SVID.',
    fix: 'Pass the SVID chain, leaf first.',
  },
  ERR_SPIFFE_CHAIN_TOO_LONG: {
    summary: 'The presented chain or the built path has more certificates than the verifier accepts.',
    fix: 'Present at most the leaf and its intermediates; raise maxPathLength if a deeper hierarchy is intended.',
  },
  ERR_SPIFFE_NO_URI_SAN: {
    summary: 'The leaf certificate has no URI subject alternative name, so it carries no SPIFFE ID (X509-SVID §2).',
    fix: 'Issue the certificate with exactly one URI SAN holding the SPIFFE ID.',
  },
  ERR_SPIFFE_MULTIPLE_URI_SANS: {
    summary: 'The leaf certificate has more than one URI SAN; X509-SVID §2 requires validators to reject it.',
    fix: 'Issue one certificate per SPIFFE ID.',
  },
  ERR_SPIFFE_LEAF_ROOT_PATH: {
    summary: 'The leaf SVID has a SPIFFE ID without a path; leaf IDs must have a non-root path (X509-SVID §3.1).',
    fix: 'Issue the leaf for an ID with a path such as spiffe://td/ns/default/sa/web.',
  },
  ERR_SPIFFE_LEAF_IS_CA: {
    summary: 'The leaf certificate has basicConstraints cA=true; leaf SVIDs must have cA=false (X509-SVID §4.1, §5.2).',
    fix: 'Signing certificates cannot authenticate: present a leaf certificate issued by the CA.',
  },
  ERR_SPIFFE_LEAF_KEY_USAGE: {
    summary:
      'The leaf key usage breaks X509-SVID §4.3: the extension is missing or not critical, digitalSignature is not set, or keyCertSign or cRLSign is set.',
    fix: 'Issue leaves with a critical keyUsage extension holding digitalSignature (optionally keyEncipherment or keyAgreement).',
  },
  ERR_SPIFFE_LEAF_EXT_KEY_USAGE: {
    summary: 'The leaf has an extended key usage extension without both serverAuth and clientAuth (X509-SVID §4.4).',
    fix: 'Issue leaves with extKeyUsage serverAuth and clientAuth, or without the extension.',
  },
  ERR_SPIFFE_SAN_NOT_CRITICAL: {
    summary:
      'The leaf has an empty subject but its subjectAltName extension is not critical (X509-SVID §3.1, RFC 5280 §4.1.2.6).',
    fix: 'Mark the SAN extension critical when the subject is empty, or give the certificate a subject.',
  },
  ERR_SPIFFE_NO_BUNDLE: {
    summary: "There is no trust bundle for the SVID's trust domain (X509-SVID §5.1).",
    fix: "Add the trust domain's bundle (its CA certificates) to the bundle set, or federate with that trust domain.",
  },
  ERR_SPIFFE_UNKNOWN_ISSUER: {
    summary: "No certificate in the chain or in the trust domain's bundle issued a certificate of the chain.",
    fix: 'Check that the SVID was issued by a CA of its trust domain and that the intermediates are presented.',
  },
  ERR_SPIFFE_BAD_SIGNATURE: {
    summary: 'A certificate signature does not verify with the public key of its issuer.',
    fix: 'The certificate was altered or issued by another key with the same name: re-issue it from the right CA.',
  },
  ERR_SPIFFE_UNSUPPORTED_ALGORITHM: {
    summary: 'A certificate uses a signature algorithm this package does not accept (for example SHA-1 or DSA).',
    fix: 'Sign with ECDSA (P-256, P-384, P-521), RSA PKCS#1 v1.5 or PSS with SHA-256 or stronger, or Ed25519.',
  },
  ERR_SPIFFE_EXPIRED: {
    summary: 'A certificate of the chain has expired at the time of validation.',
    fix: 'Renew the certificate (or the CA); check the clock of the verifying machine.',
  },
  ERR_SPIFFE_NOT_YET_VALID: {
    summary: 'A certificate of the chain is not valid yet at the time of validation.',
    fix: 'Check the clocks of the issuing and verifying machines.',
  },
  ERR_SPIFFE_SIGNER_NOT_CA: {
    summary: 'A certificate that signs another in the chain lacks basicConstraints cA=true (X509-SVID §3.2, §4.1).',
    fix: 'Only CA certificates may sign: present the real intermediate, or re-issue it as a CA.',
  },
  ERR_SPIFFE_SIGNER_KEY_USAGE: {
    summary: 'A certificate that signs another in the chain has no keyUsage with keyCertSign (X509-SVID §4.3).',
    fix: 'Issue signing certificates with keyUsage keyCertSign (and optionally cRLSign).',
  },
  ERR_SPIFFE_SIGNER_ID_HAS_PATH: {
    summary:
      'A signing certificate carries a SPIFFE ID with a path; signing certificate IDs must have none (X509-SVID §3.2).',
    fix: 'Give CA certificates the path-less ID of their trust domain, or no SPIFFE ID.',
  },
  ERR_SPIFFE_PATH_LENGTH: {
    summary: 'The chain has more intermediates below a CA than its pathLenConstraint allows (RFC 5280 §4.2.1.9).',
    fix: 'Shorten the hierarchy or re-issue the CA with a larger path length.',
  },
  ERR_SPIFFE_NAME_CONSTRAINTS: {
    summary: 'A name in the chain violates the name constraints of a CA above it (RFC 5280 §4.2.1.10, X509-SVID §4.2).',
    fix: 'Issue names inside the permitted subtrees of the CA, or re-issue the CA with the right constraints.',
  },
  ERR_SPIFFE_UNHANDLED_CRITICAL_EXTENSION: {
    summary: 'A certificate of the chain has a critical extension this verifier does not implement (RFC 5280 §4.2).',
    fix: 'Re-issue the certificate without that critical extension, or mark it non-critical.',
  },

  // Peer verification.
  ERR_SPIFFE_UNEXPECTED_ID: {
    summary: 'The peer presented a valid SVID whose SPIFFE ID is not one the caller accepts.',
    fix: 'Check the expected IDs or trust domains passed to the verifier, or the identity the peer runs as.',
  },
  ERR_SPIFFE_NO_PEER_CERTIFICATE: {
    summary: 'The TLS peer presented no certificate.',
    fix: 'Require client certificates (requestCert) and make the peer present its SVID.',
  },
});

export type SpiffeErrorCode = keyof typeof errorCodes;

export class SpiffeError extends MeshError<SpiffeErrorCode> {
  static override readonly brand: string = '@mesh/spiffe.SpiffeError';
}
