import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Errors of the waypoint program itself (the packages' errors pass through with their own codes). */
export const errorCodes = defineErrorCatalog({
  ERR_WAYPOINT_INVALID_FLAG: {
    summary: 'A flag of the waypoint has an invalid value or a required one is missing (address, duration, name).',
    fix: 'Correct the flag named in the message; waypoint --help lists every flag and its format.',
  },
  ERR_WAYPOINT_LISTEN_FAILED: {
    summary: 'The waypoint could not listen on its HBONE or admin address (in use, not permitted, unknown host).',
    fix: 'Stop whatever holds the port, or move the waypoint with --listen or --admin.',
  },
  ERR_WAYPOINT_IDENTITY: {
    summary:
      'The waypoint has no usable identity: the certificate files cannot be read, or the CA refused or could not be reached.',
    fix: 'Pass --cert-dir with cert-chain.pem, key.pem and root-cert.pem, or --xds-address with a --token-file for the waypoint service account and the mesh --root-cert.',
  },
  ERR_WAYPOINT_CONFIG: {
    summary:
      'The waypoint cannot get its configuration: the config directory cannot be read, or istiod did not answer in time.',
    fix: 'Check --config-dir, or that istiod is reachable at --xds-address with a token for the waypoint namespace.',
  },
});

export type WaypointErrorCode = keyof typeof errorCodes;

export class WaypointError extends MeshError<WaypointErrorCode> {
  static override readonly brand: string = '@mesh/app-waypoint.WaypointError';
}
