// meshctl ca init|issue|inspect: make a CA in Istio's cacerts layout, issue SVIDs from it, and look at certificates.
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  CACERTS_FILES,
  CertificateAuthority,
  DEFAULT_ROOT_TTL_MS,
  parseDuration,
  readCacerts,
  writeCacerts,
} from '@mesh/ca';
import {
  type Certificate,
  decodePem,
  describeCertificate,
  parseCertificateRequest,
  parseCertificates,
  SpiffeId,
  TrustDomain,
} from '@mesh/spiffe';
import { MeshctlError } from '../errors.js';
import { readInput, writeOutputs } from '../files.js';
import type { CommandIO } from '../io.js';
import { addOutputOption, type OutputFormat, writeOutput } from '../output.js';

function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** The trust domain a CA directory serves: the path-less SPIFFE ID of its signing certificate or roots. */
function trustDomainOf(certs: readonly Certificate[]): TrustDomain | undefined {
  for (const cert of certs)
    for (const uri of cert.uris) {
      const id = SpiffeId.tryParse(uri);
      if (id && id.path === '') return id.trustDomain;
    }
  return undefined;
}

export function registerCa(program: Command, io: CommandIO): void {
  const ca = program
    .command('ca')
    .description("create a CA in Istio's cacerts layout, issue SVIDs, inspect certificates");

  addOutputOption(
    ca
      .command('init')
      .description('create a self-signed root CA and write ca-cert.pem, ca-key.pem, root-cert.pem and cert-chain.pem')
      .requiredOption('--dir <dir>', 'directory to write (created if missing)')
      .option('--trust-domain <td>', 'trust domain of the CA', 'cluster.local')
      .addOption(new Option('--key <type>', 'root key type').choices(['ec', 'rsa']).default('ec'))
      .option('--root-ttl <duration>', 'root lifetime (default 10 years)', durationArg)
      .option('--force', 'replace existing files'),
  ).action(
    async (options: {
      dir: string;
      trustDomain: string;
      key: 'ec' | 'rsa';
      rootTtl?: number;
      force?: boolean;
      output: OutputFormat;
    }) => {
      const authority = CertificateAuthority.selfSigned({
        trustDomain: TrustDomain.parse(options.trustDomain),
        keyType: options.key,
        rootTtlMs: options.rootTtl ?? DEFAULT_ROOT_TTL_MS,
      });
      await writeCacerts({
        dir: options.dir,
        material: authority.material,
        overwrite: options.force === true,
        signal: io.signal,
      });
      const root = authority.signingCertificate;
      const files = [
        { file: join(options.dir, CACERTS_FILES.signingCert), contents: 'signing certificate (the root)' },
        { file: join(options.dir, CACERTS_FILES.signingKey), contents: 'signing key (mode 0600)' },
        { file: join(options.dir, CACERTS_FILES.roots), contents: 'trust anchors (istio-ca-root-cert)' },
        { file: join(options.dir, CACERTS_FILES.chain), contents: 'certificate chain' },
      ];
      writeOutput(
        io,
        options.output,
        {
          dir: options.dir,
          trustDomain: authority.trustDomain.name,
          subject: root.subject.toString(),
          key: root.publicKeyAlgorithm,
          notAfter: iso(root.notAfter),
          fingerprintSha256: root.fingerprint256,
          files: files.map((f) => f.file),
        },
        {
          rows: files,
          columns: [
            { header: 'FILE', value: (r) => r.file },
            { header: 'CONTENTS', value: (r) => r.contents },
          ],
        },
      );
    },
  );

  addOutputOption(
    ca
      .command('issue')
      .description(
        'issue an X.509-SVID from a cacerts directory; writes <prefix>key.pem, <prefix>cert-chain.pem and <prefix>root-cert.pem',
      )
      .requiredOption('--dir <dir>', 'cacerts directory (from meshctl ca init or Istio)')
      .requiredOption('--spiffe-id <id>', 'identity to issue, e.g. spiffe://cluster.local/ns/default/sa/web')
      .option('--ttl <duration>', 'lifetime (default 24h, at most 90d)', durationArg)
      .requiredOption(
        '--out <prefix>',
        'output prefix: out/web- gives out/web-key.pem; a directory/ gives Istio file names',
      )
      .option('--trust-domain <td>', "the CA's trust domain (default: from its certificate, else the ID's)")
      .option('--force', 'replace existing files'),
  ).action(
    async (options: {
      dir: string;
      spiffeId: string;
      ttl?: number;
      out: string;
      trustDomain?: string;
      force?: boolean;
      output: OutputFormat;
    }) => {
      const id = SpiffeId.parse(options.spiffeId);
      const material = await readCacerts({ dir: options.dir, signal: io.signal });
      const trustDomain = options.trustDomain
        ? TrustDomain.parse(options.trustDomain)
        : (trustDomainOf([material.signingCert, ...material.roots]) ?? id.trustDomain);
      const authority = CertificateAuthority.fromMaterial(material, { trustDomain });
      const issued = authority.issue({
        identity: id,
        caller: 'meshctl',
        ...(options.ttl ? { ttlMs: options.ttl } : {}),
      });
      const files = {
        key: `${options.out}key.pem`,
        certChain: `${options.out}cert-chain.pem`,
        rootCert: `${options.out}root-cert.pem`,
      };
      await writeOutputs(
        [
          { path: files.key, text: issued.keyPem, mode: 0o600 },
          { path: files.certChain, text: issued.chainPem },
          { path: files.rootCert, text: issued.rootsPem },
        ],
        options.force === true,
      );
      const leaf = issued.certificate;
      writeOutput(
        io,
        options.output,
        {
          spiffeId: id.toString(),
          serialNumber: leaf.serialNumber,
          notBefore: iso(leaf.notBefore),
          notAfter: iso(leaf.notAfter),
          files,
        },
        {
          rows: [leaf],
          columns: [
            { header: 'SPIFFE ID', value: () => id.toString() },
            { header: 'SERIAL', value: (c) => c.serialNumber },
            { header: 'NOT AFTER', value: (c) => iso(c.notAfter) },
            { header: 'FILES', value: () => `${files.key} ${files.certChain} ${files.rootCert}` },
          ],
        },
      );
    },
  );

  addOutputOption(
    ca
      .command('inspect')
      .description('show the certificates (or CSR) in a PEM or DER file')
      .argument('<file>', 'PEM certificates, a PEM CSR, or DER certificates'),
  ).action(async (file: string, options: { output: OutputFormat }) => {
    const data = await readInput(file);
    const text = data.toString('latin1');
    const blocks = text.includes('-----BEGIN ') ? decodePem(text) : undefined;
    const certs = blocks
      ? parseCertificates(blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.der))
      : parseCertificates(data);
    const csrs = (blocks ?? [])
      .filter((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST')
      .map((b) => parseCertificateRequest(b.der));
    if (certs.length === 0 && csrs.length === 0)
      throw new MeshctlError('ERR_MESHCTL_READ_FAILED', `${file} holds no certificate or certificate request`);
    const described = certs.map((c, index) => ({ index, ...describeCertificate(c) }));
    const requests = csrs.map((csr) => ({
      subject: csr.subject.toString(),
      publicKey: csr.publicKeyAlgorithm,
      uris: csr.uris,
      dnsNames: csr.subjectAltName?.dnsNames ?? [],
      signatureAlgorithm: csr.signatureAlgorithm.name,
      signatureValid: csr.verifySignature(),
    }));
    const keyText = (k: { type: string; curve?: string; bits?: number }) =>
      [k.type.toUpperCase(), k.curve ?? (k.bits ? String(k.bits) : '')].filter(Boolean).join(' ');
    const rows = [
      ...certs.map((c, i) => ({
        index: String(i),
        kind: c.isCA ? 'CA' : 'leaf',
        subject: c.subject.toString() || '-',
        names: [...c.uris, ...c.dnsNames, ...c.ipAddresses].join(',') || '-',
        issuer: c.issuer.toString(),
        notBefore: iso(c.notBefore),
        notAfter: iso(c.notAfter),
        key: keyText(c.publicKeyAlgorithm),
      })),
      ...requests.map((r, i) => ({
        index: `csr${i}`,
        kind: r.signatureValid ? 'CSR' : 'CSR (bad signature)',
        subject: r.subject || '-',
        names: [...r.uris, ...r.dnsNames].join(',') || '-',
        issuer: '-',
        notBefore: '-',
        notAfter: '-',
        key: keyText(r.publicKey),
      })),
    ];
    writeOutput(
      io,
      options.output,
      { certificates: described, ...(requests.length ? { certificateRequests: requests } : {}) },
      {
        rows,
        columns: [
          { header: '#', value: (r) => r.index },
          { header: 'KIND', value: (r) => r.kind },
          { header: 'SUBJECT', value: (r) => r.subject },
          { header: 'NAMES', value: (r) => r.names },
          { header: 'ISSUER', value: (r) => r.issuer },
          { header: 'NOT BEFORE', value: (r) => r.notBefore },
          { header: 'NOT AFTER', value: (r) => r.notAfter },
          { header: 'KEY', value: (r) => r.key },
        ],
      },
    );
  });

  for (const command of ca.commands)
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  ca.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}
