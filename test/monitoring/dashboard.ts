// The Grafana dashboard of teardown-guard, as data: each panel, its queries and what it is for.
// `npm run monitoring:render` (render.ts) writes it as Grafana dashboard JSON
// (manifests/monitoring/teardown-guard-dashboard.json and its copies in the chart and the
// kustomize component) and as the panel table of manifests/OPERATIONS.md. Every query here is
// run against a real Prometheus scraping the real guard and kube-apiserver by
// test/integration/monitoring.test.ts, which fails on one that returns nothing (a metric or label
// renamed). Nothing of Grafana is built or vendored: this is the dashboard's JSON model only.

/** The webhooks of manifests/base, as kube-apiserver names them in its admission metrics. */
export const GUARD_WEBHOOKS = 'name=~".+\\\\.teardown-guard\\\\.io"';

export interface DashboardQuery {
  expr: string;
  /** Grafana legend; every `{{label}}` in it must be on each series the query returns. */
  legend: string;
}

export interface DashboardPanel {
  title: string;
  description: string;
  type: 'timeseries' | 'stat';
  unit: string;
  queries: DashboardQuery[];
  /** A red threshold line (timeseries) or colour step (stat) at this value. */
  threshold?: number;
}

export interface DashboardRow {
  title: string;
  panels: DashboardPanel[];
}

export const RATE = '$__rate_interval';

