import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/hbone throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({
  ERR_HBONE_BAD_AUTHORITY: {
    summary:
      'A tunnel target (the CONNECT :authority) is not an `ip:port` or `[ipv6]:port` (or `host:port` where hostnames are allowed).',
    fix: 'Pass the target as `10.0.0.7:8080` or `[fd00::7]:8080`; ports are 1-65535 in decimal.',
  },
  ERR_HBONE_BAD_HEADER: {
    summary:
      'An HBONE header value (forwarded, baggage, traceparent, x-forwarded-network or an extra header) is malformed or not allowed.',
    fix: 'Check the value against the format in the @mesh/hbone README; header names must be lower-case tokens and must not be pseudo-headers or connection-specific headers.',
  },
  ERR_HBONE_BAD_OPTIONS: {
    summary: 'An option passed to an @mesh/hbone function is out of range or inconsistent.',
    fix: 'Read the message for the option and its allowed range; every option and its default is listed in the @mesh/hbone README.',
  },
  ERR_HBONE_CONNECT_FAILED: {
    summary: 'The TCP connection to the next hop (the peer HBONE port, or the upstream of a forwarded tunnel) failed.',
    fix: 'Check that something listens at the address in the message (port 15008 for HBONE) and that routes and firewalls allow it.',
  },
  ERR_HBONE_TIMEOUT: {
    summary:
      'A step of a tunnel (TCP connect, TLS/HTTP/2 handshake, CONNECT response or drain) did not finish within its deadline; `details.phase` names the step.',
    fix: 'For phase "connect" to port 15008, check whether a NetworkPolicy or firewall blocks HBONE; otherwise raise the matching timeout option or find out why the peer is slow.',
  },
  ERR_HBONE_HANDSHAKE_FAILED: {
    summary:
      'The TLS or HTTP/2 handshake with the peer failed (no common protocol version or cipher, no ALPN `h2`, a rejected certificate, or a bad HTTP/2 preface).',
    fix: 'Both ends must speak TLS 1.3 with ALPN `h2` and present SVIDs from trusted CAs; the cause in the error says which step failed.',
  },
  ERR_HBONE_IDENTITY_MISMATCH: {
    summary:
      "The peer's SVID is valid but its SPIFFE ID is not one the caller expected (client side), or its trust domain differs from ours (server side).",
    fix: 'Check the expected identities passed to dial (the destination workload identity plus its service SANs), or the trust domain of the client certificate.',
  },
  ERR_HBONE_UNTRUSTED_PEER: {
    summary:
      "The peer's certificate chain does not verify as an X.509-SVID against the trust bundles (unknown issuer, expired, not an SVID).",
    fix: "Make sure both workloads get certificates from CAs whose roots are in each other's bundles, and that clocks are right.",
  },
  ERR_HBONE_REFUSED: {
    summary:
      'The HBONE server answered the CONNECT with a status other than 200 (`details.status`: 400 bad request, 401 denied by policy, 503 destination unavailable).',
    fix: 'For 401 look at the authorization policies of the destination; for 503 whether the destination workload and port exist and accept connections; for 400 at the target address.',
  },
  ERR_HBONE_RESET: {
    summary:
      'The tunnel stream was reset (RST_STREAM) by the peer or locally; `details.code` carries the HTTP/2 error code.',
    fix: 'A reset usually mirrors a reset on the far side (the application closed abruptly) or a policy change; look at the peer for the cause.',
  },
  ERR_HBONE_CONNECTION_LOST: {
    summary:
      'The HBONE connection carrying a tunnel closed or failed (transport error, GOAWAY with an error, no PING answer) before the tunnel finished.',
    fix: 'Transient: dial again (the pool opens a new connection). If it repeats, check the network path and the peer for restarts or overload.',
  },
  ERR_HBONE_POOL_CLOSED: {
    summary: 'A dial was attempted on a connection pool that is closing or closed.',
    fix: 'Create a new pool, or stop dialing once you have called close() or disposed of the pool.',
  },
  ERR_HBONE_SERVER_CLOSED: {
    summary: 'The HBONE server is closing or closed, so it cannot listen again or take this tunnel.',
    fix: 'Create a new server instead of reusing a closed one.',
  },
  ERR_HBONE_CERTIFICATE: {
    summary: 'The certificate provider failed or returned something that is not a usable X509Svid with a private key.',
    fix: 'Return an X509Svid (from @mesh/spiffe `X509Svid.parse`) that includes its private key; the cause says what the provider threw.',
  },
});

export type HboneErrorCode = keyof typeof errorCodes;

export class HboneError extends MeshError<HboneErrorCode> {
  static override readonly brand: string = '@mesh/hbone.HboneError';
}
