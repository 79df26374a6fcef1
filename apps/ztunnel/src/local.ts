// Running without istiod (tests, demos, debugging): the state comes from Kubernetes/Istio YAML through the same
// ambient index istiod uses (so a local file means exactly what it would mean to istiod), followed live; certificates
// come from a local CA directory. Istio's ztunnel has the same idea with LOCAL_XDS_PATH.
import { CertificateAuthority } from '@mesh/ca';
import { followStore, openFileStore } from '@mesh/config';
import type { Address } from '@mesh/api/istio.workload';
import type { Logger } from 'pino';
import type { CertificateFetcher } from './identity.js';
import type { ZtunnelState } from './state.js';

export interface LocalConfig extends AsyncDisposable {
  /** Files and objects that failed to load (the rest applies). */
  readonly issues: () => string[];
}

export async function followLocalConfig(options: {
  paths: readonly string[];
  clusterId: string;
  state: ZtunnelState;
  log: Logger;
}): Promise<LocalConfig> {
  const { state, log } = options;
  const store = await openFileStore({ paths: options.paths, watch: true, debounceMs: 50 });
  const follower = followStore(store, {
    clusterId: options.clusterId,
    onChange: (changes) => {
      state.applyAddresses(
        changes.addresses.updated.flatMap((name) => {
          const r = follower.index.address(name);
          return r ? [{ name, resource: r.address as Address }] : [];
        }),
        changes.addresses.removed,
      );
      state.applyAuthorizations(
        changes.authorizations.updated.flatMap((name) => {
          const r = follower.index.authorization(name);
          return r ? [{ name, resource: r.authorization }] : [];
        }),
        changes.authorizations.removed,
      );
      log.info(
        {
          addresses: changes.addresses.updated.length + changes.addresses.removed.length,
          authorizations: changes.authorizations.updated.length + changes.authorizations.removed.length,
        },
        'local config changed',
      );
    },
  });
  state.applyAddresses(
    follower.index.addresses().map((r) => ({ name: r.name, resource: r.address as Address })),
    [],
  );
  state.applyAuthorizations(
    follower.index.authorizations().map((r) => ({ name: r.name, resource: r.authorization })),
    [],
  );
  const issues = () => store.issues.filter((i) => i.severity === 'error').map((i) => `${i.file ?? ''}: ${i.message}`);
  for (const issue of issues()) log.warn({ issue }, 'local config problem');
  return {
    issues,
    [Symbol.asyncDispose]: async () => {
      follower.stop();
      await store[Symbol.asyncDispose]();
    },
  };
}

/** Certificates from a cacerts directory (Istio's layout), or a throwaway self-signed CA when it holds none. */
export async function localCertificates(options: {
  dir: string | undefined;
  trustDomain: string;
  ttlMs: number;
  log: Logger;
}): Promise<CertificateFetcher> {
  let ca: CertificateAuthority;
  if (options.dir)
    ca = await CertificateAuthority.fromCacertsDir({ dir: options.dir, trustDomain: options.trustDomain });
  else {
    ca = CertificateAuthority.selfSigned({ trustDomain: options.trustDomain });
    options.log.warn(
      'no --local-ca-dir: certificates come from a throwaway in-memory CA (only this ztunnel trusts it)',
    );
  }
  return async (identity) => {
    const issued = ca.issue({ identity, ttlMs: options.ttlMs });
    return { svid: issued.svid!, bundle: ca.bundle };
  };
}
