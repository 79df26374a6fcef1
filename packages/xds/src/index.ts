export { XdsError, errorCodes as xdsErrorCodes, type XdsErrorCode } from './errors.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export {
  addressAliases,
  addressResourceName,
  formatIp,
  istioNodeId,
  parseIstioNodeId,
  serviceAliases,
  serviceResourceName,
  workloadAliases,
  workloadResourceName,
  type IstioNodeId,
} from './names.js';
export {
  addressType,
  authorizationType,
  clusterLoadAssignmentType,
  clusterType,
  defineResourceType,
  isWildcardTypeUrl,
  listenerType,
  routeConfigurationType,
  waypointServiceType,
  waypointType,
  workloadType,
  type ResourceCodec,
  type ResourceType,
  type ResourceTypeOptions,
} from './resource-type.js';
export {
  DEFAULT_CLIENT_CHANNEL_OPTIONS,
  waitForConnected,
  XdsClient,
  type ClientNackEvent,
  type ClientReplyEvent,
  type ClientSnapshot,
  type ClientTlsOptions,
  type ConfigDump,
  type NodeOptions,
  type SubscribeOptions,
  type TokenSource,
  type XdsClientEvents,
  type XdsClientOptions,
} from './client/client.js';
export {
  Subscription,
  type ChangeListener,
  type ChangesOptions,
  type ClientNack,
  type ClientReply,
  type LookupOptions,
  type SubscriptionStatus,
  type WaitOptions,
} from './client/subscription.js';
export type { BatchCause, ResourceBatch, XdsResource } from './client/state.js';
export {
  DEFAULT_SERVER_GRPC_OPTIONS,
  XdsServer,
  type CloseOptions,
  type DebounceOptions,
  type ListenOptions,
  type ServerTlsOptions,
  type XdsServerEvents,
  type XdsServerOptions,
} from './server/server.js';
export type {
  AuthenticateContext,
  ConnectionStatus,
  NackEvent,
  PushEvent,
  RejectEvent,
  ReplyEvent,
  XdsConnection,
  XdsProtocol,
} from './server/connection.js';
export type { ResourceInput, StoredResource, StoreUpdate } from './server/store.js';
export type { AckRecord, NackRecord, SentResponse, SyncState, TypeSyncStatus } from './server/watch.js';
