// meshctl hbone serve | connect: an HBONE endpoint that forwards each CONNECT to its :authority, and netcat over HBONE.
// Public, scriptable contract (issue 4): flags and exit codes stay stable.
//   serve   runs until SIGINT/SIGTERM, then drains (GOAWAY, open tunnels finish within --drain-timeout) and exits 0.
//           Prints one line `hbone: serving <spiffe id> on <address>` on stdout when ready, and an access-log line
//           per tunnel on stderr.
//   connect pipes stdin → tunnel and tunnel → stdout; stdin EOF half-closes the tunnel; exits 0 when both directions
//           ended. Refused or failed → exit 1 with `ERR_…: <reason>` (the HTTP status for refusals) on stderr.
import { readFileSync } from 'node:fs';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Command, Option } from 'commander';
import { abortError } from '@mesh/core';
import {
  CHANNEL_NAMES,
  createHboneServer,
  dial,
  parseAuthority,
  responseFlags,
  type HboneTunnel,
  type TunnelMessage,
} from '@mesh/hbone';
import { X509Bundle, X509BundleSet, X509Svid } from '@mesh/spiffe';
import type { CommandIO } from '../io.js';

interface TlsFlags {
  cert: string;
  key: string;
  bundle: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function readFile(command: Command, flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return command.error(`meshctl: cannot read ${flag} ${path}: ${(error as Error).message}`, { exitCode: 2 });
  }
}

/** `ip:port` or `[ipv6]:port`, port 0 meaning any free port. */
function parseListen(command: Command, value: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  const host = m ? m[1]! : '';
  try {
    if (!(port >= 0 && port <= 65_535)) throw new Error('bad port');
    return { host: parseAuthority(`${host}:1`).host, port };
  } catch {
    return command.error(`meshctl: --listen takes <ip>:<port> or [<ipv6>]:<port>, got ${JSON.stringify(value)}`, {
      exitCode: 2,
    });
  }
}

function loadIdentity(command: Command, flags: TlsFlags): { svid: X509Svid; bundles: X509BundleSet } {
  const svid = X509Svid.parse({
    certificates: readFile(command, '--cert', flags.cert),
    privateKey: readFile(command, '--key', flags.key),
  });
  const bundles = new X509BundleSet();
  for (const spec of flags.bundle) {
    const eq = spec.indexOf('=');
    if (eq <= 0)
      command.error(`meshctl: --bundle takes <trust domain>=<file>, got ${JSON.stringify(spec)}`, { exitCode: 2 });
    bundles.set(X509Bundle.parse(spec.slice(0, eq), readFile(command, '--bundle', spec.slice(eq + 1))));
  }
  if (!bundles.has(svid.id.trustDomain))
    command.error(`meshctl: no --bundle for our trust domain ${svid.id.trustDomain.name}`, { exitCode: 2 });
  return { svid, bundles };
}

function tlsOptions(command: Command): Command {
  return command
    .requiredOption('--cert <file>', 'our certificate chain (PEM: the SVID leaf first, then intermediates)')
    .requiredOption('--key <file>', 'the private key of --cert (PEM)')
    .requiredOption('--bundle <td=file>', 'trust bundle of a trust domain (PEM or SPIFFE JSON); repeatable', collect);
}

