import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Errors of ztunnel itself (the packages' errors pass through with their own codes). */
export const errorCodes = defineErrorCatalog({
  ERR_ZTUNNEL_INVALID_FLAG: {
    summary: 'A flag or environment variable of ztunnel has an invalid value (a malformed address, duration or name).',
    fix: 'Correct the flag or variable named in the message; ztunnel --help lists every flag with its variable.',
  },
  ERR_ZTUNNEL_LISTEN_FAILED: {
    summary:
      'ztunnel could not listen on a port: its admin, metrics or readiness port on the node address, or a pod listener (15008 HBONE, 15080 SOCKS5) on a pod IP.',
    fix: 'Stop whatever holds the port. On the loopback pod network every pod IP must be a distinct 127.0.0.0/8 address not used by another program on the same port.',
  },
  ERR_ZTUNNEL_TOKEN: {
    summary: 'The service account token file given with --token-file cannot be read.',
    fix: 'Create the token with `meshctl token create --sa istio-system/ztunnel --node <node>` and point --token-file at it.',
  },
  ERR_ZTUNNEL_NO_HEALTHY_UPSTREAM: {
    summary: 'An outbound connection was addressed to a Service that has no healthy endpoint for the port.',
    fix: 'Check that pods selected by the Service run and are Ready, and that the Service port exists (meshctl / config_dump show the endpoints).',
  },
  ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE: {
    summary:
      'The destination uses a waypoint (istio.io/use-waypoint) but ztunnel cannot reach it: the waypoint Service or its workload is unknown or has no address. The connection is refused rather than sent around the waypoint, so L7 policy is never bypassed.',
    fix: 'Deploy the waypoint (a Gateway of class istio-waypoint and its proxy), or remove the use-waypoint label.',
  },
  ERR_ZTUNNEL_SELF_CALL: {
    summary:
      "A connection was addressed to one of ztunnel's own ports (15001, 15006, 15008, 15080) on a pod IP; ztunnel refuses it to avoid loops.",
    fix: 'Address the application port instead.',
  },
  ERR_ZTUNNEL_SOCKS5: {
    summary:
      'A client on a pod SOCKS5 port (15080) sent something that is not a SOCKS5 CONNECT this port supports (another version, an authentication method other than none, a command other than CONNECT, a truncated or oversized request, or nothing within the handshake timeout).',
    fix: 'Use a SOCKS5 client without authentication, e.g. `curl --socks5 <pod-ip>:15080 http://…` (or --socks5-hostname for names).',
  },
  ERR_ZTUNNEL_DNS: {
    summary:
      'A SOCKS5 request named a host that is neither a mesh Service hostname nor resolvable by the system resolver.',
    fix: 'Use the Service hostname (<name>.<namespace>.svc.cluster.local), its VIP, or a resolvable name.',
  },
  ERR_ZTUNNEL_IDENTITY: {
    summary:
      'No certificate is available for a workload identity yet (the CA has not answered, or refused: impersonation needs a pod of that service account on this node).',
    fix: 'Check the ztunnel log for the CA error; the token must be for istio-system/ztunnel bound to this node (meshctl token create --node).',
  },
});

export type ZtunnelErrorCode = keyof typeof errorCodes;

export class ZtunnelError extends MeshError<ZtunnelErrorCode> {
  static override readonly brand: string = '@mesh/app-ztunnel.ZtunnelError';
}
