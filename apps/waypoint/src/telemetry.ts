// Request telemetry in Istio's shape: the standard metrics with the standard labels (reporter="waypoint"), an
// access-log line per request, and W3C/B3 trace context with optional OTLP/HTTP (JSON) span export.
import { randomBytes } from 'node:crypto';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from './log.js';

export const LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;
export type Label = (typeof LABELS)[number];
export type Labels = Record<Label, string>;

const TCP_LABELS = LABELS.filter((l) => !['response_code', 'grpc_response_status', 'request_protocol'].includes(l));

// Istio's default buckets for the duration histogram (ms) and the size histograms (bytes).
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000];
const SIZE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

export interface WaypointMetrics {
  readonly registry: Registry;
  readonly requests: RequestMetrics;
  /** Everything on the /metrics page: the registry's metrics and the request metrics. */
  render(): Promise<string>;
  readonly tcpOpened: Counter<string>;
  readonly tcpClosed: Counter<string>;
  readonly tcpSent: Counter<string>;
  readonly tcpReceived: Counter<string>;
  readonly ejections: Counter<'cluster' | 'reason'>;
  readonly configVersion: Gauge;
  readonly upstreamRetries: Counter<'cluster'>;
}

/** The four request metrics of one label set, accumulated as plain numbers. */
interface Series {
  readonly labels: string;
  requests: number;
  readonly duration: Float64Array;
  durationSum: number;
  readonly requestBytes: Float64Array;
  requestBytesSum: number;
  readonly responseBytes: Float64Array;
  responseBytesSum: number;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function bucketIndex(buckets: readonly number[], value: number): number {
  let i = 0;
  while (i < buckets.length && value > buckets[i]!) i++;
  return i; // buckets.length: only +Inf
}

/**
 * istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes and istio_response_bytes, kept by
 * the waypoint itself: a request records four series with 25 labels, and prom-client validates and hashes the label
 * object on every call (the largest JS cost per request after HTTP itself). One string key per request here; the
 * exposition text is rendered on scrape in Prometheus' format.
 */
export class RequestMetrics {
  readonly #series = new Map<string, Series>();

  /**
   * `key` must identify the label set (the caller builds it from what the labels derive from, which is cheaper than
   * the 25 values); `labels` is only called for a series not seen yet.
   */
  record(key: string, labels: () => Labels, durationMs: number, requestBytes: number, responseBytes: number): void {
    let s = this.#series.get(key);
    if (!s) {
      const l = labels();
      s = {
        labels: LABELS.map((name) => `${name}="${escapeLabel(l[name])}"`).join(','),
        requests: 0,
        duration: new Float64Array(DURATION_BUCKETS.length + 1),
        durationSum: 0,
        requestBytes: new Float64Array(SIZE_BUCKETS.length + 1),
        requestBytesSum: 0,
        responseBytes: new Float64Array(SIZE_BUCKETS.length + 1),
        responseBytesSum: 0,
      };
      this.#series.set(key, s);
    }
    s.requests++;
    s.duration[bucketIndex(DURATION_BUCKETS, durationMs)]!++;
    s.durationSum += durationMs;
    s.requestBytes[bucketIndex(SIZE_BUCKETS, requestBytes)]!++;
    s.requestBytesSum += requestBytes;
    s.responseBytes[bucketIndex(SIZE_BUCKETS, responseBytes)]!++;
    s.responseBytesSum += responseBytes;
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP istio_requests_total Requests handled', '# TYPE istio_requests_total counter');
    for (const s of this.#series.values()) out.push(`istio_requests_total{${s.labels}} ${s.requests}`);
    const histogram = (
      name: string,
      help: string,
      buckets: readonly number[],
      counts: (s: Series) => Float64Array,
      sum: (s: Series) => number,
    ) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const s of this.#series.values()) {
        const c = counts(s);
        let cumulative = 0;
        for (let i = 0; i < buckets.length; i++) {
          cumulative += c[i]!;
          out.push(`${name}_bucket{le="${buckets[i]}",${s.labels}} ${cumulative}`);
        }
        cumulative += c[buckets.length]!;
        out.push(`${name}_bucket{le="+Inf",${s.labels}} ${cumulative}`);
        out.push(`${name}_sum{${s.labels}} ${sum(s)}`, `${name}_count{${s.labels}} ${cumulative}`);
      }
    };
    histogram(
      'istio_request_duration_milliseconds',
      'Request duration',
      DURATION_BUCKETS,
      (s) => s.duration,
      (s) => s.durationSum,
    );
    histogram(
      'istio_request_bytes',
      'Request size (headers and body)',
      SIZE_BUCKETS,
      (s) => s.requestBytes,
      (s) => s.requestBytesSum,
    );
    histogram(
      'istio_response_bytes',
      'Response size (headers and body)',
      SIZE_BUCKETS,
      (s) => s.responseBytes,
      (s) => s.responseBytesSum,
    );
    return `${out.join('\n')}\n`;
  }
}

