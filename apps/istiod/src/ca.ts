// istiod's CA: the material in --ca-dir (created self-signed when the directory has none), the token keys next to
// it, the authenticators shared by the CA and xDS, and the node impersonation rule for ztunnel.
import { watch, type FSWatcher } from 'node:fs';
import { access, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CACERTS_FILES,
  CaError,
  CertificateAuthority,
  loadTokenSigningKey,
  readTokenPublicKeys,
  TOKEN_KEY_FILES,
  writeCacerts,
  type Jwks,
  type JwtClaims,
} from '@mesh/ca';
import {
  bearerJwtAuthenticator,
  clientCertificateAuthenticator,
  createCaServerCredentials,
  createIstioCaService,
  type Authenticator,
  type CaServerCredentials,
  type Caller,
  type IstioCaService,
  verifyJwt,
} from '@mesh/ca/grpc';
import { SpiffeId, type SpiffeId as SpiffeIdType } from '@mesh/spiffe';
import { IstiodError } from './errors.js';
import type { Logger } from './log.js';
import type { IstiodMetrics } from './metrics.js';
import type { IstiodOptions } from './options.js';

/** Decides whether a node agent may get a certificate for `identity` (a pod with it runs on the agent's node). */
export type NodeAuthorizer = (caller: Caller, identity: SpiffeIdType) => { allowed: boolean; reason: string };

export interface IstiodCa extends AsyncDisposable {
  readonly ca: CertificateAuthority;
  readonly service: IstioCaService;
  readonly authenticators: readonly Authenticator[];
  readonly serving: CaServerCredentials;
  /** True when this start created the CA material. */
  readonly created: boolean;
  close(): Promise<void>;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Loads the CA from `dir`, or creates a self-signed one there when it holds no CA files. */
async function loadOrCreateCa(
  options: IstiodOptions,
  log: Logger,
  metrics: IstiodMetrics,
): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const dir = options.caDir;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new IstiodError('ERR_ISTIOD_CA_DIR', `cannot create ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const caOptions = {
    trustDomain: options.trustDomain,
    defaultTtlMs: options.workloadCertTtlMs,
    maxTtlMs: options.maxWorkloadCertTtlMs,
    metrics: metrics.ca,
  };
  const required = [CACERTS_FILES.signingCert, CACERTS_FILES.signingKey, CACERTS_FILES.roots];
  const present = await Promise.all(required.map((f) => exists(join(dir, f))));
  let created = false;
  if (present.every((p) => !p)) {
    const fresh = CertificateAuthority.selfSigned({ ...caOptions, keyType: options.caKeyType });
    try {
      await writeCacerts({ dir, material: fresh.material });
      created = true;
      log.info({ dir, trustDomain: options.trustDomain, keyType: options.caKeyType }, 'created a self-signed root CA');
    } catch (error) {
      // Another process created it meanwhile: use theirs.
      if (!(error instanceof CaError && error.code === 'ERR_CA_CACERTS_EXISTS')) throw error;
    }
    fresh.close();
  } else if (!present.every(Boolean)) {
    throw new IstiodError(
      'ERR_ISTIOD_CA_DIR',
      `${dir} holds only part of the cacerts files (missing ${required.filter((_, i) => !present[i]).join(', ')}); refusing to overwrite it`,
      { details: { dir } },
    );
  }
  const ca = await CertificateAuthority.fromCacertsDir({ dir, ...caOptions });
  const foreign = [ca.signingCertificate, ...ca.roots]
    .flatMap((c) => c.uris)
    .map((u) => SpiffeId.tryParse(u))
    .find((id) => id && id.path === '' && id.trustDomain.name !== options.trustDomain);
  if (foreign) {
    ca.close();
    throw new IstiodError(
      'ERR_ISTIOD_CA_DIR',
      `the CA in ${dir} is for trust domain ${foreign.trustDomain.name}, not ${options.trustDomain} (--trust-domain)`,
      { details: { dir } },
    );
  }
  return { ca, created };
}

/** Token verification keys: <ca-dir>/sa.pub and --jwks-file, re-read when a file changes (checked at most 1/s). */
function tokenKeys(options: IstiodOptions, log: Logger) {
  const files = [join(options.caDir, TOKEN_KEY_FILES.publicKeys), ...(options.jwksFile ? [options.jwksFile] : [])];
  const state = new Map<string, { stamp: string; jwks: Jwks }>();
  let checkedAt = 0;
  let current: Jwks = { keys: [] };
  const refresh = async () => {
    const keys: Jwks['keys'][number][] = [];
    for (const file of files) {
      let stamp: string;
      try {
        const s = await stat(file);
        stamp = `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        state.delete(file);
        continue;
      }
      let entry = state.get(file);
      if (entry?.stamp !== stamp) {
        try {
          const jwks = file.endsWith(TOKEN_KEY_FILES.publicKeys)
            ? await readTokenPublicKeys({ file })
            : (JSON.parse(await readFile(file, 'utf8')) as Jwks);
          if (!Array.isArray(jwks.keys)) throw new Error('no "keys" array');
          entry = { stamp, jwks };
          state.set(file, entry);
          log.info({ file, keys: jwks.keys.length }, 'loaded token verification keys');
        } catch (error) {
          // Keep the last good keys of that file.
          log.error({ file, err: error }, 'cannot read token verification keys; keeping the previous ones');
          if (!entry) continue;
        }
      }
      keys.push(...entry.jwks.keys);
    }
    current = { keys };
  };
  return {
    refresh,
    async jwks(): Promise<Jwks> {
      const now = Date.now();
      if (now - checkedAt >= 1_000) {
        checkedAt = now;
        await refresh();
      }
      return current;
    },
  };
}

