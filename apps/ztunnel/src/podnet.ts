// How ztunnel reaches a pod's network. Istio's in-pod model opens the proxy's listeners inside each pod's network
// namespace; here that is one interface so the loopback implementation (a pod is a 127.0.0.0/8 address, no root) and
// a later network-namespace implementation (setns + iptables, 15001/15006 transparent capture) are interchangeable.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ZtunnelError } from './errors.js';

export interface PodRef {
  readonly uid: string;
  readonly ip: string;
}

/** The ports a pod's proxy listens on inside its network. */
export type PodPort = 'hbone' | 'socks5' | 'outbound' | 'inbound-plaintext';

export const POD_PORTS: Readonly<Record<PodPort, number>> = {
  hbone: 15008,
  socks5: 15080,
  outbound: 15001,
  'inbound-plaintext': 15006,
};

/** What a proxy instance may do in one pod's network. */
export interface PodNetworkContext {
  readonly pod: PodRef;
  /** Opens a listener in the pod's network; the server is listening when this resolves. */
  listen(port: PodPort, onConnection: (socket: Socket) => void, options?: { maxConnections?: number }): Promise<Server>;
  /** Which ports this network implements (loopback: hbone and socks5; 15001/15006 need a network namespace). */
  readonly supports: ReadonlySet<PodPort>;
  /** Connects from the pod's network (source address = the pod IP where possible). */
  dial(target: { host: string; port: number }, options?: { timeoutMs?: number }): Promise<Socket>;
  /** The local address to bind when originating traffic for this pod (HBONE client, plain TCP). */
  readonly sourceAddress: string | undefined;
}

export interface PodNetwork {
  readonly kind: string;
  enter(pod: PodRef): PodNetworkContext;
}

export interface LoopbackPodNetworkOptions {
  /** Port overrides per pod port (tests). Default the Istio ports. */
  ports?: Partial<Record<PodPort, number>>;
}

/** Pods are addresses in 127.0.0.0/8 (or ::1); listeners bind the pod IP; apps use the pod's SOCKS5 port. */
export class LoopbackPodNetwork implements PodNetwork {
  readonly kind = 'loopback';
  readonly #ports: Record<PodPort, number>;

  constructor(options: LoopbackPodNetworkOptions = {}) {
    this.#ports = { ...POD_PORTS, ...options.ports };
  }

  enter(pod: PodRef): PodNetworkContext {
    const ports = this.#ports;
    const loopback = pod.ip.startsWith('127.') || pod.ip === '::1';
    return {
      pod,
      supports: new Set<PodPort>(['hbone', 'socks5']),
      sourceAddress: loopback ? pod.ip : undefined,
      listen(port, onConnection, options = {}) {
        if (port === 'outbound' || port === 'inbound-plaintext')
          return Promise.reject(
            new ZtunnelError(
              'ERR_ZTUNNEL_LISTEN_FAILED',
              `the loopback pod network has no transparent capture (${port} ${ports[port]}); use SOCKS5 on ${ports.socks5}`,
            ),
          );
        const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, onConnection);
        if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
        return new Promise((resolve, reject) => {
          server.once('error', (error: NodeJS.ErrnoException) =>
            reject(
              new ZtunnelError(
                'ERR_ZTUNNEL_LISTEN_FAILED',
                `pod ${pod.uid}: cannot listen on ${pod.ip}:${ports[port]}: ${error.code ?? error.message}`,
                {
                  cause: error,
                },
              ),
            ),
          );
          server.listen({ host: pod.ip, port: ports[port], exclusive: true }, () => resolve(server));
        });
      },
      dial(target, options = {}) {
        return new Promise((resolve, reject) => {
          const socket = connect({
            host: target.host,
            port: target.port,
            allowHalfOpen: true,
            noDelay: true,
            ...(loopback && target.host.startsWith('127.') ? { localAddress: pod.ip } : {}),
          });
          const timer = setTimeout(() => {
            socket.destroy();
            reject(new Error(`connect to ${target.host}:${target.port} timed out`));
          }, options.timeoutMs ?? 10_000);
          socket.once('connect', () => {
            clearTimeout(timer);
            socket.removeListener('error', reject);
            resolve(socket);
          });
          socket.once('error', (error) => {
            clearTimeout(timer);
            reject(error);
          });
        });
      },
    };
  }
}
