// The waypoint's own SVID from files (tests, meshctl ca issue); identity-ca.ts gets it from istiod's CA instead.
// HBONE connections ask for it per handshake, so a renewal applies to new ones.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Bundle, X509BundleSet, X509Svid } from '@mesh/spiffe';
import { WaypointError } from './errors.js';

export interface Identity extends AsyncDisposable {
  svid(): X509Svid;
  readonly bundles: X509BundleSet;
  rootPem(): string;
  close(): Promise<void>;
}

export async function identityFromFiles(dir: string, trustDomain: string): Promise<Identity> {
  try {
    const [chain, key, root] = await Promise.all(
      ['cert-chain.pem', 'key.pem', 'root-cert.pem'].map((f) => readFile(join(dir, f), 'utf8')),
    );
    const svid = X509Svid.parse({ certificates: chain!, privateKey: key! });
    const bundles = new X509BundleSet();
    bundles.set(X509Bundle.parse(svid.id.trustDomain.name || trustDomain, root!));
    const close = async () => {};
    return { svid: () => svid, bundles, rootPem: () => root!, close, [Symbol.asyncDispose]: close };
  } catch (error) {
    throw new WaypointError(
      'ERR_WAYPOINT_IDENTITY',
      `cannot load the certificate files in ${dir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