const TOKEN_CACHE_MS = 60_000;
const TOKEN_CACHE_SIZE = 10_000;

/**
 * Token verification with a cache of verified tokens (as istiod caches TokenReview results): a ztunnel sends the same
 * token for every CSR and every stream, so each is verified once a minute at most, not once per call. Entries live
 * for a minute and never past the token's expiry, so a key removed from sa.pub stops working within a minute.
 */
function verifiedTokens(jwks: () => Promise<Jwks>, options: IstiodOptions) {
  const cache = new Map<string, { claims: JwtClaims; until: number }>();
  return async (token: string, context: { audiences: readonly string[] }): Promise<JwtClaims> => {
    const now = Date.now();
    const hit = cache.get(token);
    if (hit && hit.until > now) return hit.claims;
    cache.delete(token);
    const claims = verifyJwt(token, {
      jwks: await jwks(),
      audiences: context.audiences,
      issuers: options.tokenIssuers,
      now,
    });
    if (cache.size >= TOKEN_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(token, { claims, until: Math.min(now + TOKEN_CACHE_MS, (claims.exp ?? 0) * 1000) });
    return claims;
  };
}

/** Wraps an authenticator so callers naming another cluster (clusterid header) are refused. */
function sameCluster(clusterId: string, inner: Authenticator): Authenticator {
  return {
    name: inner.name,
    authenticate(request) {
      const claimed = request.metadata.get('clusterid')?.[0];
      if (claimed && claimed !== clusterId)
        return Promise.reject(
          new CaError('ERR_CA_UNAUTHENTICATED', `clusterid ${claimed} is not this cluster (${clusterId})`),
        );
      return inner.authenticate(request);
    },
  };
}

export async function openCa(
  options: IstiodOptions,
  context: { log: Logger; metrics: IstiodMetrics; nodeAuthorizer: NodeAuthorizer },
): Promise<IstiodCa> {
  const log = context.log.child({ scope: 'ca' });
  const { ca, created } = await loadOrCreateCa(options, log, context.metrics);
  const cleanups: (() => void)[] = [() => ca.close()];
  try {
    const signing = await loadTokenSigningKey({ dir: options.caDir, create: true });
    log.info(
      { kid: signing.kid, alg: signing.alg, file: join(options.caDir, TOKEN_KEY_FILES.signingKey) },
      'service account token signing key ready (meshctl token create signs with it)',
    );
    const keys = tokenKeys(options, log);
    await keys.refresh();

    const authenticators: Authenticator[] = [
      clientCertificateAuthenticator({ ca }),
      bearerJwtAuthenticator({
        verify: verifiedTokens(keys.jwks, options),
        trustDomain: options.trustDomain,
        audiences: options.tokenAudiences,
      }),
    ].map((a) => sameCluster(options.clusterId, a));

    const impersonation =
      options.trustedNodeAccounts.length === 0
        ? undefined
        : {
            trustedNodeAccounts: options.trustedNodeAccounts,
            authorize: ({ caller, identity }: { caller: Caller; identity: SpiffeIdType }) => {
              const decision = context.nodeAuthorizer(caller, identity);
              context.metrics.impersonation.inc({ result: decision.allowed ? 'allowed' : 'denied' });
              (decision.allowed ? log.debug : log.warn).call(
                log,
                { caller: caller.identities.map(String), identity: identity.toString(), reason: decision.reason },
                decision.allowed ? 'impersonation allowed' : 'impersonation denied',
              );
              return decision.allowed;
            },
          };
    const service = createIstioCaService({
      ca,
      authenticators,
      metrics: context.metrics.ca,
      ...(impersonation ? { impersonation } : {}),
    });
    // Log every refused request (the caller only sees the gRPC status); successes at debug.
    const handler = service.createCertificate;
    const logged: IstioCaService = {
      handle: service.handle,
      createCertificate(call, callback) {
        handler(call, (error, response) => {
          if (error)
            log.warn({ peer: call.getPeer(), code: error.code, reason: error.details }, 'certificate request refused');
          else log.debug({ peer: call.getPeer() }, 'certificate issued');
          callback(error, response);
        });
      },
    };

    const dnsNames = [
      `istiod.${options.istiodNamespace}.svc`,
      `istiod.${options.istiodNamespace}.svc.${options.domainSuffix}`,
      ...options.servingDnsNames,
    ];
    const serving = createCaServerCredentials(ca, { dnsNames });
    cleanups.push(() => serving.close());

    // Self-signed roots rotate (same key, new validity) and are written back, so a restart keeps the current root.
    const ownWrites = { until: 0 };
    const unsubscribe = ca.onBundleChange(() => {
      log.info({ roots: ca.roots.length }, 'trust bundle changed');
      if (!ca.selfSigned) return;
      ownWrites.until = Date.now() + 2_000;
      writeCacerts({ dir: options.caDir, material: ca.material, overwrite: true }).catch((error: unknown) =>
        log.error({ err: error }, 'cannot write the rotated root to the CA directory'),
      );
    });
    cleanups.push(unsubscribe);
    ca.startRotation();

    // A plug-in CA is rotated by replacing its files: reload them (a bad set keeps the current material).
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      watcher = watch(options.caDir, (_event, file) => {
        if (!file || !Object.values(CACERTS_FILES).includes(file as never) || Date.now() < ownWrites.until) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          ca.reload().then(
            () => log.info({ dir: options.caDir }, 'reloaded the CA material'),
            (error: unknown) =>
              log.error({ err: error, dir: options.caDir }, 'cannot reload the CA material; keeping the current one'),
          );
        }, 500);
        timer.unref();
      });
      watcher.unref();
      cleanups.push(() => {
        clearTimeout(timer);
        watcher?.close();
      });
    } catch (error) {
      log.warn({ err: error }, 'cannot watch the CA directory; CA material changes need a restart');
    }

    log.info(
      {
        dir: options.caDir,
        trustDomain: ca.trustDomain.name,
        selfSigned: ca.selfSigned,
        rootNotAfter: new Date(ca.roots[0]!.notAfter).toISOString(),
        servingDnsNames: dnsNames,
      },
      created ? 'CA ready (new self-signed root)' : 'CA ready',
    );
    const close = async () => {
      for (const cleanup of cleanups.splice(0).reverse()) cleanup();
    };
    return {
      ca,
      service: logged,
      authenticators,
      serving,
      created,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) cleanup();
    throw error;
  }
}
