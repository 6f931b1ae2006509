// What the guard said during the corpus, from the three places it can say it: what helm and
// kubectl printed (its warnings, and every denial goes out as a warning too), its own decision log
// (every non-allow verdict), and the audit log (every annotation a guard webhook wrote). Plus the
// audit review of the same run at Metadata level, the level most clusters log at.
import { writeFileSync } from 'node:fs';
import { GUARD_ENTRY } from '../scenarios/guard.ts';
import { linesSince } from '../scenarios/harness.ts';
import { run } from '../cluster/proc.ts';
import type { RunRecord } from './runner.ts';

/** Any text the guard's answers put in front of a client (warnings, denials). */
export const GUARD_SAID = /teardown-guard/i;

export interface GuardOutputLine {
  release: string;
  step: string;
  line: string;
}

/** Lines of helm's and kubectl's output that carry the guard's words. */
export function guardLinesInOutput(records: readonly RunRecord[]): GuardOutputLine[] {
  return records.flatMap((r) =>
    r.steps.flatMap((s) =>
      s.output
        .split('\n')
        .filter((l) => GUARD_SAID.test(l))
        .map((line) => ({ release: r.release, step: s.step, line: line.trim() })),
    ),
  );
}

export interface Decision {
  uid?: string;
  policy?: string;
  verdict?: string;
  mode?: string;
  object?: string;
  operation?: string;
  user?: string;
  reason?: string;
  latencyMs?: number;
}

/** The guard's decision lines after offset `from` of its log (a lineOffset). */
export function decisionsSince(logPath: string, from: number): Decision[] {
  return linesSince(logPath, from)
    .filter((l) => l.includes('"msg":"decision"'))
    .map((l) => JSON.parse(l) as Decision);
}

/** Whether a decision's object belongs to a run: its namespace, or a cluster-scoped object named after its release. */
export function decisionOfRun(d: Decision, r: { release: string; namespace: string }): boolean {
  const o = d.object ?? '';
  const target = o.slice(o.indexOf(' ') + 1);
  return target === r.namespace || target.startsWith(`${r.namespace}/`) || target.includes(r.release);
}

export interface AnnotatedEvent {
  verb: string;
  resource: string;
  namespace: string;
  name: string;
  user: string;
  annotations: Record<string, string>;
}

type AuditEvent = {
  level?: string;
  verb?: string;
  user?: { username?: string };
  objectRef?: { resource?: string; namespace?: string; name?: string };
  annotations?: Record<string, string>;
  requestObject?: unknown;
  responseObject?: unknown;
};

/** Events of the audit log carrying an annotation a guard webhook wrote (`<webhook>.teardown-guard.io/<key>`). */
export function guardAnnotatedEvents(lines: readonly string[]): AnnotatedEvent[] {
  const out: AnnotatedEvent[] = [];
  for (const l of lines) {
    if (!l.includes('teardown-guard')) continue;
    const e = JSON.parse(l) as AuditEvent;
    const ann = Object.fromEntries(Object.entries(e.annotations ?? {}).filter(([k]) => k.includes('teardown-guard')));
    if (!Object.keys(ann).length) continue;
    out.push({
      verb: e.verb ?? '',
      resource: e.objectRef?.resource ?? '',
      namespace: e.objectRef?.namespace ?? '',
      name: e.objectRef?.name ?? '',
      user: e.user?.username ?? '',
      annotations: ann,
    });
  }
  return out;
}

/**
 * The same events as the API server would log them at level Metadata: without requestObject and
 * responseObject, level Metadata (k8s.io/apiserver pkg/audit: the objects are logged only at
 * Request and RequestResponse; everything else of the event, annotations included, is the same).
 */
export function atMetadataLevel(lines: readonly string[]): string[] {
  return lines.map((l) => {
    const e = JSON.parse(l) as AuditEvent;
    delete e.requestObject;
    delete e.responseObject;
    e.level = 'Metadata';
    return JSON.stringify(e);
  });
}

export interface ReviewFinding {
  code: string;
  severity: 'high' | 'medium' | 'low';
  title: string;
  namespaces?: string[];
}

export interface ReviewResult {
  exitCode: number;
  findings: ReviewFinding[];
  eventsUsed: number;
  stderr: string;
}

/** `teardown-guard review --format json FILE` as a user runs it. */
export async function reviewFile(path: string, windowSeconds?: number): Promise<ReviewResult> {
  const args = [GUARD_ENTRY, 'review', '--format', 'json', ...(windowSeconds ? ['--window-seconds', String(windowSeconds)] : []), path];
  const r = await run(process.execPath, args, { timeoutMs: 300_000 });
  let report: { findings?: ReviewFinding[]; inputs?: Array<{ eventsUsed?: number }> } = {};
  try {
    report = JSON.parse(r.stdout) as typeof report;
  } catch {
    throw new Error(`review printed no JSON report (exit ${r.code}): ${r.stderr.slice(0, 1000)}`);
  }
  return {
    exitCode: r.code,
    findings: report.findings ?? [],
    eventsUsed: (report.inputs ?? []).reduce((n, i) => n + (i.eventsUsed ?? 0), 0),
    stderr: r.stderr,
  };
}

export function writeLines(path: string, lines: readonly string[]): void {
  writeFileSync(path, lines.length ? `${lines.join('\n')}\n` : '');
}
