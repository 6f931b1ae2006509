// Live audit review: the server's POST /audit hands the items of each EventList (from the API
// server's audit webhook backend) to accept(), which only queues them, so the API server is never
// kept waiting. A bounded queue feeds the same correlator the CLI uses; what does not fit is
// dropped and counted (the caller logs and meters it). Time advances with the events and, when
// they pause, with the wall clock, so sessions close and findings come out without new traffic.
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { Correlator, DEFAULT_WINDOW_MS } from './correlator.ts';
import type { CorrelatorStats } from './correlator.ts';
import { eventListItemProblem, toRecord, type AuditEventV1 } from './event.ts';
import type { AuditFinding } from './findings.ts';

export interface AuditIngestOptions {
  onFinding(f: AuditFinding): void;
  /**
   * Called for each item that is not an audit event, with a reason that holds no data from the
   * item. Such items are counted in stats().invalid; this is how the caller meters and logs them.
   */
  onInvalid?(reason: string): void;
  /** Most events waiting to be correlated; beyond that accept() drops (default 50,000). */
  maxQueueEvents?: number;
  windowMs?: number;
  /** A namespace deletion not seen completing after this long is reported (default 10 minutes). */
  stuckNamespaceAfterMs?: number;
  /** Events correlated per turn of the event loop (default 2,000). */
  batchSize?: number;
  /** How often the wall clock advances correlator time (default 5 s). */
  tickMs?: number;
  guardName?: string;
  /** Finalizer guards to follow (the server passes the same registry admission reads). */
  finalizerGuards?: FinalizerGuard[];
  /** For tests. */
  now?: () => number;
}

export interface AuditIngestStats {
  accepted: number;
  dropped: number;
  /** Items that were not audit events. */
  invalid: number;
  processed: number;
  queued: number;
  maxQueueEvents: number;
  findings: number;
  correlator: CorrelatorStats;
}

export interface AuditIngest {
  accept(events: unknown[]): { accepted: number; dropped: number };
  stats(): AuditIngestStats;
  /** Drains the queue, closes every open session (their findings are reported) and stops the clock. */
  stop(): Promise<void>;
}

export function createAuditIngest(opts: AuditIngestOptions): AuditIngest {
  const maxQueue = opts.maxQueueEvents ?? 50_000;
  const windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
  const batchSize = opts.batchSize ?? 2_000;
  const now = opts.now ?? Date.now;
  const counters = { accepted: 0, dropped: 0, invalid: 0, processed: 0, findings: 0 };
  const correlator = new Correlator({
    windowMs,
    reportStuckNamespacesAfterMs: opts.stuckNamespaceAfterMs ?? 10 * 60_000,
    ...(opts.guardName ? { guardName: opts.guardName } : {}),
    ...(opts.finalizerGuards ? { finalizerGuards: opts.finalizerGuards } : {}),
    onFinding: (f) => {
      counters.findings++;
      try {
        opts.onFinding(f);
      } catch {
        /* a reporting failure must not stop correlation */
      }
    },
  });
  // A ring would avoid shift(); an array with a moving head and periodic compaction is as good.
  let queue: unknown[] = [];
  let head = 0;
  let scheduled = false;
  let stopped = false;
  let drained: (() => void) | undefined;

  const pending = () => queue.length - head;

  const drain = () => {
    scheduled = false;
    const end = Math.min(queue.length, head + batchSize);
    for (; head < end; head++) {
      const item = queue[head];
      queue[head] = undefined;
      counters.processed++;
      const problem = eventListItemProblem(item);
      if (problem !== undefined) {
        counters.invalid++;
        try {
          opts.onInvalid?.(problem);
        } catch {
          /* a reporting failure must not stop correlation */
        }
        continue;
      }
      const r = toRecord(item as AuditEventV1);
      if (r) correlator.push(r);
    }
    if (head === queue.length) {
      queue = [];
      head = 0;
    } else if (head > 65_536) {
      queue = queue.slice(head);
      head = 0;
    }
    if (pending() > 0) schedule();
    else drained?.();
  };

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(drain);
  };

  const tick = setInterval(() => {
    correlator.advanceTo(now() - 2_000);
  }, opts.tickMs ?? 5_000);
  tick.unref();

  return {
    accept(events: unknown[]): { accepted: number; dropped: number } {
      if (stopped) {
        counters.dropped += events.length;
        return { accepted: 0, dropped: events.length };
      }
      const room = Math.max(0, maxQueue - pending());
      const accepted = Math.min(room, events.length);
      for (let i = 0; i < accepted; i++) queue.push(events[i]);
      const dropped = events.length - accepted;
      counters.accepted += accepted;
      counters.dropped += dropped;
      if (accepted > 0) schedule();
      return { accepted, dropped };
    },
    stats(): AuditIngestStats {
      return { ...counters, queued: pending(), maxQueueEvents: maxQueue, correlator: correlator.stats() };
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      clearInterval(tick);
      if (pending() > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          schedule();
        });
      }
      correlator.flush(false);
    },
  };
}
