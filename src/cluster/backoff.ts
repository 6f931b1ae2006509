// Capped exponential backoff with jitter, for watch reconnects and relist retries.
// Jitter spreads reconnects of many replicas (and of our own several caches) after an API server
// restart, so they do not all arrive in the same instant.

export interface BackoffPolicy {
  /** Delay before the first retry, before jitter. */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /** Fraction of the delay that is randomised away: the delay lies in [d*(1-jitter), d]. 0..1. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, jitter: 0.5 };

/**
 * Delay before retry number `attempt` (0 = first retry): min(maxMs, initialMs * 2^attempt), then
 * shortened by up to `jitter` of itself. `random` returns [0, 1) and is injectable for tests.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const safeAttempt = Math.max(0, Math.floor(attempt));
  // 2^attempt overflows to Infinity for large attempts; Math.min keeps it at the cap.
  const capped = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(safeAttempt, 1024));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.max(0, Math.round(capped * (1 - jitter * r)));
}
