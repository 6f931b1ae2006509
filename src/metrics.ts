// Prometheus metrics (prom-client). One Registry per process (tests create their own).
// Label values are bounded: policy and verdict are enums, undecided reasons and audit finding
// kinds are reduced to short slugs so a free-text message can never explode cardinality.
// The counters the shipped alerts read (manifests/monitoring) start at 0 for every known label
// value: a series created at 1 has no earlier sample, so increase() would miss its first event.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Decision } from './admission/engine.ts';
import { VERDICTS } from './admission/modes.ts';
import { FINDING_CODES } from './audit/findings.ts';
import { UNDECIDED_KINDS } from './cluster/view.ts';
import { POLICY_NAMES } from './policies/index.ts';

/** Seconds; admission answers are expected in milliseconds, the webhook timeout is 5 s. */
export const ADMISSION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface CacheState {
  name: string;
  synced: boolean;
  items?: number;
}

/** Monotonic counters of the cluster view (its counters() method), read at scrape time. */
export interface ClusterCounters {
  perCache: Record<string, { events: number; relists: number; reconnects: number; failures: number }>;
  live: { calls: number; failures: number; timeouts: number; forbidden: number };
}

export interface Metrics {
  registry: Registry;
  admissionRequests: Counter<'policy' | 'verdict'>;
  admissionDuration: Histogram<'policy' | 'verdict'>;
  admissionErrors: Counter<'status'>;
  cacheSynced: Gauge<'cache'>;
  cacheItems: Gauge<'cache'>;
  undecided: Counter<'policy' | 'reason'>;
  breakGlass: Counter<'policy'>;
  auditAccepted: Counter;
  auditDropped: Counter;
  auditInvalid: Counter;
  auditFindings: Counter<'kind'>;
  auditRejected: Counter<'reason'>;
  tlsReloads: Counter<'result'>;
  tlsNotAfter: Gauge;
  /** Counts and times one review: one sample per decision (policy "none" when no policy applied). */
  recordReview(decisions: readonly Decision[], totalSeconds: number): void;
  /** Gauges read at scrape time from this source (the cluster view's readiness). */
  setCacheSource(source: () => readonly CacheState[]): void;
  setClusterCountersSource(source: () => ClusterCounters): void;
}

/** Label values of teardown_guard_audit_requests_rejected_total (server/app.ts). */
export const AUDIT_REJECT_REASONS = ['unauthenticated', 'bad-body', 'too-large'] as const;

