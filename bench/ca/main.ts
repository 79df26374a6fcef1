// pnpm -s bench ca [--seconds 2] [--runs 3]
//
// X.509-SVID signing and verification rates of @mesh/ca / @mesh/spiffe on one core (the Node main thread), next to
// OpenSSL measured in the same run on the same machine:
//   - `openssl speed ecdsap256`: the raw ECDSA P-256 primitive, the ceiling for both;
//   - `openssl ca -batch -infiles …`: OpenSSL signing the same CSRs into SVIDs in one process;
//   - `openssl x509 -req`: one process per certificate, as scripts do;
//   - `openssl verify -CAfile root.pem leaf…`: OpenSSL verifying the same leaves in one process.
// Medians of `runs` runs; ratios are mesh / OpenSSL. Targets (issue 3): ≥ 2,000 signatures/s, ≥ 10,000 verifications/s.
import { execFile } from 'node:child_process';
import { sign, verify } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os, { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CertificateAuthority } from '@mesh/ca';
import {
  CertificateCache,
  createCertificateRequest,
  generatePrivateKey,
  verifyX509Svid,
  X509Bundle,
} from '@mesh/spiffe';
import { publish, type Cell } from '../harness/report.ts';
import { measureRate, median } from '../harness/stats.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '2' }, runs: { type: 'string', default: '3' } },
});
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const POOL = 200;
const ID = 'spiffe://cluster.local/ns/bench/sa/workload';

