// meshctl spiffe parse|verify: the scriptable SPIFFE checks. Public contract (keep stable): stdout JSON with exactly
// the documented keys and exit 0; on invalid input exit 1 with `ERR_…: <reason>` as the first stderr line.
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  decodePem,
  parseCertificates,
  SpiffeId,
  TrustDomain,
  verifyX509Svid,
  X509Bundle,
  X509BundleSet,
} from '@mesh/spiffe';
import { readInput } from '../files.js';
import type { CommandIO } from '../io.js';
import { writeOutput } from '../output.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseRfc3339(value: string): number {
  const ms = Date.parse(value);
  if (!RFC3339.test(value) || Number.isNaN(ms))
    throw new InvalidArgumentError(
      `expected an RFC 3339 time such as 2026-06-01T12:00:00Z, got ${JSON.stringify(value)}`,
    );
  return ms;
}

interface BundleArg {
  trustDomain: string;
  file: string;
}

function parseBundleArg(value: string, previous: BundleArg[] = []): BundleArg[] {
  const at = value.indexOf('=');
  if (at <= 0 || at === value.length - 1)
    throw new InvalidArgumentError(`expected <trustDomain>=<file>, got ${JSON.stringify(value)}`);
  return [...previous, { trustDomain: value.slice(0, at), file: value.slice(at + 1) }];
}

/** The certificates of an SVID file: PEM (CERTIFICATE blocks; a key block next to them is ignored) or DER. */
function svidCertificates(data: Buffer) {
  const text = data.toString('latin1');
  if (!text.includes('-----BEGIN ')) return parseCertificates(data);
  const certs = decodePem(text).filter((b) => b.label === 'CERTIFICATE');
  return parseCertificates(certs.length ? certs.map((b) => b.der) : text);
}

const formatOption = () =>
  new Option('-o, --output <format>', 'output format').choices(['json', 'yaml']).default('json');

export function registerSpiffe(program: Command, io: CommandIO): void {
  const spiffe = program.command('spiffe').description('parse SPIFFE IDs and verify X.509-SVIDs');

  spiffe
    .command('parse')
    .description('validate a SPIFFE ID; prints {"trustDomain", "path"}')
    .argument('<id>', 'a SPIFFE ID, e.g. spiffe://cluster.local/ns/default/sa/web')
    .addOption(formatOption())
    .action((id: string, options: { output: 'json' | 'yaml' }) => {
      const parsed = SpiffeId.parse(id);
      writeOutput(io, options.output, { trustDomain: parsed.trustDomain.name, path: parsed.path });
    });

  spiffe
    .command('verify')
    .description(
      'verify an X.509-SVID chain against the bundle of its trust domain; prints {"spiffeId", "trustDomain"}',
    )
    .requiredOption('--svid <file>', 'PEM (or DER) certificate chain, leaf first')
    .requiredOption(
      '--bundle <trustDomain=file>',
      'trust bundle of a trust domain, PEM certificates or SPIFFE bundle JSON (repeatable)',
      parseBundleArg,
    )
    .option('--at <time>', 'verify at this RFC 3339 time instead of now', parseRfc3339)
    .addOption(formatOption())
    .action(async (options: { svid: string; bundle: BundleArg[]; at?: number; output: 'json' | 'yaml' }) => {
      const bundles = new X509BundleSet();
      for (const { trustDomain, file } of options.bundle)
        bundles.set(X509Bundle.parse(TrustDomain.parse(trustDomain), await readInput(file)));
      const chain = svidCertificates(await readInput(options.svid));
      const verified = verifyX509Svid(chain, bundles, options.at === undefined ? {} : { at: options.at });
      writeOutput(io, options.output, { spiffeId: verified.id.toString(), trustDomain: verified.id.trustDomain.name });
    });

  for (const command of spiffe.commands)
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  spiffe.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}