export const DASHBOARD_ROWS: DashboardRow[] = [
  {
    title: 'Admission',
    panels: [
      {
        title: 'Decisions by policy and verdict',
        description:
          'Reviews per second, one line per policy and verdict (allow, deny, warn, audit, undecided, break-glass). Policy "none": no policy applied.',
        type: 'timeseries',
        unit: 'reqps',
        queries: [{ expr: `sum by (policy, verdict) (rate(teardown_guard_admission_requests_total[${RATE}]))`, legend: '{{policy}} {{verdict}}' }],
      },
      {
        title: 'Denials, warnings and undecided in the last hour',
        description: 'What the guard said other than allow, by verdict, over the last hour.',
        type: 'stat',
        unit: 'short',
        queries: [
          {
            expr: 'sum by (verdict) (increase(teardown_guard_admission_requests_total{verdict=~"deny|warn|undecided|break-glass"}[1h]))',
            legend: '{{verdict}}',
          },
        ],
      },
      {
        title: 'Latency against the 5 s webhook timeout',
        description:
          "99th percentile of a review: the guard's own time per policy, and each webhook call as kube-apiserver times it (network and TLS included). At 5 s (timeoutSeconds) the API server gives up and fails open.",
        type: 'timeseries',
        unit: 's',
        threshold: 5,
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (le, policy) (rate(teardown_guard_admission_duration_seconds_bucket[${RATE}])))`,
            legend: 'guard p99 {{policy}}',
          },
          {
            expr: `histogram_quantile(0.99, sum by (le, name) (rate(apiserver_admission_webhook_admission_duration_seconds_bucket{${GUARD_WEBHOOKS}}[${RATE}])))`,
            legend: 'kube-apiserver p99 {{name}}',
          },
        ],
      },
      {
        title: 'Undecided answers by policy and reason',
        description: 'Reviews the guard could not decide (allowed with a warning, or denied with undecided: deny), by reason.',
        type: 'timeseries',
        unit: 'short',
        queries: [{ expr: `sum by (policy, reason) (increase(teardown_guard_undecided_total[${RATE}]))`, legend: '{{policy}} {{reason}}' }],
      },
      {
        title: 'Failed open and refused unreachable (kube-apiserver)',
        description:
          'Calls the API server could not make: let through unchecked (failurePolicy Ignore, the default) or refused (failurePolicy Fail, components/fail-closed-namespaces). A dead guard exports nothing; this is the API server counting.',
        type: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum by (name) (increase(apiserver_admission_webhook_fail_open_count{${GUARD_WEBHOOKS}}[${RATE}]))`, legend: 'failed open {{name}}' },
          {
            expr: `sum by (name) (increase(apiserver_admission_webhook_rejection_count{${GUARD_WEBHOOKS}, error_type="calling_webhook_error"}[${RATE}]))`,
            legend: 'refused, unreachable {{name}}',
          },
        ],
      },
      {
        title: 'Webhook calls by HTTP code (kube-apiserver)',
        description: 'Every call kube-apiserver made to a guard webhook, by code and whether it rejected the request.',
        type: 'timeseries',
        unit: 'reqps',
        queries: [
          {
            expr: `sum by (name, code, rejected) (rate(apiserver_admission_webhook_request_total{${GUARD_WEBHOOKS}}[${RATE}]))`,
            legend: '{{name}} {{code}} rejected={{rejected}}',
          },
        ],
      },
    ],
  },
  {
    title: 'Cluster view',
    panels: [
      {
        title: 'Watch caches synced',
        description: '1 once a watch cache has listed; a Pod is ready only when all are. 0 for minutes: see TeardownGuardCacheNotSynced.',
        type: 'stat',
        unit: 'none',
        queries: [{ expr: 'min by (cache) (teardown_guard_cache_synced)', legend: '{{cache}}' }],
      },
      {
        title: 'Objects per watch cache',
        description: 'Objects each cache holds (the largest replica), which is what the guard keeps in memory.',
        type: 'timeseries',
        unit: 'short',
        queries: [{ expr: 'max by (cache) (teardown_guard_cache_items)', legend: '{{cache}}' }],
      },
      {
        title: 'Watch relists, reconnects and failures',
        description: 'A watch that cannot resume relists (410 Gone); failures are list/watch attempts that failed (network, 5xx, 403).',
        type: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum by (cache) (increase(teardown_guard_cache_relists_total[${RATE}]))`, legend: 'relists {{cache}}' },
          { expr: `sum by (cache) (increase(teardown_guard_cache_watch_reconnects_total[${RATE}]))`, legend: 'reconnects {{cache}}' },
          { expr: `sum by (cache) (increase(teardown_guard_cache_failures_total[${RATE}]))`, legend: 'failures {{cache}}' },
        ],
      },
      {
        title: 'Live reads: calls, failures, budget run out',
        description:
          "Live look-ups on the rare paths (namespace-DELETE checks, record purges, confirming a controller is alive); a timeout is a read that ran past the review's liveLookup.timeoutMs budget.",
        type: 'timeseries',
        unit: 'reqps',
        queries: [
          { expr: `sum(rate(teardown_guard_live_reads_total[${RATE}]))`, legend: 'calls' },
          { expr: `sum(rate(teardown_guard_live_read_failures_total[${RATE}]))`, legend: 'failed (undecided)' },
          { expr: `sum(rate(teardown_guard_live_read_timeouts_total[${RATE}]))`, legend: 'ran out of budget' },
        ],
      },
      {
        title: 'Share of live reads that ran out of budget',
        description: 'Timeouts over calls: above 0, reviews end undecided (timeout) and the namespace-DELETE checks stay silent.',
        type: 'stat',
        unit: 'percentunit',
        threshold: 0.01,
        queries: [
          {
            expr: `sum(increase(teardown_guard_live_read_timeouts_total[1h])) / sum(increase(teardown_guard_live_reads_total[1h]))`,
            legend: 'budget run out',
          },
        ],
      },
    ],
  },
  {
    title: 'Audit review',
    panels: [
      {
        title: 'Audit events received, dropped, invalid',
        description:
          'POST /audit (the live audit receiver): events taken, dropped on a full queue, and items that were not audit events. Anything but 0 in the last two: live review is blind.',
        type: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum(increase(teardown_guard_audit_events_accepted_total[${RATE}]))`, legend: 'accepted' },
          { expr: `sum(increase(teardown_guard_audit_events_dropped_total[${RATE}]))`, legend: 'dropped' },
          { expr: `sum(increase(teardown_guard_audit_events_invalid_total[${RATE}]))`, legend: 'invalid' },
        ],
      },
      {
        title: 'Audit findings by kind',
        description:
          'Findings of live audit review: misdirected uninstalls, cross-release deletes, stranded namespaces, and the guard’s own verdicts read back from the audit log.',
        type: 'timeseries',
        unit: 'short',
        queries: [{ expr: `sum by (kind) (increase(teardown_guard_audit_findings_total[${RATE}]))`, legend: '{{kind}}' }],
      },
      {
        title: 'POST /audit requests rejected',
        description: 'Audit batches refused, by reason (unauthenticated, bad-body, too-large).',
        type: 'timeseries',
        unit: 'short',
        queries: [{ expr: `sum by (reason) (increase(teardown_guard_audit_requests_rejected_total[${RATE}]))`, legend: '{{reason}}' }],
      },
    ],
  },
  {
    title: 'Health',
    panels: [
      {
        title: 'Targets up',
        description: 'Guard Pods Prometheus scrapes successfully, per job (teardown-guard: the webhook; teardown-guard-audit: the live audit receiver).',
        type: 'stat',
        unit: 'none',
        queries: [{ expr: 'sum by (job) (up{job=~"teardown-guard|teardown-guard-audit"})', legend: '{{job}}' }],
      },
      {
        title: 'Serving certificate expires in',
        description: 'Time left on the certificate each Pod serves (reloaded from its Secret without a restart).',
        type: 'stat',
        unit: 's',
        threshold: 14 * 86400,
        queries: [{ expr: 'min by (instance) (teardown_guard_tls_certificate_not_after_seconds) - time()', legend: '{{instance}}' }],
      },
      {
        title: 'Break-glass uses',
        description: 'Denials overridden with the break-glass annotation, by policy.',
        type: 'timeseries',
        unit: 'short',
        queries: [{ expr: `sum by (policy) (increase(teardown_guard_break_glass_total[${RATE}]))`, legend: '{{policy}}' }],
      },
    ],
  },
];

