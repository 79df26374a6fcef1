import { defineErrorCatalog, MeshError } from '@mesh/core';

/** Every error code @mesh/config throws; docs/errors.md is generated from this table. */
export const errorCodes = defineErrorCatalog({
  ERR_CONFIG_INVALID: {
    summary:
      'The configuration has errors: a document failed validation or could not be parsed; `details.issues` lists each with its file, document index and field path.',
    fix: 'Correct the fields named in the message (for example `services.yaml#2 Service shop/cart: spec.ports[1].targetPort`) and load the files again.',
  },
  ERR_CONFIG_READ_FAILED: {
    summary: 'A configuration file or directory could not be read.',
    fix: 'Check that the path exists and is readable; `--config` takes a YAML or JSON file or a directory of them.',
  },
  ERR_CONFIG_INVALID_REQUEST: {
    summary:
      'A simulator request (a `meshctl check` line) is malformed or names something the configuration does not have.',
    fix: 'Correct the field named in the message; requests follow the JSON shapes in the @mesh/config README (`kind` authz or route).',
  },
  ERR_CONFIG_INVALID_OPTIONS: {
    summary: 'An option passed to a store, the index or the simulator is out of range.',
    fix: 'Use the value range given in the message (for example an IPv4 CIDR of at least four addresses for `serviceCidr`).',
  },
  ERR_CONFIG_STORE_CLOSED: {
    summary: 'A config store was used after it was disposed.',
    fix: 'Create a new store; a disposed store stops watching and holds no objects.',
  },
});

export type ConfigErrorCode = keyof typeof errorCodes;

export class ConfigError extends MeshError<ConfigErrorCode> {
  static override readonly brand: string = '@mesh/config.ConfigError';
}
