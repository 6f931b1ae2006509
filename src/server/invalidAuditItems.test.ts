import { describe, expect, it } from 'vitest';
import { eventListItemProblem } from '../audit/event.ts';
import { createInvalidAuditItemReporter } from './invalidAuditItems.ts';

function setup() {
  const warnings: Array<Record<string, unknown>> = [];
  let count = 0;
  let now = 1_000_000;
  const report = createInvalidAuditItemReporter({
    log: {
      warn: ((obj: Record<string, unknown>) => {
        warnings.push(obj);
      }) as never,
    },
    counter: {
      inc: (() => {
        count++;
      }) as never,
    },
    warnIntervalMs: 60_000,
    now: () => now,
  });
  return {
    report,
    warnings,
    count: () => count,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('invalid POST /audit items', () => {
  it('meters every item, warns at once for the first and then once per interval with the count since', () => {
    const s = setup();
    s.report('kind Pod, not Event');
    for (let i = 0; i < 99; i++) s.report('kind Pod, not Event');
    expect(s.count()).toBe(100);
    expect(s.warnings).toEqual([{ reason: 'kind Pod, not Event', invalidItems: 1, invalidItemsTotal: 1 }]);
    s.advance(60_000);
    s.report('missing or mistyped: auditID');
    expect(s.warnings.at(-1)).toEqual({ reason: 'missing or mistyped: auditID', invalidItems: 100, invalidItemsTotal: 101 });
    expect(s.warnings).toHaveLength(2);
  });

  it('names fields, never values: a Secret-bearing item yields a reason without its data', () => {
    const secret = { verb: 'create', requestObject: { kind: 'Secret', data: { password: 'aHVudGVyMg==' } }, user: { username: 'alice' } };
    const reason = eventListItemProblem(secret);
    expect(reason).toBe('missing or mistyped: auditID, stage, requestURI');
    expect(eventListItemProblem({ kind: 'hunter2 with spaces' })).toBe('kind is not Event');
    expect(eventListItemProblem({ kind: 'Pod' })).toBe('kind Pod, not Event');
    expect(eventListItemProblem({ apiVersion: 'v1' })).toBe('apiVersion is not audit.k8s.io/*');
    expect(eventListItemProblem(null)).toBe('an item is null, not an object');
    expect(eventListItemProblem([1])).toBe('an item is an array, not an object');
  });
});
