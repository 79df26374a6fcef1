// @mesh/ca/grpc: the Istio CA gRPC service (server handler, server, client) and its authenticators. Needs the
// @grpc/grpc-js peer dependency.
export {
  authRequestOf,
  createCaServerCredentials,
  createIstioCaService,
  grpcStatusOf,
  IMPERSONATED_IDENTITY,
  serveIstioCa,
  type CaServerCredentials,
  type CaServerCredentialsOptions,
  type ImpersonationOptions,
  type IstioCaServer,
  type IstioCaService,
  type IstioCaServiceOptions,
  type ServeIstioCaOptions,
} from './service.js';
export {
  IstioCaClient,
  type CreateCertificateOptions,
  type FetchedSvid,
  type FetchSvidOptions,
  type IstioCaClientOptions,
} from './client.js';
export {
  authenticate,
  bearerJwtAuthenticator,
  bearerToken,
  clientCertificateAuthenticator,
  kubernetesCaller,
  type AuthRequest,
  type Authenticator,
  type BearerJwtAuthenticatorOptions,
  type Caller,
  type ClientCertificateAuthenticatorOptions,
  type KubernetesCaller,
} from './auth.js';
export { JwtError, verifyJwt, type Jwks, type JwtClaims, type VerifyJwtOptions } from './jwt.js';
