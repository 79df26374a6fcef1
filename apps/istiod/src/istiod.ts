// istiod, composed: CA, discovery (config → index → xDS), the gRPC servers (15010 plaintext xDS, 15012 TLS xDS + CA)
// and the monitoring server (15014). `startIstiod` resolves once every port listens and the first full config is
// served; `close()` drains: readiness off, streams ended with UNAVAILABLE (proxies reconnect elsewhere), calls in
// flight get the grace period, then connections are cut.
import type { Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { IstioCertificateServiceDefinition } from '@mesh/api/istio.v1.auth';
import { DEFAULT_SERVER_GRPC_OPTIONS } from '@mesh/xds';
import { openCa, type IstiodCa } from './ca.js';
import { Discovery } from './discovery.js';
import { IstiodError } from './errors.js';
import type { Logger } from './log.js';
import { createMetrics, type IstiodMetrics } from './metrics.js';
import { createMonitoringServer } from './monitoring.js';
import type { IstiodOptions, ListenAddress } from './options.js';

export interface Istiod extends AsyncDisposable {
  readonly discovery: Discovery;
  readonly ca: IstiodCa;
  readonly metrics: IstiodMetrics;
  /** Bound ports (useful with port 0). */
  readonly ports: { grpc: number | null; secureGrpc: number | null; monitoring: number | null };
  readonly ready: boolean;
  close(): Promise<void>;
}

/** The gRPC metadata key each listener stamps on every call, so handlers know which port a call came in on. */
export const LISTENER_KEY = 'x-istiod-listener';

/**
 * Stamps `x-istiod-listener: <name>` on every incoming call, replacing any value the client sent. grpc-js only reports
 * TLS in a call's auth context when the client presented a verified certificate, so token callers on 15012 would look
 * like plaintext without it.
 */
function listenerStamp(name: 'secure' | 'plaintext'): grpc.ServerInterceptor {
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            metadata.set(LISTENER_KEY, name);
            nextMetadata(metadata);
          },
        }),
    });
}

const label = (a: ListenAddress) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;

async function bindGrpc(
  server: grpc.Server,
  address: ListenAddress,
  credentials: grpc.ServerCredentials,
  flag: string,
) {
  try {
    return await new Promise<number>((resolve, reject) =>
      server.bindAsync(label(address), credentials, (error, port) => (error ? reject(error) : resolve(port))),
    );
  } catch (error) {
    throw new IstiodError('ERR_ISTIOD_LISTEN_FAILED', `--${flag} ${label(address)}: ${(error as Error).message}`, {
      cause: error,
      details: { address: label(address) },
    });
  }
}

async function listenHttp(server: HttpServer, address: ListenAddress): Promise<number> {
  try {
    return await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        const bound = server.address();
        resolve(typeof bound === 'object' && bound ? bound.port : address.port);
      });
    });
  } catch (error) {
    throw new IstiodError(
      'ERR_ISTIOD_LISTEN_FAILED',
      `--monitoring-addr ${label(address)}: ${(error as Error).message}`,
      {
        cause: error,
        details: { address: label(address) },
      },
    );
  }
}

function shutdownGrpc(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    force.unref();
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

export async function startIstiod(options: IstiodOptions, context: { log: Logger; version: string }): Promise<Istiod> {
  const { log, version } = context;
  const metrics = createMetrics({ version });
  let ca: IstiodCa | undefined;
  const discovery = new Discovery({ options, log, metrics, authenticators: () => ca?.authenticators ?? [] });
  const servers: grpc.Server[] = [];
  let monitoring: HttpServer | undefined;
  let closed = false;
  const ports: Istiod['ports'] = { grpc: null, secureGrpc: null, monitoring: null };

  const close = async () => {
    if (closed) return;
    closed = true;
    log.info({ graceMs: options.shutdownGraceMs }, 'shutting down: readiness off, closing xDS streams');
    await discovery.close({ graceMs: options.shutdownGraceMs });
    await Promise.all(servers.map((s) => shutdownGrpc(s, options.shutdownGraceMs)));
    await ca?.close();
    if (monitoring) {
      monitoring.closeAllConnections?.();
      await new Promise<void>((resolve) => monitoring!.close(() => resolve()));
    }
    log.info('istiod stopped');
  };

  try {
    // Monitoring first, so /ready answers 503 (not connection refused) while istiod starts.
    if (options.monitoringAddr) {
      monitoring = createMonitoringServer({
        discovery,
        metrics,
        ca: () => ca?.ca,
        ready: () => !closed && discovery.ready && ca !== undefined,
        version,
        debug: options.debugEndpoints,
        log: log.child({ scope: 'monitoring' }),
      });
      ports.monitoring = await listenHttp(monitoring, options.monitoringAddr);
    }
    ca = await openCa(options, { log, metrics, nodeAuthorizer: discovery.nodeAuthorizer });

    const grpcOptions = { ...DEFAULT_SERVER_GRPC_OPTIONS, 'grpc.max_connection_age_ms': 30 * 60_000 };
    if (options.secureGrpcAddr) {
      const secure = new grpc.Server({ ...grpcOptions, interceptors: [listenerStamp('secure')] });
      discovery.xds.register(secure);
      secure.addService(IstioCertificateServiceDefinition, ca.service as unknown as grpc.UntypedServiceImplementation);
      servers.push(secure);
      ports.secureGrpc = await bindGrpc(secure, options.secureGrpcAddr, ca.serving.credentials, 'secure-grpc-addr');
    }
    if (options.grpcAddr) {
      const plain = new grpc.Server({ ...grpcOptions, interceptors: [listenerStamp('plaintext')] });
      discovery.xds.register(plain);
      servers.push(plain);
      ports.grpc = await bindGrpc(plain, options.grpcAddr, grpc.ServerCredentials.createInsecure(), 'grpc-addr');
    }
    await discovery.start();
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  log.info(
    {
      grpc: ports.grpc,
      secureGrpc: ports.secureGrpc,
      monitoring: ports.monitoring,
      configDir: options.configDir ?? null,
      caDir: options.caDir,
      trustDomain: options.trustDomain,
      version,
    },
    'istiod ready',
  );
  return {
    discovery,
    ca,
    metrics,
    ports,
    get ready() {
      return !closed && discovery.ready;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
