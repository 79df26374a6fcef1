export { SpiffeError, errorCodes as spiffeErrorCodes, type SpiffeErrorCode } from './errors.js';
export { isSpiffeId, MAX_SPIFFE_ID_BYTES, MAX_TRUST_DOMAIN_BYTES, SpiffeId, TrustDomain } from './id.js';
export { ISTIO_DEFAULT_TRUST_DOMAIN, istioIdentity, parseIstioIdentity, type IstioIdentity } from './istio.js';
export { decodePem, encodePem, type PemBlock } from './pem.js';
export {
  generatePrivateKey,
  keyMatchesPublicKeyInfo,
  parsePrivateKey,
  privateKeyToPem,
  publicKeyInfoOf,
  type GenerateKeyOptions,
  type KeyType,
} from './keys.js';
export {
  Certificate,
  describeCertificate,
  KEY_USAGES,
  parseCertificate,
  parseCertificates,
  type BasicConstraints,
  type Extension,
  type ExtKeyUsageExtension,
  type GeneralSubtree,
  type KeyUsage,
  type KeyUsageExtension,
  type NameConstraints,
  type PublicKeyInfo,
  type SubjectAltName,
} from './x509/certificate.js';
export { DistinguishedName, type GeneralNames, type NameAttribute } from './x509/name.js';
export {
  createCertificate,
  keyIdentifier,
  randomSerialNumber,
  type CertificateTemplate,
  type NameConstraintsTemplate,
  type NameInput,
  type SignOptions,
} from './x509/build.js';
export {
  CertificateRequest,
  createCertificateRequest,
  parseCertificateRequest,
  type CertificateRequestTemplate,
} from './x509/csr.js';
export type { SignatureAlgorithm } from './x509/signature.js';
export { OID } from './x509/oids.js';
export {
  CertificateCache,
  checkLeaf,
  DEFAULT_MAX_CHAIN_LENGTH,
  spiffeIdOf,
  verifyX509Svid,
  X509Svid,
  type CertificatesInput,
  type VerifiedX509Svid,
  type VerifyOptions,
} from './svid.js';
export {
  X509Bundle,
  X509BundleSet,
  type Jwk,
  type SpiffeBundleDocument,
  type X509BundleOptions,
  type X509BundleSource,
} from './bundle.js';
export {
  authorizeAny,
  authorizeIds,
  authorizeIf,
  authorizeMemberOf,
  createPeerVerifier,
  peerCertificateChain,
  svidSecureContextOptions,
  tlsClientOptions,
  tlsServerOptions,
  verifyPeerCertificate,
  type Authorizer,
  type PeerCertificateLike,
  type PeerVerifier,
  type PeerVerifierOptions,
  type SvidSecureContextOptions,
  type SvidTlsClientOptions,
  type SvidTlsOptions,
  type SvidTlsServerOptions,
} from './tls.js';