export function createMetrics(options: { version: string }): WaypointMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const r = { registers: [registry] };
  new Gauge({ name: 'istio_build', help: 'Istio component build info', labelNames: ['component', 'tag'], ...r }).set(
    { component: 'proxy', tag: options.version },
    1,
  );
  const requests = new RequestMetrics();
  return {
    registry,
    requests,
    render: async () => `${await registry.metrics()}\n${requests.render()}`,
    tcpOpened: new Counter({
      name: 'istio_tcp_connections_opened_total',
      help: 'TCP connections opened',
      labelNames: TCP_LABELS,
      ...r,
    }),
    tcpClosed: new Counter({
      name: 'istio_tcp_connections_closed_total',
      help: 'TCP connections closed',
      labelNames: TCP_LABELS,
      ...r,
    }),
    tcpSent: new Counter({
      name: 'istio_tcp_sent_bytes_total',
      help: 'Bytes sent to the client on TCP connections',
      labelNames: TCP_LABELS,
      ...r,
    }),
    tcpReceived: new Counter({
      name: 'istio_tcp_received_bytes_total',
      help: 'Bytes received from the client on TCP connections',
      labelNames: TCP_LABELS,
      ...r,
    }),
    ejections: new Counter({
      name: 'waypoint_outlier_ejections_total',
      help: 'Endpoints ejected by outlier detection',
      labelNames: ['cluster', 'reason'],
      ...r,
    }),
    configVersion: new Gauge({ name: 'waypoint_config_version', help: 'Config snapshots applied', ...r }),
    upstreamRetries: new Counter({
      name: 'waypoint_upstream_retries_total',
      help: 'Upstream retries',
      labelNames: ['cluster'],
      ...r,
    }),
  };
}

// ------------------------------------------------------------------------------------------------ trace context

export interface TraceContext {
  traceId: string;
  /** The caller's span (our parent), if any. */
  parentSpanId: string | null;
  /** Our span: what goes upstream as the parent. */
  spanId: string;
  sampled: boolean;
}

// Trace and span ids from a pooled random buffer: one randomBytes call per 4 KiB of ids instead of one per id (a
// per-request randomBytes was ~2% of the waypoint's CPU).
let pool = Buffer.alloc(0);
let offset = 0;
const hex = (bytes: number) => {
  if (offset + bytes > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const out = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return out;
};
const isHex = (s: string | undefined, n: number) => s !== undefined && s.length === n && /^[0-9a-f]+$/.test(s);

type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;
const one = (h: HeaderBag, name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Reads W3C traceparent, else B3 (multi or single header); starts a trace when neither is there. */
export function traceContext(headers: HeaderBag): TraceContext {
  const tp = one(headers, 'traceparent');
  const m = tp ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(tp.trim()) : null;
  if (m && !/^0+$/.test(m[1]!) && !/^0+$/.test(m[2]!))
    return { traceId: m[1]!, parentSpanId: m[2]!, spanId: hex(8), sampled: (parseInt(m[3]!, 16) & 1) === 1 };
  const b3 = one(headers, 'b3');
  if (b3) {
    const [t, s, flag] = b3.split('-');
    if ((isHex(t, 32) || isHex(t, 16)) && isHex(s, 16))
      return { traceId: t!.padStart(32, '0'), parentSpanId: s!, spanId: hex(8), sampled: flag !== '0' };
  }
  const t = one(headers, 'x-b3-traceid');
  const s = one(headers, 'x-b3-spanid');
  if ((isHex(t, 32) || isHex(t, 16)) && isHex(s, 16))
    return {
      traceId: t!.padStart(32, '0'),
      parentSpanId: s!,
      spanId: hex(8),
      sampled: one(headers, 'x-b3-sampled') !== '0',
    };
  return { traceId: hex(16), parentSpanId: null, spanId: hex(8), sampled: true };
}

/** The headers that carry our span to the upstream (both formats, as Istio's proxies send both). */
export function propagationHeaders(ctx: TraceContext): Record<string, string> {
  return {
    traceparent: `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`,
    'x-b3-traceid': ctx.traceId,
    'x-b3-spanid': ctx.spanId,
    ...(ctx.parentSpanId ? { 'x-b3-parentspanid': ctx.parentSpanId } : {}),
    'x-b3-sampled': ctx.sampled ? '1' : '0',
  };
}

export const TRACE_HEADERS = [
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
];

export interface SpanRecord {
  ctx: TraceContext;
  name: string;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number>;
  error: boolean;
}

/** Batches spans and posts them as OTLP/HTTP JSON; drops (and counts) when the collector is slow or down. */
export class OtlpExporter {
  #queue: SpanRecord[] = [];
  #timer: NodeJS.Timeout | null = null;
  dropped = 0;
  exported = 0;

  constructor(private readonly options: { endpoint: string; serviceName: string; log: Logger; maxQueue?: number }) {}

  add(span: SpanRecord): void {
    if (!span.ctx.sampled) return;
    if (this.#queue.length >= (this.options.maxQueue ?? 2048)) {
      this.dropped++;
      return;
    }
    this.#queue.push(span);
    this.#timer ??= setTimeout(() => void this.flush(), 1000).unref();
  }

  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const spans = this.#queue;
    if (spans.length === 0) return;
    this.#queue = [];
    const ns = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);
    const body = {
      resourceSpans: [
        {
          resource: {
            attributes: [{ key: 'service.name', value: { stringValue: this.options.serviceName } }],
          },
          scopeSpans: [
            {
              scope: { name: 'mesh-waypoint' },
              spans: spans.map((s) => ({
                traceId: s.ctx.traceId,
                spanId: s.ctx.spanId,
                ...(s.ctx.parentSpanId ? { parentSpanId: s.ctx.parentSpanId } : {}),
                name: s.name,
                kind: 2, // SERVER: the waypoint's span is the server side of the caller's request
                startTimeUnixNano: ns(s.startMs),
                endTimeUnixNano: ns(s.endMs),
                attributes: Object.entries(s.attributes).map(([key, v]) => ({
                  key,
                  value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
                })),
                status: { code: s.error ? 2 : 0 },
              })),
            },
          ],
        },
      ],
    };
    try {
      const res = await fetch(this.options.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.exported += spans.length;
    } catch (error) {
      this.dropped += spans.length;
      this.options.log.warn({ err: (error as Error).message, spans: spans.length }, 'OTLP export failed');
    }
  }
}
