import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/api throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({
  ERR_API_DECODE: {
    summary:
      'Bytes could not be decoded as the named protobuf message (truncated, wrong wire type, or not that message).',
    fix: 'Check that the sender and receiver agree on the message type (the type URL) and that the bytes were not cut short.',
  },
  ERR_API_ANY_TYPE_MISMATCH: {
    summary: 'A google.protobuf.Any holds a different message type than the one asked for.',
    fix: 'Read Any.typeUrl first and pick the matching codec, or ask the sender why it sent that type.',
  },
  ERR_API_UNKNOWN_TYPE: {
    summary: 'No generated message type has that name or type URL.',
    fix: 'Use a type @mesh/api generates (see its codegen.json), or add the proto and regenerate.',
  },
});

export type ApiErrorCode = keyof typeof errorCodes;

export class ApiError extends MeshError<ApiErrorCode> {
  static override readonly brand: string = '@mesh/api.ApiError';
}
