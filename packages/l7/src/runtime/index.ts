// @mesh/l7/runtime: the socket-free pieces the waypoint runs per upstream cluster.
export {
  createBalancer,
  LeastRequestBalancer,
  MaglevBalancer,
  RandomBalancer,
  RingHashBalancer,
  RoundRobinBalancer,
  type Endpoint,
  type LoadBalancer,
  type PickContext,
} from './balancers.js';
export { hash32, requestHash } from './hash.js';
export { OutlierDetector, type EjectionEvent, type Outcome } from './outlier.js';
export { CircuitBreaker, type CircuitBreakerStats, type Resource } from './circuit-breaker.js';
export { retryBackoffMs, shouldRetry, type AttemptOutcome } from './retry.js';