/** ztunnel's access-log line for a closed tunnel. */
function accessLog(tunnel: TunnelMessage['tunnel']): string {
  const c = tunnel.connection;
  const fields: Array<[string, string | number | undefined]> = [
    ['src.addr', c ? `${c.remoteAddress}:${c.remotePort}` : undefined],
    ['src.identity', c?.peerIdentity],
    ['dst.addr', tunnel.target],
    ['dst.hbone_addr', tunnel.authority],
    ['dst.identity', c?.localIdentity],
    ['direction', tunnel.direction],
    ['bytes_sent', tunnel.bytesSent],
    ['bytes_recv', tunnel.bytesReceived],
    ['duration', `${Math.round((tunnel.closedAt ?? tunnel.startedAt) - tunnel.startedAt)}ms`],
  ];
  const flags = responseFlags(tunnel);
  const kv = fields
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`)
    .join(' ');
  const error = tunnel.error
    ? ` error=${JSON.stringify((tunnel.error as { code?: string }).code ?? tunnel.error.message)}`
    : '';
  return `${new Date(tunnel.closedAt ?? Date.now()).toISOString()}\t${tunnel.error ? 'error' : 'info'}\taccess\tconnection complete ${kv}${flags === '-' ? '' : ` response_flags=${flags}`}${error}\n`;
}

export function registerHbone(program: Command, io: CommandIO): void {
  const hbone = program.command('hbone').description('HBONE tools: an HBONE endpoint, and netcat over HBONE');

  tlsOptions(
    hbone
      .command('serve')
      .description(
        'serve HBONE: mutual TLS 1.3, one CONNECT per tunnel, each forwarded to its :authority; drains on SIGINT/SIGTERM',
      ),
  )
    .requiredOption('--listen <ip:port>', 'address to listen on, e.g. 127.0.0.1:15008')
    .option('--allow-hostname', 'also accept <hostname>:<port> authorities (resolved with DNS)')
    .addOption(new Option('--drain-timeout <ms>', 'how long open tunnels may finish after SIGTERM').default('5000'))
    .action(
      async (flags: TlsFlags & { listen: string; allowHostname?: boolean; drainTimeout: string }, command: Command) => {
        const listen = parseListen(command, flags.listen);
        const drainTimeoutMs = Number(flags.drainTimeout);
        if (!Number.isFinite(drainTimeoutMs) || drainTimeoutMs < 0)
          command.error('meshctl: --drain-timeout takes milliseconds', { exitCode: 2 });
        const { svid, bundles } = loadIdentity(command, flags);
        const server = createHboneServer({
          certificate: () => svid,
          bundles,
          allowHostnameAuthority: flags.allowHostname ?? false,
          handler: () => ({ action: 'forward' }),
          drainTimeoutMs,
        });
        const log = ({ tunnel }: TunnelMessage) => {
          if (tunnel.direction === 'inbound') io.stderr(accessLog(tunnel));
        };
        subscribe(CHANNEL_NAMES.tunnelClose, log as (m: unknown) => void);
        try {
          const address = await server.listen({ host: listen.host, port: listen.port, signal: io.signal });
          const shown =
            address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
          io.stdout(`hbone: serving ${svid.id.toString()} on ${shown}\n`);
          await new Promise<void>((resolve) => {
            if (io.signal.aborted) resolve();
            else io.signal.addEventListener('abort', () => resolve(), { once: true });
          });
          io.stderr('hbone: draining\n');
          await server.close();
        } finally {
          await server.destroy();
          unsubscribe(CHANNEL_NAMES.tunnelClose, log as (m: unknown) => void);
        }
      },
    );

  tlsOptions(
    hbone
      .command('connect')
      .description('netcat over HBONE: pipe stdin/stdout through one CONNECT tunnel (stdin EOF half-closes it)'),
  )
    .requiredOption('--via <ip:port>', 'the HBONE server to dial (usually <pod ip>:15008)')
    .requiredOption('--target <ip:port>', 'the tunnel target (the CONNECT :authority)')
    .requiredOption(
      '--expect-id <spiffe id>',
      'accept the server only with one of these SPIFFE IDs; repeatable',
      collect,
    )
    .option('--header <name=value>', 'an extra CONNECT request header; repeatable', collect, [])
    .addOption(new Option('--timeout <ms>', 'deadline for opening the tunnel').default('30000'))
    .action(
      async (
        flags: TlsFlags & { via: string; target: string; expectId: string[]; header: string[]; timeout: string },
        command: Command,
      ) => {
        const headers: Record<string, string> = {};
        for (const h of flags.header) {
          const eq = h.indexOf('=');
          if (eq <= 0)
            command.error(`meshctl: --header takes <name>=<value>, got ${JSON.stringify(h)}`, { exitCode: 2 });
          headers[h.slice(0, eq).trim().toLowerCase()] = h.slice(eq + 1).trim();
        }
        const timeoutMs = Number(flags.timeout);
        if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
          command.error('meshctl: --timeout takes milliseconds', { exitCode: 2 });
        const { svid, bundles } = loadIdentity(command, flags);
        const tunnel = await dial({
          target: flags.target,
          via: flags.via,
          expectedIdentities: flags.expectId,
          headers,
          certificate: () => svid,
          bundles,
          timeoutMs,
          signal: io.signal,
        });
        await pipeThrough(tunnel, io);
      },
    );
}

/**
 * stdin → tunnel (stdin EOF → END_STREAM) and tunnel → stdout, each direction ending on its own; resolves when both
 * ended and stdout took everything, rejects when the tunnel fails.
 */
function pipeThrough(tunnel: HboneTunnel, io: CommandIO): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      io.stdin.unpipe(tunnel);
      io.stdin.pause();
      tunnel.destroy();
      reject(error);
    };
    const onAbort = () => fail(abortError(io.signal));
    if (io.signal.aborted) return onAbort();
    io.signal.addEventListener('abort', onAbort, { once: true });
    tunnel.once('error', fail);
    io.stdin.pipe(tunnel);
    tunnel.pipe(io.stdoutBytes, { end: false });
    tunnel.once('close', () => {
      io.signal.removeEventListener('abort', onAbort);
      if (failed) return;
      if (tunnel.info.outcome !== 'complete') return fail(tunnel.info.error ?? new Error('the tunnel failed'));
      if (io.stdoutBytes.writableNeedDrain) io.stdoutBytes.once('drain', () => resolve());
      else resolve();
    });
  });
}
