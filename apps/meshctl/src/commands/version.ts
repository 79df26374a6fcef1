// meshctl version: the meshctl build and every @mesh package compiled into it.
import type { Command } from 'commander';
import apiManifest from '@mesh/api/package.json' with { type: 'json' };
import authzManifest from '@mesh/authz/package.json' with { type: 'json' };
import caManifest from '@mesh/ca/package.json' with { type: 'json' };
import configManifest from '@mesh/config/package.json' with { type: 'json' };
import coreManifest from '@mesh/core/package.json' with { type: 'json' };
import hboneManifest from '@mesh/hbone/package.json' with { type: 'json' };
import l7Manifest from '@mesh/l7/package.json' with { type: 'json' };
import spiffeManifest from '@mesh/spiffe/package.json' with { type: 'json' };
import xdsManifest from '@mesh/xds/package.json' with { type: 'json' };
import type { CommandIO } from '../io.js';
import { addOutputOption, writeOutput, type OutputFormat } from '../output.js';

interface Manifest {
  name: string;
  version: string;
  description?: string;
  nx?: { tags?: string[] };
}

export interface PackageRow {
  name: string;
  version: string;
  layer: string;
  description: string;
}

const manifests: Manifest[] = [
  coreManifest,
  apiManifest,
  spiffeManifest,
  authzManifest,
  l7Manifest,
  caManifest,
  hboneManifest,
  xdsManifest,
  configManifest,
];

export function packageRows(): PackageRow[] {
  return manifests.map((m) => ({
    name: m.name,
    version: m.version,
    layer: m.nx?.tags?.find((t) => t.startsWith('layer:'))?.slice('layer:'.length) ?? '-',
    description: m.description ?? '',
  }));
}

export function registerVersion(program: Command, io: CommandIO, meshctlVersion: string): void {
  addOutputOption(
    program.command('version').description('show the meshctl version and the @mesh packages built into it'),
  ).action((options: { output: OutputFormat }) => {
    const packages = packageRows();
    writeOutput(
      io,
      options.output,
      { meshctl: meshctlVersion, node: process.version, packages },
      {
        rows: packages,
        columns: [
          { header: 'PACKAGE', value: (r) => r.name },
          { header: 'VERSION', value: (r) => r.version },
          { header: 'LAYER', value: (r) => r.layer },
          { header: 'JOB', value: (r) => r.description },
        ],
      },
    );
  });
}
