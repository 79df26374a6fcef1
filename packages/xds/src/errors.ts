import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/xds throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({
  ERR_XDS_INVALID_OPTIONS: {
    summary: 'An xDS client, server or subscription was given options it cannot work with.',
    fix: 'Read the message for the option at fault and check it against the @mesh/xds README.',
  },
  ERR_XDS_CLOSED: {
    summary: 'The xDS client, server or subscription was already closed when it was used.',
    fix: 'Create a new one; closed objects do not reopen.',
  },
  ERR_XDS_DUPLICATE_SUBSCRIPTION: {
    summary: 'A client was asked to subscribe twice to the same resource type.',
    fix: 'Keep one subscription per type and change its names with subscribe()/unsubscribe().',
  },
  ERR_XDS_INVALID_RESOURCE: {
    summary: 'A resource failed its type validator, or has no name.',
    fix: 'Fix the resource at the control plane; the client keeps its last good copy and NACKs the response.',
  },
  ERR_XDS_DUPLICATE_NAME: {
    summary: 'One response or update carried two resources with the same name.',
    fix: 'Send each name once; the client rejects every copy of a duplicated name and keeps its last good one.',
  },
  ERR_XDS_DECODE: {
    summary: 'A resource in an xDS response could not be decoded as its type.',
    fix: 'Check that the control plane encodes the message its type URL names (same proto version on both sides).',
  },
  ERR_XDS_TYPE_MISMATCH: {
    summary: 'A resource inside a response carries a different type URL than the response itself.',
    fix: 'The control plane must put only resources of the response type_url in a response.',
  },
  ERR_XDS_UNKNOWN_TYPE_URL: {
    summary: 'A response arrived for a resource type the client never subscribed to.',
    fix: 'The control plane must answer only the types the client asked for; the client NACKs the response.',
  },
  ERR_XDS_PROTOCOL: {
    summary: 'A peer broke the xDS transport protocol (a missing node, type URL or nonce, or a malformed request).',
    fix: 'Read the message for the rule that was broken; the xDS protocol is described in the @mesh/xds README.',
  },
  ERR_XDS_TOKEN: {
    summary: 'The bearer token for the xDS stream could not be read.',
    fix: 'Check the token file path and its permissions (projected service-account tokens are re-read on each connect).',
  },
  ERR_XDS_STREAM: {
    summary: 'The xDS stream to the control plane ended or could not be opened.',
    fix: 'Usually transient: the client reconnects with backoff and keeps its last good state meanwhile.',
  },
  ERR_XDS_UNAUTHENTICATED: {
    summary: 'The control plane refused the stream because the caller could not be authenticated.',
    fix: 'Check the bearer token (audience, expiry) and the TLS client certificate the client presents.',
  },
  ERR_XDS_PERMISSION_DENIED: {
    summary: 'The control plane authenticated the caller but refused it the stream or the resources.',
    fix: "Check that the caller's identity may ask for this node's configuration.",
  },
  ERR_XDS_NACK: {
    summary: 'A client rejected (NACKed) a response that the caller was waiting to see accepted.',
    fix: 'Read the NACK message: it names each rejected resource and why.',
  },
});

export type XdsErrorCode = keyof typeof errorCodes;

export class XdsError extends MeshError<XdsErrorCode> {
  static override readonly brand: string = '@mesh/xds.XdsError';
}
