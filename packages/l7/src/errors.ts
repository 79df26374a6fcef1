import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/l7 throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({
  ERR_L7_INVALID_RESOURCE: {
    summary:
      'A VirtualService, DestinationRule or Gateway API route failed validation; `details.issues` lists every problem with its field path.',
    fix: 'Correct the fields named in the message (for example `spec.http[2].match[0].uri.regex`) and load the resource again.',
  },
  ERR_L7_UNSUPPORTED_KIND: {
    summary: 'A document is not a kind and API version this engine reads.',
    fix: 'Pass only VirtualService and DestinationRule (networking.istio.io v1, v1beta1, v1alpha3) and HTTPRoute, GRPCRoute or TCPRoute (gateway.networking.k8s.io); filter other kinds out first.',
  },
  ERR_L7_INVALID_YAML: {
    summary: 'The YAML text could not be parsed.',
    fix: 'Fix the syntax error at the line and column given in the message.',
  },
  ERR_L7_INVALID_REGEX: {
    summary: 'A regular expression is not valid RE2 syntax (lookarounds and backreferences are not RE2).',
    fix: 'Rewrite the pattern in the RE2 subset (https://github.com/google/re2/wiki/Syntax); RE2 always matches the whole value.',
  },
  ERR_L7_INVALID_DURATION: {
    summary: 'A duration is not in the protobuf/Gateway API form, such as `1.5s`, `250ms` or `1h`.',
    fix: 'Write a non-negative number followed by one of the units h, m, s, ms, us or ns.',
  },
  ERR_L7_INVALID_REQUEST: {
    summary: 'The request passed to `route()` lacks a field the decision needs or has a malformed one.',
    fix: 'Pass at least `method` and `path` (the :path with its query string); header names in lower case.',
  },
  ERR_L7_INVALID_OPTIONS: {
    summary: 'A compile option or runtime helper option is out of range.',
    fix: 'Use the value range given in the message.',
  },
});

export type L7ErrorCode = keyof typeof errorCodes;

export class L7Error extends MeshError<L7ErrorCode> {
  static override readonly brand: string = '@mesh/l7.L7Error';
}
