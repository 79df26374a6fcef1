// @mesh/authz/xds: the ztunnel wire form (istio.security.Authorization) to and from the engine's L4 model.
export {
  applyAuthorization,
  authorizationResourceName,
  fromAuthorization,
  toAuthorization,
  type FromAuthorizationResult,
} from './authorization.js';
