// Tables by default (plain padded columns, like istioctl), `-o json|yaml` on request.
import { type Command, Option } from 'commander';
import { stringify } from 'yaml';
import type { CommandIO } from './io.js';

export const outputFormats = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof outputFormats)[number];

export function addOutputOption(command: Command, formats: readonly string[] = outputFormats): Command {
  return command.addOption(
    new Option('-o, --output <format>', 'output format').choices([...formats]).default(formats[0]),
  );
}

export interface Column<Row> {
  header: string;
  value: (row: Row) => string | number | boolean | null | undefined;
}

export function renderTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((c) => String(c.value(row) ?? '-')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** Writes `data` as JSON/YAML, or `rows` as a table with `columns`. */
export function writeOutput<Row>(
  io: CommandIO,
  format: OutputFormat,
  data: unknown,
  table?: { rows: readonly Row[]; columns: readonly Column<Row>[] },
): void {
  if (format === 'json') io.stdout(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') io.stdout(stringify(data));
  else if (table) io.stdout(renderTable(table.rows, table.columns));
  else io.stdout(`${JSON.stringify(data, null, 2)}\n`);
}

/** Mesh settings shared by the commands that build an ambient index from files (check, analyze). */
export interface MeshOptions {
  trustDomain: string;
  rootNamespace: string;
  domainSuffix: string;
  clusterId: string;
  serviceCidr: string;
  serviceEntryCidr: string;
}

export function addMeshOptions(command: Command): Command {
  return command
    .option('--trust-domain <domain>', 'the mesh trust domain (SPIFFE identities)', 'cluster.local')
    .option('--root-namespace <ns>', 'the namespace of mesh-wide policies', 'istio-system')
    .option('--domain-suffix <suffix>', 'the cluster DNS suffix of service hostnames', 'cluster.local')
    .option('--cluster-id <id>', 'the cluster id in workload uids', 'Kubernetes')
    .option('--service-cidr <cidr>', 'where Services without spec.clusterIP get an address', '10.96.0.0/12')
    .option(
      '--service-entry-cidr <cidr>',
      'where ServiceEntries without spec.addresses get an address',
      '240.240.0.0/16',
    );
}

export function meshOptions(o: MeshOptions) {
  return {
    trustDomain: o.trustDomain,
    rootNamespace: o.rootNamespace,
    domainSuffix: o.domainSuffix,
    clusterId: o.clusterId,
    serviceCidr: o.serviceCidr,
    serviceEntryCidr: o.serviceEntryCidr,
  };
}