function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}: ${stderr || error.message}`))
        : resolve(stdout + stderr),
    ),
  );
}

const CLOCK_TICKS = 100;
const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * Runs shell commands and returns their output and the CPU seconds (user + system) their processes used: the shell
 * reads its own children's times (cutime + cstime) from /proc after they exit. This machine is shared, so rates are
 * computed per CPU second, as `openssl speed` does by default.
 */
async function runCpu(
  commands: string[][],
  cwd: string,
): Promise<{ output: string; cpuSeconds: number; wallSeconds: number }> {
  const script = `${commands.map((c) => c.map(quote).join(' ')).join(' && ')} && echo && echo CPU-STAT && cat /proc/$$/stat`;
  const start = performance.now();
  const output = await run('sh', ['-c', script], cwd);
  const wallSeconds = (performance.now() - start) / 1000;
  const stat = /CPU-STAT\n(.*\))(.*)/.exec(output);
  if (!stat) throw new Error(`no CPU times in the output of ${commands[0]!.join(' ')}`);
  const fields = stat[2]!.trim().split(' ');
  return { output, cpuSeconds: (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS, wallSeconds };
}

interface Rate {
  /** Operations per second of wall-clock time. */
  wall: number;
  /** Operations per CPU second (user + system of this process). */
  cpu: number;
}

/** measureRate plus this process's CPU time over the same loop. */
async function rateOf(operation: () => unknown): Promise<Rate> {
  await measureRate(operation, { seconds: 1, warmupSeconds: 0 }); // warm up the JIT
  const before = process.cpuUsage();
  const result = await measureRate(operation, { seconds, warmupSeconds: 0 });
  const used = process.cpuUsage(before);
  return { wall: result.rate, cpu: result.operations / ((used.user + used.system) / 1e6) };
}

const dir = await mkdtemp(join(tmpdir(), 'bench-ca-'));
try {
  const opensslVersion = (await run('openssl', ['version'], dir)).trim();

  // ---- material shared by both sides: one P-256 root, POOL P-256 CSRs with the SVID's URI SAN ----
  const ca = CertificateAuthority.selfSigned({ maxTtlMs: 90 * 86_400_000 });
  const inter = CertificateAuthority.fromMaterial(ca.createIntermediate(), { trustDomain: ca.trustDomain });
  const csrs = Array.from({ length: POOL }, () =>
    createCertificateRequest({ privateKey: generatePrivateKey(), uris: [ID] }),
  );
  const csrPems = csrs.map((c) => c.toPem());
  await writeFile(join(dir, 'root.pem'), ca.rootCertPem);
  await writeFile(join(dir, 'root.key'), ca.material.signingKey.export({ type: 'pkcs8', format: 'pem' }));
  await mkdir(join(dir, 'csr'));
  await Promise.all(csrPems.map((pem, i) => writeFile(join(dir, 'csr', `${i}.csr`), pem)));
  await writeFile(
    join(dir, 'svid.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=critical,URI:${ID}`,
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'ca.cnf'),
    [
      '[ ca ]',
      'default_ca = CA_default',
      '[ CA_default ]',
      'dir = .',
      'database = index.txt',
      'new_certs_dir = newcerts',
      'certificate = root.pem',
      'private_key = root.key',
      'rand_serial = yes',
      'default_md = sha256',
      'policy = policy_any',
      'default_days = 1',
      'x509_extensions = svid_ext',
      'copy_extensions = none',
      'unique_subject = no',
      'email_in_dn = no',
      '[ policy_any ]',
      '[ svid_ext ]',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=critical,URI:${ID}`,
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );

  // Leaves for verification: issued by the root (leaf → root) and by an intermediate (leaf → intermediate → root).
  const leaves = csrPems.map((csr) => ca.sign({ csr, identity: ID }).certificate.der);
  const viaIntermediate = csrPems.slice(0, 50).map((csr) => {
    const issued = inter.sign({ csr, identity: ID });
    return [issued.certificate.der, inter.signingCertificate.der];
  });
  const bundle = new X509Bundle('cluster.local', ca.roots);
  await mkdir(join(dir, 'leaves'));
  await Promise.all(leaves.map((der, i) => writeFile(join(dir, 'leaves', `${i}.pem`), pem(der))));

  const results: Record<string, { wall: number; cpu: number }> = {};
  const measure = async (name: string, trial: () => Promise<Rate>) => {
    const rates: Rate[] = [];
    for (let r = 0; r < runs; r++) rates.push(await trial());
    results[name] = { wall: median(rates.map((x) => x.wall)), cpu: median(rates.map((x) => x.cpu)) };
    process.stderr.write(
      `  ${name}: ${rates.map((x) => `${Math.round(x.cpu)}/cpu-s${Number.isNaN(x.wall) ? '' : ` (${Math.round(x.wall)}/s wall)`}`).join(', ')}\n`,
    );
  };

  process.stderr.write(`bench ca: ${runs} runs of ${seconds} s, ${cpus()[0]?.model ?? 'cpu'}, ${opensslVersion}\n`);

  // ---- mesh (one core: everything runs on this thread) ----
  let i = 0;
  await measure('mesh sign', () => rateOf(() => ca.sign({ csr: csrPems[i++ % POOL]!, identity: ID })));
  await measure('mesh verify', () => rateOf(() => verifyX509Svid(leaves[i++ % POOL]!, bundle)));
  await measure('mesh verify via intermediate', () => rateOf(() => verifyX509Svid(viaIntermediate[i++ % 50]!, bundle)));
  const cache = new CertificateCache();
  await measure('mesh verify via intermediate, cached', () =>
    rateOf(() => verifyX509Svid(viaIntermediate[i++ % 50]!, bundle, { cache })),
  );
  const key = generatePrivateKey();
  const data = Buffer.alloc(400, 7);
  const signature = sign('sha256', data, key);
  await measure('node ecdsa sign', () => rateOf(() => sign('sha256', data, key)));
  await measure('node ecdsa verify', () => rateOf(() => verify('sha256', data, key, signature)));

  // ---- OpenSSL (rates per CPU second of the openssl processes; `openssl speed` divides by CPU time itself) ----
  const speedVerify: Rate[] = [];
  await measure('openssl speed sign', async () => {
    const out = await run('openssl', ['speed', '-seconds', String(seconds), 'ecdsap256'], dir);
    const line = /nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/.exec(out);
    if (!line) throw new Error(`unexpected openssl speed output: ${out}`);
    speedVerify.push({ wall: Number.NaN, cpu: Number(line[2]) });
    return { wall: Number.NaN, cpu: Number(line[1]) };
  });
  results['openssl speed verify'] = { wall: Number.NaN, cpu: median(speedVerify.map((x) => x.cpu)) };

  const caBatch = 600; // enough CPU ticks (10 ms each) for a stable rate
  await measure('openssl ca batch', async () => {
    await rm(join(dir, 'newcerts'), { recursive: true, force: true });
    await mkdir(join(dir, 'newcerts'));
    await writeFile(join(dir, 'index.txt'), '');
    const files = Array.from({ length: caBatch }, (_, k) => join('csr', `${k % POOL}.csr`));
    const r = await runCpu(
      [['openssl', 'ca', '-batch', '-config', 'ca.cnf', '-notext', '-out', 'ca-out.pem', '-infiles', ...files]],
      dir,
    );
    const made = (await readdir(join(dir, 'newcerts'))).length;
    if (made !== caBatch) throw new Error(`openssl ca made ${made} certificates, expected ${caBatch}`);
    return { wall: caBatch / r.wallSeconds, cpu: caBatch / r.cpuSeconds };
  });
  // OpenSSL's certificates are valid SVIDs for our verifier too (same profile on both sides).
  const opensslLeaf = (await readdir(join(dir, 'newcerts')))[0]!;
  verifyX509Svid(await readFile(join(dir, 'newcerts', opensslLeaf)), bundle);

  const reqLoop = 30;
  await measure('openssl x509 -req loop', async () => {
    const commands = Array.from({ length: reqLoop }, (_, k) => [
      'openssl',
      'x509',
      '-req',
      '-in',
      join('csr', `${k}.csr`),
      '-CA',
      'root.pem',
      '-CAkey',
      'root.key',
      '-days',
      '1',
      '-extfile',
      'svid.ext',
      '-out',
      'req-out.pem',
    ]);
    const r = await runCpu(commands, dir);
    return { wall: reqLoop / r.wallSeconds, cpu: reqLoop / r.cpuSeconds };
  });

  const verifyBatch = 2000;
  await measure('openssl verify batch', async () => {
    const files = Array.from({ length: verifyBatch }, (_, k) => join('leaves', `${k % POOL}.pem`));
    const r = await runCpu([['openssl', 'verify', '-CAfile', 'root.pem', ...files]], dir);
    if ((r.output.match(/: OK/g) ?? []).length !== verifyBatch)
      throw new Error('openssl verify did not accept every leaf');
    return { wall: verifyBatch / r.wallSeconds, cpu: verifyBatch / r.cpuSeconds };
  });

  const cpu = (k: string) => Math.round(results[k]?.cpu ?? Number.NaN);
  const wall = (k: string) => Math.round(results[k]?.wall ?? Number.NaN);
  const ratio = (a: number, b: number): Cell => (b > 0 ? Math.round((a / b) * 100) / 100 : null);
  const row = (operation: string, mesh: string, peer: string | null, how: string): Cell[] => [
    operation,
    cpu(mesh),
    wall(mesh),
    peer ? cpu(peer) : null,
    peer ? ratio(cpu(mesh), cpu(peer)) : null,
    how,
  ];
  publish({
    name: 'ca',
    title: `X.509-SVID signing and verification on one core (medians of ${runs} runs of ${seconds} s; node ${process.version}; ${opensslVersion})`,
    columns: ['operation', 'mesh /cpu-s', 'mesh /s wall', 'OpenSSL /cpu-s', 'mesh : OpenSSL', 'OpenSSL measured with'],
    rows: [
      row(
        'sign SVID from CSR (parse, PoP check, build, sign)',
        'mesh sign',
        'openssl ca batch',
        `openssl ca -batch -infiles (${caBatch} CSRs, one process)`,
      ),
      row(
        'sign SVID from CSR',
        'mesh sign',
        'openssl x509 -req loop',
        `openssl x509 -req, one process per cert (${reqLoop})`,
      ),
      row(
        'ECDSA P-256 sign (primitive)',
        'node ecdsa sign',
        'openssl speed sign',
        'openssl speed ecdsap256 (node: crypto.sign)',
      ),
      row(
        'verify SVID leaf -> root',
        'mesh verify',
        'openssl verify batch',
        `openssl verify -CAfile (${verifyBatch} leaves, one process)`,
      ),
      row('verify SVID leaf -> intermediate -> root', 'mesh verify via intermediate', null, '-'),
      row('  same, intermediate cached (PeerVerifier)', 'mesh verify via intermediate, cached', null, '-'),
      row(
        'ECDSA P-256 verify (primitive)',
        'node ecdsa verify',
        'openssl speed verify',
        'openssl speed ecdsap256 (node: crypto.verify)',
      ),
    ],
    notes: [
      `target >= 2,000 signatures/s on one core: ${cpu('mesh sign') >= 2000 ? 'met' : 'NOT met'} (${cpu('mesh sign')} per CPU second)`,
      `target >= 10,000 verifications/s on one core: ${cpu('mesh verify') >= 10000 ? 'met' : 'NOT met'} (${cpu('mesh verify')} per CPU second)`,
      'rates are per CPU second (user + system of the measuring process, as openssl speed reports by default); wall-clock rates depend on what else runs on this shared machine',
      'mesh sign = CertificateAuthority.sign on PEM CSRs: parse, proof-of-possession check, Istio profile, ECDSA P-256 signature, PEM chain',
      'mesh verify = verifyX509Svid on DER leaves: parse, SPIFFE leaf rules, path building and RFC 5280 checks, one ECDSA verify',
      `machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    ],
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}

function pem(der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}
