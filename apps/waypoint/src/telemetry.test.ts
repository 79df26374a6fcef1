import { describe, expect, it } from 'vitest';
import { LABELS, RequestMetrics, type Labels } from './telemetry.js';

describe('request metrics', () => {
  it('renders Istio series in the Prometheus text format, cumulative buckets, escaped label values', () => {
    const labels = Object.fromEntries(LABELS.map((l) => [l, 'unknown'])) as Labels;
    labels.reporter = 'waypoint';
    labels.response_code = '200';
    labels.destination_service = 'a"b\\c';
    const m = new RequestMetrics();
    m.record('k', () => labels, 3, 120, 2048);
    m.record('k', () => labels, 30, 120, 2048);
    const text = m.render();
    expect(text).toContain('# TYPE istio_requests_total counter');
    expect(text).toMatch(/^istio_requests_total\{reporter="waypoint",.*destination_service="a\\"b\\\\c".*\} 2$/m);
    expect(text).toMatch(/^istio_request_duration_milliseconds_bucket\{le="1",reporter="waypoint",[^}]*\} 0$/m);
    expect(text).toMatch(/^istio_request_duration_milliseconds_bucket\{le="5",reporter="waypoint",[^}]*\} 1$/m);
    expect(text).toMatch(/^istio_request_duration_milliseconds_bucket\{le="50",reporter="waypoint",[^}]*\} 2$/m);
    expect(text).toMatch(/^istio_request_duration_milliseconds_sum\{[^}]*\} 33$/m);
    expect(text).toMatch(/^istio_response_bytes_bucket\{le="1000",[^}]*\} 0$/m);
    expect(text).toMatch(/^istio_response_bytes_bucket\{le="10000",[^}]*\} 2$/m);
    expect(text).toMatch(/^istio_request_bytes_count\{[^}]*\} 2$/m);
  });
});
