import { describe, expect, it } from 'vitest';
import { groupingLabels, selectors, templateLabels } from '../monitoring/promql.ts';

describe('selectors', () => {
  it('reads every series selector once, not functions, aggregations, label lists, durations or strings', () => {
    const expr = `sum by (name) (increase(apiserver_admission_webhook_fail_open_count{name=~".+\\\\.teardown-guard\\\\.io"}[10m])) > 0
      or sum by (name) (
        apiserver_admission_webhook_fail_open_count{name=~".+\\\\.teardown-guard\\\\.io"}
        unless apiserver_admission_webhook_fail_open_count{name=~".+\\\\.teardown-guard\\\\.io"} offset 10m
      )`;
    expect(selectors(expr).map((s) => s.text)).toEqual(['apiserver_admission_webhook_fail_open_count{name=~".+\\\\.teardown-guard\\\\.io"}']);
  });

  it('reads bare names, several metrics, and skips time() and numbers', () => {
    expect(selectors('teardown_guard_tls_certificate_not_after_seconds - time() < 14 * 86400').map((s) => s.metric)).toEqual([
      'teardown_guard_tls_certificate_not_after_seconds',
    ]);
    expect(
      selectors('sum(increase(a_total[1h])) / sum without (instance) (increase(b_total{x="by (y) sum"}[1h])) and on (job) up == 1').map((s) => s.text),
    ).toEqual(['a_total', 'b_total{x="by (y) sum"}', 'up']);
    expect(selectors('absent(up{job="teardown-guard"} == 1)').map((s) => s.text)).toEqual(['up{job="teardown-guard"}']);
    expect(selectors('histogram_quantile(0.99, sum by (le, name) (rate(x_bucket{a="b"}[5m]))) > 2.5').map((s) => s.text)).toEqual(['x_bucket{a="b"}']);
  });
});

describe('labels', () => {
  it('grouping labels of by/on clauses, not le nor without', () => {
    expect(groupingLabels('histogram_quantile(0.9, sum by (le, name) (rate(x[1m]))) / on (job, instance) group_left (pod) y and sum without (z) (w)')).toEqual([
      'name',
      'job',
      'instance',
      'pod',
    ]);
  });
  it('labels an alert annotation or a Grafana legend prints', () => {
    expect(templateLabels('webhook {{ $labels.name }} on {{ $labels.instance }} ({{ $value | humanize }})')).toEqual(['name', 'instance']);
    expect(templateLabels('{{policy}} {{ verdict }}')).toEqual(['policy', 'verdict']);
  });
});
