import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Errors of meshctl itself (the packages' errors pass through with their own codes). */
export const errorCodes = defineErrorCatalog({
  ERR_MESHCTL_READ_FAILED: {
    summary: 'meshctl could not read an input file (missing, unreadable, or a directory).',
    fix: 'Check the path and permissions of the file named in the message.',
  },
  ERR_MESHCTL_WRITE_FAILED: {
    summary: 'meshctl could not write an output file, or refused to overwrite one without --force.',
    fix: 'Check the path and permissions, or pass --force to replace existing files.',
  },
  ERR_MESHCTL_UP_FAILED: {
    summary:
      '`meshctl up` could not start the local mesh: istiod or a ztunnel exited or was not ready in time, or a program was not found.',
    fix: 'Read the log named in the message (under the state directory, logs/); run `npm run setup` if a program is not built; move istiod with --secure-grpc-addr etc. if its ports are taken.',
  },
  ERR_MESHCTL_INVALID_ARGUMENT: {
    summary:
      'An argument names something that is not in the config or conflicts with it (a waypoint that does not exist, or one that already exists without --overwrite).',
    fix: 'Check the names against `meshctl waypoint list`, or pass --overwrite to replace an existing waypoint.',
  },
});

export type MeshctlErrorCode = keyof typeof errorCodes;

export class MeshctlError extends MeshError<MeshctlErrorCode> {
  static override readonly brand: string = '@mesh/app-meshctl.MeshctlError';
}
