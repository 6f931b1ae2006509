import { describe, expect, it } from 'vitest';
import type { Decision } from './admission/engine.ts';
import { createMetrics, slug } from './metrics.ts';

const base: Decision = {
  uid: 'u',
  policy: 'helm-uninstall-namespace',
  verdict: 'warn',
  mode: 'warn',
  object: 'Secret ns/x',
  operation: 'DELETE',
  user: 'bob',
  latencyMs: 3,
  dryRun: false,
};

describe('metrics', () => {
  it('counts and times decisions by policy and verdict, undecided by reason, break-glass by policy', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordReview(
      [
        base,
        {
          ...base,
          policy: 'olm-orphaned-finalizers',
          verdict: 'undecided',
          reason: 'lookup of Deployment olm/olm-operator timed out after 1500ms',
          undecidedKind: 'timeout',
        },
      ],
      0.004,
    );
    m.recordReview([{ ...base, policy: 'olm-orphaned-finalizers', verdict: 'break-glass', reason: 'break-glass: planned teardown' }], 0.001);
    m.recordReview([], 0.0002);
    const text = await m.registry.metrics();
    expect(text).toContain('teardown_guard_admission_requests_total{policy="helm-uninstall-namespace",verdict="warn"} 1');
    expect(text).toContain('teardown_guard_admission_requests_total{policy="olm-orphaned-finalizers",verdict="undecided"} 1');
    expect(text).toContain('teardown_guard_admission_requests_total{policy="none",verdict="allow"} 1');
    expect(text).toContain('teardown_guard_admission_duration_seconds_bucket{le="0.0025",policy="helm-uninstall-namespace",verdict="warn"} 0');
    expect(text).toContain('teardown_guard_admission_duration_seconds_bucket{le="0.005",policy="helm-uninstall-namespace",verdict="warn"} 1');
    expect(text).toContain('teardown_guard_undecided_total{policy="olm-orphaned-finalizers",reason="timeout"} 1');
    expect(text).toContain('teardown_guard_break_glass_total{policy="olm-orphaned-finalizers"} 1');
  });

  it('reads cache state and view counters at scrape time', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let synced = false;
    m.setCacheSource(() => [{ name: 'namespaces', synced, items: 7 }]);
    m.setClusterCountersSource(() => ({
      perCache: { namespaces: { events: 5, relists: 1, reconnects: 2, failures: 0 } },
      live: { calls: 4, failures: 1, timeouts: 1 },
    }));
    expect(await m.registry.metrics()).toContain('teardown_guard_cache_synced{cache="namespaces"} 0');
    synced = true;
    const text = await m.registry.metrics();
    expect(text).toContain('teardown_guard_cache_synced{cache="namespaces"} 1');
    expect(text).toContain('teardown_guard_cache_items{cache="namespaces"} 7');
    expect(text).toContain('teardown_guard_cache_watch_events_total{cache="namespaces"} 5');
    expect(text).toContain('teardown_guard_live_read_timeouts_total 1');
    // a failing source never breaks a scrape
    m.setCacheSource(() => {
      throw new Error('view gone');
    });
    await expect(m.registry.metrics()).resolves.toContain('teardown_guard_cache_synced');
  });

  it('includes process metrics by default', async () => {
    expect(await createMetrics().registry.metrics()).toContain('process_cpu_user_seconds_total');
  });

  it('labels undecided outcomes by their typed kind, never by message text', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const base = { uid: 'u', mode: 'enforce' as const, object: 'Namespace x', operation: 'DELETE', user: 'admin', latencyMs: 1, dryRun: false };
    m.recordReview(
      [
        { ...base, policy: 'olm-orphaned-finalizers', verdict: 'undecided', reason: 'anything at all, timed out or not', undecidedKind: 'decode' },
        { ...base, policy: 'helm-uninstall-namespace', verdict: 'undecided', reason: 'internal error: boom' },
      ],
      0.01,
    );
    const text = await m.registry.metrics();
    expect(text).toMatch(/teardown_guard_undecided_total\{policy="olm-orphaned-finalizers",reason="decode"\} 1/);
    expect(text).toMatch(/teardown_guard_undecided_total\{policy="helm-uninstall-namespace",reason="internal"\} 1/);
  });

  it('keeps label values bounded', () => {
    expect(slug('Helm Record Purged / Leftovers!'.repeat(10)).length).toBeLessThanOrEqual(64);
    expect(slug(42)).toBe('unknown');
  });
});
