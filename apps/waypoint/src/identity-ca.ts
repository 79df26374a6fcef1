// The waypoint's SVID from istiod's CA with the service account token, renewed at half its lifetime. Loaded only in
// that mode (gRPC and the CA client are not needed with certificate files).
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { IstioCaClient } from '@mesh/ca/grpc';
import { X509BundleSet } from '@mesh/spiffe';
import { WaypointError } from './errors.js';
import type { Identity } from './identity.js';
import type { Logger } from './log.js';

export async function identityFromCa(options: {
  address: string;
  rootCertFile: string;
  tokenFile: string;
  serverName: string;
  clusterId: string;
  identity: string;
  log: Logger;
  signal?: AbortSignal;
}): Promise<Identity> {
  const root = await readFile(options.rootCertFile, 'utf8').catch((error: Error) => {
    throw new WaypointError(
      'ERR_WAYPOINT_IDENTITY',
      `cannot read --root-cert ${options.rootCertFile}: ${error.message}`,
    );
  });
  const client = new IstioCaClient({
    address: options.address,
    credentials: grpc.credentials.createSsl(Buffer.from(root)),
    channelOptions: { 'grpc.ssl_target_name_override': options.serverName },
    token: async () => (await readFile(options.tokenFile, 'utf8')).trim(),
    clusterId: options.clusterId,
    timeoutMs: 10_000,
  });
  const fetch = async () => {
    const got = await client.fetchSvid({
      identity: options.identity,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return got;
  };
  let current: Awaited<ReturnType<typeof fetch>>;
  try {
    current = await fetch();
  } catch (error) {
    await client.close();
    throw new WaypointError(
      'ERR_WAYPOINT_IDENTITY',
      `the CA at ${options.address} did not issue ${options.identity}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const bundles = new X509BundleSet();
  bundles.set(current.bundle);
  let timer: NodeJS.Timeout | null = null;
  const schedule = () => {
    const notAfter = current.svid.leaf.notAfter;
    const inMs = Math.max(5_000, (notAfter - Date.now()) / 2);
    timer = setTimeout(
      () => {
        fetch().then(
          (next) => {
            current = next;
            bundles.set(next.bundle);
            options.log.info({ identity: options.identity }, 'certificate renewed');
            schedule();
          },
          (error: Error) => {
            options.log.error({ err: error.message }, 'certificate renewal failed; retrying in 10s');
            timer = setTimeout(schedule, 10_000).unref();
          },
        );
      },
      Math.min(inMs, 2_147_000_000),
    ).unref();
  };
  schedule();
  const close = async () => {
    if (timer) clearTimeout(timer);
    await client.close();
  };
  return { svid: () => current.svid, bundles, rootPem: () => root, close, [Symbol.asyncDispose]: close };
}