/** Grafana's dashboard JSON model (schemaVersion 39), with a Prometheus data source variable. */
export function dashboardJson(): Record<string, unknown> {
  const ds = { type: 'prometheus', uid: '${datasource}' };
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of DASHBOARD_ROWS) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    row.panels.forEach((p, i) => {
      const x = (i % 3) * 8;
      if (i > 0 && i % 3 === 0) y += 8;
      const thresholds = {
        mode: 'absolute',
        steps: [{ color: 'green', value: null }, ...(p.threshold !== undefined ? [{ color: 'red', value: p.threshold }] : [])],
      };
      panels.push({
        id: id++,
        type: p.type,
        title: p.title,
        description: p.description,
        datasource: ds,
        gridPos: { h: 8, w: 8, x, y },
        fieldConfig: {
          defaults: {
            unit: p.unit,
            thresholds,
            ...(p.type === 'timeseries' ? { custom: { thresholdsStyle: { mode: p.threshold !== undefined ? 'line' : 'off' } } } : {}),
          },
          overrides: [],
        },
        options:
          p.type === 'stat'
            ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value' }
            : { legend: { displayMode: 'list', placement: 'bottom' } },
        targets: p.queries.map((q, j) => ({ refId: String.fromCharCode(65 + j), datasource: ds, expr: q.expr, legendFormat: q.legend, range: true })),
      });
    });
    y += 8;
  }
  return {
    title: 'teardown-guard',
    uid: 'teardown-guard',
    description:
      'teardown-guard: admission decisions, latency against the webhook timeout, undecided and failed-open reviews, watch caches, live reads, live audit review.',
    tags: ['teardown-guard', 'kubernetes', 'admission'],
    editable: true,
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    refresh: '1m',
    timezone: '',
    templating: {
      list: [{ name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1 }],
    },
    annotations: { list: [] },
    panels,
  };
}
