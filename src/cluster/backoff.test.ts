import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_BACKOFF } from './backoff.ts';

describe('backoffDelayMs', () => {
  it('doubles from initialMs up to maxMs when jitter is off', () => {
    const policy = { initialMs: 100, maxMs: 1000, jitter: 0 };
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelayMs(a, policy))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('always lies in [cap*(1-jitter), cap] with cap = min(maxMs, initialMs*2^attempt)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialMs, maxMs, jitter, r) => {
          const cap = Math.min(maxMs, initialMs * 2 ** attempt);
          const delay = backoffDelayMs(attempt, { initialMs, maxMs, jitter }, () => r);
          expect(delay).toBeLessThanOrEqual(Math.round(cap));
          expect(delay).toBeGreaterThanOrEqual(Math.floor(cap * (1 - jitter)));
          expect(Number.isFinite(delay)).toBe(true);
        },
      ),
    );
  });

  it('never exceeds the default cap, even for absurd attempt counts', () => {
    expect(backoffDelayMs(1e9)).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs);
    expect(backoffDelayMs(-3, DEFAULT_BACKOFF, () => 0)).toBe(DEFAULT_BACKOFF.initialMs);
  });
});
