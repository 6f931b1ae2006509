// Items of a POST /audit EventList that are not audit events are counted, never correlated. They
// mean the sender is not kube-apiserver's audit webhook backend, or its format changed: once a
// whole cluster's events were dropped this way and nothing said so. Every item is metered; the
// log gets the first one at once and then one summary per interval, so a misconfigured sender
// cannot flood it. Reasons name field names only (eventListItemProblem), never item data.
import type { Counter } from 'prom-client';
import type { Logger } from '../log.ts';

export interface InvalidAuditItemsOptions {
  log: Pick<Logger, 'warn'>;
  counter: Pick<Counter, 'inc'>;
  /** Least time between two warnings (default 60 s). */
  warnIntervalMs?: number;
  now?: () => number;
}

export function createInvalidAuditItemReporter(opts: InvalidAuditItemsOptions): (reason: string) => void {
  const intervalMs = opts.warnIntervalMs ?? 60_000;
  const now = opts.now ?? Date.now;
  let lastWarnAt = Number.NEGATIVE_INFINITY;
  let sinceLastWarn = 0;
  let total = 0;
  return (reason) => {
    opts.counter.inc();
    total++;
    sinceLastWarn++;
    const t = now();
    if (t - lastWarnAt < intervalMs) return;
    opts.log.warn(
      { reason, invalidItems: sinceLastWarn, invalidItemsTotal: total },
      "POST /audit: items that are not audit events were not correlated; is the sender kube-apiserver's audit webhook backend (audit.k8s.io EventList)?",
    );
    lastWarnAt = t;
    sinceLastWarn = 0;
  };
}