/** A metric-safe slug of at most 64 characters. */
export function slug(value: unknown, fallback = 'unknown'): string {
  if (typeof value !== 'string' || value === '') return fallback;
  const s = value
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return s === '' ? fallback : s;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  // Decisions are counted in plain numbers on the review path and handed to the counter when it is
  // read (collect, before every scrape): one prom-client inc per decision (label checks, a hash of
  // the labels) was a measurable share of a review's CPU at saturation, for a number only a scrape reads.
  const decisionCounts = new Map<string, Map<string, { labels: { policy: string; verdict: string }; count: number }>>();
  const countDecision = (policy: string, verdict: string): void => {
    let byVerdict = decisionCounts.get(policy);
    if (!byVerdict) decisionCounts.set(policy, (byVerdict = new Map()));
    const entry = byVerdict.get(verdict);
    if (entry) entry.count++;
    else byVerdict.set(verdict, { labels: { policy, verdict }, count: 1 });
  };
  const admissionRequests = new Counter({
    name: 'teardown_guard_admission_requests_total',
    help: 'Admission decisions by policy and verdict (policy "none" when no policy applied to the request).',
    labelNames: ['policy', 'verdict'] as const,
    registers,
    collect() {
      for (const byVerdict of decisionCounts.values())
        for (const entry of byVerdict.values()) {
          if (entry.count === 0) continue;
          this.inc(entry.labels, entry.count);
          entry.count = 0;
        }
    },
  });
  const admissionDuration = new Histogram({
    name: 'teardown_guard_admission_duration_seconds',
    help: 'Time a policy took to decide, in seconds, by policy and verdict.',
    labelNames: ['policy', 'verdict'] as const,
    buckets: ADMISSION_BUCKETS,
    registers,
  });
  const admissionErrors = new Counter({
    name: 'teardown_guard_admission_rejected_requests_total',
    help: 'POST /validate requests answered with an HTTP error (bad JSON, wrong shape, too large, internal error), by status.',
    labelNames: ['status'] as const,
    registers,
  });
  let cacheSource: (() => readonly CacheState[]) | undefined;
  const cacheSynced = new Gauge({
    name: 'teardown_guard_cache_synced',
    help: '1 when the watch cache has completed its initial list, else 0.',
    labelNames: ['cache'] as const,
    registers,
    collect() {
      if (!cacheSource) return;
      for (const c of safe(cacheSource)) this.set({ cache: c.name }, c.synced ? 1 : 0);
    },
  });
  const cacheItems = new Gauge({
    name: 'teardown_guard_cache_items',
    help: 'Objects held by each watch cache.',
    labelNames: ['cache'] as const,
    registers,
    collect() {
      if (!cacheSource) return;
      for (const c of safe(cacheSource)) if (typeof c.items === 'number') this.set({ cache: c.name }, c.items);
    },
  });
  const undecided = new Counter({
    name: 'teardown_guard_undecided_total',
    help: 'Policy evaluations that could not decide (cache not synced, look-up failed or timed out, bad payload), by policy and reason.',
    labelNames: ['policy', 'reason'] as const,
    registers,
  });
  const breakGlass = new Counter({
    name: 'teardown_guard_break_glass_total',
    help: 'Denials overridden by the break-glass annotation, by policy.',
    labelNames: ['policy'] as const,
    registers,
  });
  const auditAccepted = new Counter({ name: 'teardown_guard_audit_events_accepted_total', help: 'Audit events accepted by POST /audit.', registers });
  const auditDropped = new Counter({
    name: 'teardown_guard_audit_events_dropped_total',
    help: 'Audit events dropped because the review queue was full.',
    registers,
  });
  const auditInvalid = new Counter({
    name: 'teardown_guard_audit_events_invalid_total',
    help: 'Items of POST /audit EventLists that were not audit events (not correlated).',
    registers,
  });
  const auditFindings = new Counter({
    name: 'teardown_guard_audit_findings_total',
    help: 'Findings the audit reviewer reported, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const auditRejected = new Counter({
    name: 'teardown_guard_audit_requests_rejected_total',
    help: 'POST /audit requests rejected, by reason (unauthenticated, bad-body, too-large).',
    labelNames: ['reason'] as const,
    registers,
  });
  const tlsReloads = new Counter({
    name: 'teardown_guard_tls_reloads_total',
    help: 'Serving certificate reloads, by result (success, failure).',
    labelNames: ['result'] as const,
    registers,
  });
  let countersSource: (() => ClusterCounters) | undefined;
  const readCounters = (): ClusterCounters | undefined => {
    try {
      return countersSource?.();
    } catch {
      return undefined;
    }
  };
  const perCacheCounter = (name: string, help: string, field: 'events' | 'relists' | 'reconnects' | 'failures'): void => {
    new Counter({
      name,
      help,
      labelNames: ['cache'] as const,
      registers,
      collect() {
        const c = readCounters();
        if (!c) return;
        this.reset();
        for (const [cache, v] of Object.entries(c.perCache)) this.inc({ cache }, v[field]);
      },
    });
  };
  perCacheCounter('teardown_guard_cache_watch_events_total', 'Watch events applied to each cache.', 'events');
  perCacheCounter('teardown_guard_cache_relists_total', 'Lists after the first one (410 Gone, watch could not resume), per cache.', 'relists');
  perCacheCounter('teardown_guard_cache_watch_reconnects_total', 'Watches re-opened after the first, per cache.', 'reconnects');
  perCacheCounter('teardown_guard_cache_failures_total', 'Failed list/watch attempts (network, 5xx, 403), per cache.', 'failures');
  const liveCounter = (name: string, help: string, field: 'calls' | 'failures' | 'timeouts' | 'forbidden'): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        const c = readCounters();
        if (!c) return;
        this.reset();
        this.inc(c.live[field]);
      },
    });
  };
  liveCounter('teardown_guard_live_reads_total', 'Live look-up calls made through the cluster view (rare paths only).', 'calls');
  liveCounter('teardown_guard_live_read_failures_total', 'Live look-up calls that ended undecided (timeouts included).', 'failures');
  liveCounter('teardown_guard_live_read_timeouts_total', 'Live look-up calls that ran out of their time budget.', 'timeouts');
  liveCounter(
    'teardown_guard_live_read_forbidden_total',
    "Live reads the API server refused (401, 403): a call, or one type of a namespace sweep. The guard's RBAC does not grant them (components/without-inference-rbac, rbac.inference=false).",
    'forbidden',
  );

  for (const policy of POLICY_NAMES) {
    for (const verdict of VERDICTS) admissionRequests.inc({ policy, verdict }, 0);
    for (const reason of UNDECIDED_KINDS) undecided.inc({ policy, reason }, 0);
    breakGlass.inc({ policy }, 0);
  }
  for (const kind of FINDING_CODES) auditFindings.inc({ kind }, 0);
  for (const reason of AUDIT_REJECT_REASONS) auditRejected.inc({ reason }, 0);
  for (const result of ['success', 'failure']) tlsReloads.inc({ result }, 0);

  const tlsNotAfter = new Gauge({
    name: 'teardown_guard_tls_certificate_not_after_seconds',
    help: 'Expiry (Unix seconds) of the serving certificate in use.',
    registers,
  });

  return {
    registry,
    admissionRequests,
    admissionDuration,
    admissionErrors,
    cacheSynced,
    cacheItems,
    undecided,
    breakGlass,
    auditAccepted,
    auditDropped,
    auditInvalid,
    auditFindings,
    auditRejected,
    tlsReloads,
    tlsNotAfter,
    recordReview(decisions, totalSeconds) {
      if (decisions.length === 0) {
        countDecision('none', 'allow');
        admissionDuration.observe({ policy: 'none', verdict: 'allow' }, totalSeconds);
        return;
      }
      for (const d of decisions) {
        countDecision(d.policy, d.verdict);
        admissionDuration.observe({ policy: d.policy, verdict: d.verdict }, d.latencyMs / 1000);
        if (d.verdict === 'undecided') undecided.inc({ policy: d.policy, reason: d.undecidedKind ?? 'internal' });
        if (d.verdict === 'break-glass') breakGlass.inc({ policy: d.policy });
      }
    },
    setCacheSource(source) {
      cacheSource = source;
    },
    setClusterCountersSource(source) {
      countersSource = source;
    },
  };
}

function safe(source: () => readonly CacheState[]): readonly CacheState[] {
  try {
    return source();
  } catch {
    return [];
  }
}
