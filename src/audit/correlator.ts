// The streaming correlator: audit records in (in roughly the order the API server logged them),
// findings out. Pure and event-driven: time is the events' own time (or what the caller passes to
// advanceTo), state is bounded (time-window eviction plus hard caps whose overflow is counted),
// no I/O. The CLI review and the live POST /audit ingest feed the same class. It owns the clock
// and the caps; three detectors, one file each, own what they follow:
//   uninstallSessions.ts   misdirected uninstalls and the other releases' objects they deleted
//   namespaceDeletions.ts  namespaces that raced their finalizers' controller or never completed
//   guardVerdicts.ts       the guard's own verdicts and fail-opens, from audit annotations
import { BUILTIN_FINALIZER_GUARDS } from '../registry/finalizerRegistry.ts';
import type { AuditRecord } from './event.ts';
import type { AuditFinding } from './findings.ts';
import type { Interest } from './prefilter.ts';
import type { CorrelatorOptions, DetectorContext, Overflow, ResolvedOptions } from './correlation.ts';
import { GuardVerdictDetector } from './guardVerdicts.ts';
import { NamespaceDeletionDetector, type PendingNamespaceDeletion } from './namespaceDeletions.ts';
import { UninstallSessionDetector } from './uninstallSessions.ts';

export type { CorrelatorOptions } from './correlation.ts';
export type { PendingNamespaceDeletion } from './namespaceDeletions.ts';
export { kubectlRef } from './correlation.ts';

export interface CorrelatorStats {
  records: number;
  openSessions: number;
  pendingNamespaceDeletions: number;
  findings: number;
  /** Things not tracked because a cap was reached (state stays bounded; this says so). */
  overflow: { sessions: number; sessionRecords: number; namespaces: number };
}

export const DEFAULT_WINDOW_MS = 120_000;
export const DEFAULT_GUARD_NAME = 'teardown-guard';

export class Correlator {
  private readonly ctx: DetectorContext;
  private now = Number.NEGATIVE_INFINITY;
  private lastSweep = Number.NEGATIVE_INFINITY;
  private records = 0;
  private findings = 0;
  private readonly overflow: Overflow = { sessions: 0, sessionRecords: 0, namespaces: 0 };
  private readonly sessions: UninstallSessionDetector;
  private readonly namespaces: NamespaceDeletionDetector;
  private readonly verdicts: GuardVerdictDetector;
  private readonly interestView: Interest;

  constructor(opts: CorrelatorOptions) {
    const resolved: ResolvedOptions = {
      windowMs: DEFAULT_WINDOW_MS,
      guardName: DEFAULT_GUARD_NAME,
      maxSessions: 10_000,
      maxRecordsPerSession: 2_000,
      maxOwners: 100_000,
      maxKnownReleases: 100_000,
      maxPendingNamespaces: 10_000,
      finalizerGuards: [...BUILTIN_FINALIZER_GUARDS],
      ...opts,
    };
    this.ctx = {
      opts: resolved,
      overflow: this.overflow,
      emit: (f: AuditFinding) => {
        this.findings++;
        resolved.onFinding(f);
      },
    };
    this.sessions = new UninstallSessionDetector(this.ctx);
    this.namespaces = new NamespaceDeletionDetector(this.ctx);
    this.verdicts = new GuardVerdictDetector(this.ctx);
    this.interestView = { pendingNamespaces: this.namespaces.pendingNs, sessionUserAgents: this.sessions.sessionAgents };
  }

  stats(): CorrelatorStats {
    return {
      records: this.records,
      openSessions: this.sessions.openSessions(),
      pendingNamespaceDeletions: this.namespaces.openCount(),
      findings: this.findings,
      overflow: { ...this.overflow },
    };
  }

  /**
   * What the correlator can use beyond its fixed interests, as live views: the reader's fast
   * path must not skip a line that matches them.
   */
  interest(): Interest {
    return this.interestView;
  }

  /** Moves time forward without an event (sampled log timestamps, or the wall clock in live mode). */
  advanceTo(ms: number): void {
    if (!(ms > this.now)) return;
    this.now = ms;
    this.maybeSweep();
  }

  push(r: AuditRecord): void {
    this.records++;
    if (r.time > this.now) this.now = r.time;
    this.sessions.push(r);
    this.namespaces.push(r);
    this.verdicts.push(r);
    this.maybeSweep();
  }

  /**
   * Ends the input: closes every session and reports what is open. `decideNamespaces` (file
   * review) also decides pending namespace deletions as of the end of the log; a live receiver
   * that merely shuts down passes false, since the namespaces may yet complete.
   */
  flush(decideNamespaces = true): void {
    this.sessions.flush();
    this.verdicts.flush();
    this.namespaces.flush(decideNamespaces);
  }

  /** Namespace deletions neither completed nor reported when the input ended. */
  pendingNamespaceDeletions(): PendingNamespaceDeletion[] {
    return this.namespaces.pending();
  }

  private maybeSweep(): void {
    if (this.now - this.lastSweep < 1000) return;
    this.lastSweep = this.now;
    const horizon = this.now - this.ctx.opts.windowMs;
    this.sessions.sweep(horizon);
    this.verdicts.sweep(horizon);
    this.namespaces.sweep(this.now, horizon);
  }
}
