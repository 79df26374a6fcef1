// @mesh/hbone: HBONE tunnels (HTTP/2 CONNECT over mutual TLS), wire-compatible with Istio's ztunnel and waypoints.
export { HboneError, errorCodes as hboneErrorCodes, type HboneErrorCode } from './errors.js';
export {
  createHboneServer,
  HboneServer,
  type AcceptDecision,
  type AcceptedConnection,
  type CloseOptions,
  type ForwardDecision,
  type HboneDecision,
  type HboneHandler,
  type HboneRequest,
  type HboneServerOptions,
  type HboneServerTunnel,
  type ListenOptions,
  type RefuseDecision,
  type ResponseHeaders,
  type ServerCertificateProvider,
  type ServerState,
} from './server.js';
export {
  createHbonePool,
  dial,
  HbonePool,
  type CertificateRequest,
  type ClientCertificateProvider,
  type DialOptions,
  type HboneClientOptions,
  type HbonePoolOptions,
  type OneShotDialOptions,
  type PoolState,
} from './client.js';
export { http2ErrorName, type HboneTunnel } from './tunnel.js';
export { abortDuplex, relay, type RelayOptions, type RelayResult } from './relay.js';
export {
  CHANNEL_NAMES,
  channels,
  responseFlags,
  type ConnectionErrorMessage,
  type ConnectionMessage,
  type ConnectionState,
  type HboneConnectionInfo,
  type HboneTunnelInfo,
  type Side,
  type TunnelMessage,
  type TunnelOutcome,
  type TunnelState,
} from './diagnostics.js';
export {
  DEFAULT_TLS12_CIPHERS,
  DEFAULT_TLS13_CIPHERS,
  resolveHttp2,
  resolveKeepalive,
  type Http2Options,
  type KeepaliveOptions,
  type TlsOptions,
} from './options.js';
export {
  decodeProxyV2,
  encodeProxyV2,
  PROXY_TLV_PEER_IDENTITY,
  PROXY_TLV_SERVICE_HOSTNAME,
  type DecodedProxyHeader,
  type ProxyAddress,
  type ProxyHeader,
} from './proxy-protocol.js';
export * from './headers.js';
