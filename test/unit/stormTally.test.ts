// The storm section's bookkeeping (test/bench/stormTally.ts) on fixtures: what a DELETE's answer
// counts as, when an allowed DELETE counts as failed open, and the /metrics sums it reads.
import { describe, expect, it } from 'vitest';
import { metricSum, NAMESPACE_WEBHOOK, planStorm, shareOf, tallyStorm, WOULD_HANG_EVERY, type DeleteOutcome } from '../bench/stormTally.ts';

const allowed = (name: string): DeleteOutcome => ({ name, status: 200, ms: 5, message: '' });
const denied = (name: string): DeleteOutcome => ({
  name,
  status: 403,
  ms: 9,
  message: `admission webhook "${NAMESPACE_WEBHOOK}" denied the request: deleting namespace ${name} would leave it Terminating forever`,
});

describe('storm tally', () => {
  const plan = planStorm('tgs-', 40);
  const planted = plan.filter((n) => n.wouldHang).map((n) => n.name);

  it('plants every 20th namespace, and every client share holds its part of the plan', () => {
    expect(planted).toEqual(['tgs-0010', 'tgs-0030']);
    expect(plan.length / WOULD_HANG_EVERY).toBe(planted.length);
    const shares = [0, 1, 2].map((c) => shareOf(plan, c, 3));
    expect(shares.flat().length).toBe(plan.length);
    expect(new Set(shares.flat().map((n) => n.name)).size).toBe(plan.length);
  });

  it('denials of exactly the planted namespaces, every other DELETE answered by the guard: nothing to report', () => {
    const outcomes = plan.map((n) => (n.wouldHang ? denied(n.name) : allowed(n.name)));
    const t = tallyStorm(plan, outcomes, { answered: new Set(plan.map((n) => n.name)), failedOpen: new Set() });
    expect(t).toMatchObject({ sent: 40, allowed: 38, denied: 2, deniedPlanted: 2, planted: 2, wrongDenials: [], missedHangs: [], errors: [], failOpen: 0 });
  });

  it('a plain namespace denied, a planted one allowed, another refusal: each named where it belongs', () => {
    const outcomes = plan.map((n) => (n.name === 'tgs-0003' ? denied(n.name) : allowed(n.name)));
    outcomes[5] = { name: 'tgs-0005', status: 403, ms: 1, message: 'namespaces "tgs-0005" is forbidden: User cannot delete' };
    const t = tallyStorm(plan, outcomes, { answered: new Set(plan.map((n) => n.name)), failedOpen: new Set() });
    expect(t.wrongDenials).toEqual(['tgs-0003']);
    expect(t.missedHangs).toEqual(planted);
    expect(t.errors).toEqual(['tgs-0005: 403 namespaces "tgs-0005" is forbidden: User cannot delete']);
  });

  it('fail-open: an allowed DELETE with the failed-open annotation, or with no decision of the guard, each counted once', () => {
    const outcomes = plan.map((n) => allowed(n.name));
    const answered = new Set(plan.map((n) => n.name).filter((n) => n !== 'tgs-0001' && n !== 'tgs-0002'));
    const t = tallyStorm(plan, outcomes, { answered, failedOpen: new Set(['tgs-0002', 'tgs-0004']) });
    expect(t.failedOpenAnnotated).toEqual(['tgs-0002', 'tgs-0004']);
    expect(t.unanswered).toEqual(['tgs-0001', 'tgs-0002']);
    expect(t.failOpen).toBe(3);
  });

  it('without the guard nothing can fail open from it: no decisions are looked for', () => {
    const t = tallyStorm(
      plan,
      plan.map((n) => allowed(n.name)),
      { failedOpen: new Set() },
    );
    expect(t.unanswered).toBeUndefined();
    expect(t.failOpen).toBe(0);
  });
});

describe('metricSum', () => {
  const text = [
    '# HELP teardown_guard_undecided_total Policy evaluations that could not decide',
    '# TYPE teardown_guard_undecided_total counter',
    'teardown_guard_undecided_total{policy="olm-orphaned-finalizers",reason="timeout"} 2',
    'teardown_guard_undecided_total{policy="helm-uninstall-namespace",reason="cache-unsynced"} 1',
    'teardown_guard_live_read_timeouts_total 4',
    'teardown_guard_live_read_timeouts_total_other 100',
  ].join('\n');

  it('sums every label set of one family, and only that family', () => {
    expect(metricSum(text, 'teardown_guard_undecided_total')).toBe(3);
    expect(metricSum(text, 'teardown_guard_live_read_timeouts_total')).toBe(4);
    expect(metricSum(text, 'teardown_guard_live_reads_total')).toBe(0);
  });
});
