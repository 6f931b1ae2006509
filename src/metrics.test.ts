import { describe, expect, it } from 'vitest';
import { VERDICTS } from './admission/modes.ts';
import { FINDING_CODES } from './audit/findings.ts';
import { UNDECIDED_KINDS } from './cluster/view.ts';
import { createMetrics } from './metrics.ts';
import { POLICY_NAMES } from './policies/index.ts';

const sample = (text: string, name: string, labels: string) => new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1];

describe('the counters the shipped alerts read', () => {
  it('start at 0 for every known label value, so increase() sees the first event', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const text = await m.registry.metrics();
    for (const policy of POLICY_NAMES) {
      for (const verdict of VERDICTS) expect(sample(text, 'teardown_guard_admission_requests_total', `policy="${policy}",verdict="${verdict}"`)).toBe('0');
      for (const reason of UNDECIDED_KINDS) expect(sample(text, 'teardown_guard_undecided_total', `policy="${policy}",reason="${reason}"`)).toBe('0');
      expect(sample(text, 'teardown_guard_break_glass_total', `policy="${policy}"`)).toBe('0');
    }
    for (const kind of FINDING_CODES) expect(sample(text, 'teardown_guard_audit_findings_total', `kind="${kind}"`)).toBe('0');
    for (const reason of ['unauthenticated', 'bad-body', 'too-large'])
      expect(sample(text, 'teardown_guard_audit_requests_rejected_total', `reason="${reason}"`)).toBe('0');
    expect(sample(text, 'teardown_guard_tls_reloads_total', 'result="failure"')).toBe('0');
  });

  it('count from there', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordReview([{ policy: 'apiservice-backends', verdict: 'deny', latencyMs: 3 } as never], 0.003);
    const text = await m.registry.metrics();
    expect(sample(text, 'teardown_guard_admission_requests_total', 'policy="apiservice-backends",verdict="deny"')).toBe('1');
    expect(sample(text, 'teardown_guard_admission_requests_total', 'policy="apiservice-backends",verdict="allow"')).toBe('0');
  });

  it('every decision is counted once, whether scrapes come between reviews or not', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const allow = { policy: 'inferred-finalizers', verdict: 'allow', latencyMs: 1 } as never;
    const count = async (): Promise<string | undefined> =>
      sample(await m.registry.metrics(), 'teardown_guard_admission_requests_total', 'policy="inferred-finalizers",verdict="allow"');
    m.recordReview([allow], 0.001);
    m.recordReview([allow], 0.001);
    expect(await count()).toBe('2');
    expect(await count()).toBe('2');
    m.recordReview([allow], 0.001);
    m.recordReview([], 0.001);
    expect(await count()).toBe('3');
    expect(sample(await m.registry.metrics(), 'teardown_guard_admission_requests_total', 'policy="none",verdict="allow"')).toBe('1');
    expect(sample(await m.registry.metrics(), 'teardown_guard_admission_duration_seconds_count', 'policy="inferred-finalizers",verdict="allow"')).toBe('3');
  });
});
