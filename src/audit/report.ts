// Renders a review: the JSON report (schema: report.schema.json, schemaVersion below), a human
// report for the terminal and Markdown for tickets and pull requests.
import type { AuditFinding, AuditSeverity, Evidence } from './findings.ts';
import { FINDING_CODES } from './findings.ts';
import type { InputReview, MalformedLine, ReviewResult } from './review.ts';
import type { PendingNamespaceDeletion } from './correlator.ts';
import type { InputFormat, SkipCode } from './reader.ts';
import type { ProblemKind } from './decompress.ts';
import { escapeDeep } from './terminal.ts';
import { inputForm } from './inputForm.ts';

/** Bumped on any incompatible change to the JSON report. */
export const REPORT_SCHEMA_VERSION = 1;

export interface ReviewReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  tool: { name: 'teardown-guard'; version: string };
  generatedAt: string;
  windowSeconds: number;
  filters: { since?: string; until?: string; namespace?: string; user?: string };
  inputs: ReportInput[];
  /** Span of the events used. */
  timeRange: { first?: string; last?: string };
  /** Span of every event read, whatever the filters. */
  logTimeRange: { first?: string; last?: string };
  summary: {
    events: number;
    /** Events used (same as eventsUsed; kept for schemaVersion 1 readers). */
    eventsConsidered: number;
    eventsUsed: number;
    eventsOutsideWindow: number;
    eventsEarlierStage: number;
    eventsWithoutTime: number;
    malformedLines: number;
    skippedByReason: Record<SkipCode, number>;
    inputsWithProblems: number;
    outcome: ReviewOutcome;
    exitCode: number;
    findings: number;
    findingsBeforeFilters: number;
    bySeverity: Record<AuditSeverity, number>;
    byCode: Record<string, number>;
  };
  malformed: { total: number; listed: MalformedLine[] };
  pendingNamespaceDeletions: PendingNamespaceDeletion[];
  findings: AuditFinding[];
}

export type InputStatus = 'ok' | ProblemKind;
export type ReviewOutcome = 'findings' | 'no-findings' | 'nothing-analysed';

export interface ReportInput {
  name: string;
  compressed: boolean;
  rawBytes: number;
  bytes: number;
  lines: number;
  events: number;
  malformedLines: number;
  format: InputFormat;
  /** What the input was read as (inputForm.ts): the managed cluster's export or the shipper that wrapped the events. */
  form: string;
  status: InputStatus;
  problem?: { message: string; rawByte?: number; byte?: number; line?: number };
  eventsUsed: number;
  eventsOutsideWindow: number;
  eventsEarlierStage: number;
  eventsWithoutTime: number;
  skipped: Record<SkipCode, number>;
  wrapped: Record<string, number>;
  timeRange: { first?: string; last?: string };
}

/**
 * Exit status (src/audit/README.md): 2 when an input could not be read to its end, 3 when nothing
 * was analysed, 1 with findings, 0 without.
 */
export function exitCodeOf(outcome: ReviewOutcome, inputsWithProblems: number): number {
  if (inputsWithProblems > 0) return 2;
  return outcome === 'nothing-analysed' ? 3 : outcome === 'findings' ? 1 : 0;
}

const isoOf = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

function range(first: string | undefined, last: string | undefined): { first?: string; last?: string } {
  return { ...(first ? { first } : {}), ...(last ? { last } : {}) };
}

function reportInput(i: InputReview): ReportInput {
  const out: ReportInput = {
    name: i.name,
    compressed: i.compressed,
    rawBytes: i.rawBytes,
    bytes: i.bytes,
    lines: i.lines,
    events: i.events,
    malformedLines: i.malformedLines,
    format: i.format,
    form: inputForm(i.format, i.wrapped),
    status: i.problem?.kind ?? 'ok',
    eventsUsed: i.tally.used,
    eventsOutsideWindow: i.tally.outsideWindow,
    eventsEarlierStage: i.tally.earlierStage,
    eventsWithoutTime: i.tally.withoutTime,
    skipped: i.skipped,
    wrapped: i.wrapped,
    timeRange: range(isoOf(i.tally.first), isoOf(i.tally.last)),
  };
  if (i.problem) out.problem = { message: i.problem.message, ...i.problem.at };
  return out;
}

export interface ReportMeta {
  version: string;
  filters: ReviewReport['filters'];
  now?: Date;
}

export function buildReport(r: ReviewResult, meta: ReportMeta): ReviewReport {
  const bySeverity: Record<AuditSeverity, number> = { high: 0, medium: 0, low: 0 };
  const byCode: Record<string, number> = {};
  for (const c of FINDING_CODES) byCode[c] = 0;
  for (const f of r.findings) {
    bySeverity[f.severity]++;
    byCode[f.code] = (byCode[f.code] ?? 0) + 1;
  }
  const outcome: ReviewOutcome = r.nothingAnalysed ? 'nothing-analysed' : r.findings.length > 0 ? 'findings' : 'no-findings';
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: { name: 'teardown-guard', version: meta.version },
    generatedAt: (meta.now ?? new Date()).toISOString(),
    windowSeconds: r.windowMs / 1000,
    filters: meta.filters,
    inputs: r.inputs.map(reportInput),
    timeRange: range(r.firstEventTime, r.lastEventTime),
    logTimeRange: range(r.logFirstTime, r.logLastTime),
    summary: {
      events: r.tally.read,
      eventsConsidered: r.eventsConsidered,
      eventsUsed: r.tally.used,
      eventsOutsideWindow: r.tally.outsideWindow,
      eventsEarlierStage: r.tally.earlierStage,
      eventsWithoutTime: r.tally.withoutTime,
      malformedLines: r.malformedTotal,
      skippedByReason: r.skippedByReason,
      inputsWithProblems: r.problemInputs,
      outcome,
      exitCode: exitCodeOf(outcome, r.problemInputs),
      findings: r.findings.length,
      findingsBeforeFilters: r.unfilteredFindings,
      bySeverity,
      byCode,
    },
    malformed: { total: r.malformedTotal, listed: r.malformed },
    pendingNamespaceDeletions: r.pendingNamespaceDeletions,
    findings: r.findings,
  };
}

export function renderJson(report: ReviewReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

// ---- human ----------------------------------------------------------------------------------

function wrap(text: string, width: number, indent: string, hanging = indent): string {
  const out: string[] = [];
  let line = '';
  let prefix = indent;
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && prefix.length + line.length + 1 + word.length > width) {
      out.push(prefix + line);
      line = word;
      prefix = hanging;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(prefix + line);
  return out.join('\n');
}

/** One evidence line; the user agent only when it is not the finding's actor's. */
function evidenceLine(e: Evidence, actorAgent?: string): string {
  const who = e.impersonatedUser ? `${e.user} as ${e.impersonatedUser}` : e.user;
  const ua = e.userAgent === actorAgent ? '' : `  "${e.userAgent}"`;
  return `${e.time}  ${who}${ua}  ${e.verb} ${e.requestURI} -> ${e.code || '?'}${e.note ? `  (${e.note})` : ''}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const SKIP_WORDS: Record<SkipCode, string> = {
  'not-json': 'not valid JSON',
  truncated: 'truncated',
  'not-an-event': 'not an audit event',
  'list-item': 'list items not events',
  'too-long': 'too long',
};

function skippedText(skipped: Record<SkipCode, number>, total: number): string {
  const parts = (Object.entries(skipped) as Array<[SkipCode, number]>).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${SKIP_WORDS[k]}`);
  return `${plural(total, 'line')} skipped${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

const span = (r: { first?: string; last?: string }) => (r.first ? `${r.first} .. ${r.last ?? '?'}` : 'no event time');

/** Events read, used, outside the window, at an earlier stage, without time; lines skipped. */
function countsText(
  c: { events: number; eventsUsed: number; eventsOutsideWindow: number; eventsEarlierStage: number; eventsWithoutTime: number },
  skipped: Record<SkipCode, number>,
  malformed: number,
): string {
  const extra = [
    c.eventsOutsideWindow > 0 ? `${c.eventsOutsideWindow} outside --since/--until` : '',
    c.eventsEarlierStage > 0 ? `${c.eventsEarlierStage} at an earlier stage` : '',
    c.eventsWithoutTime > 0 ? `${c.eventsWithoutTime} without a time` : '',
  ].filter((x) => x !== '');
  return `${plural(c.events, 'event')} read, ${c.eventsUsed} used${extra.length > 0 ? `, ${extra.join(', ')}` : ''}; ${skippedText(skipped, malformed)}`;
}

const STATUS_WORDS: Record<InputStatus, string> = {
  ok: 'ok',
  damaged: 'DAMAGED',
  'not-an-audit-log': 'NOT AN AUDIT LOG',
  unreadable: 'UNREADABLE',
  stopped: 'STOPPED',
};

/** Where an input broke: `compressed byte N, byte M, after line L`. */
export function problemWhere(i: Pick<ReportInput, 'compressed' | 'problem'>): string {
  const p = i.problem;
  if (!p) return '';
  return [
    p.rawByte !== undefined && i.compressed ? `compressed byte ${p.rawByte}` : '',
    p.byte !== undefined ? `${i.compressed ? 'decompressed ' : ''}byte ${p.byte}` : '',
    p.line !== undefined && p.line > 0 ? `after line ${p.line}` : '',
  ]
    .filter((x) => x !== '')
    .join(', ');
}

function problemText(i: ReportInput): string {
  if (!i.problem) return '';
  const where = problemWhere(i);
  return `${STATUS_WORDS[i.status]}${where ? ` (${where})` : ''}: ${i.problem.message}`;
}

/** One line per input: what it is, what was counted, and where it broke. */
function inputLine(i: ReportInput): string {
  const kind = `${i.form}; ${i.compressed ? 'gzip, ' : ''}${i.format}${Object.keys(i.wrapped).length > 0 ? `, wrapped in ${Object.keys(i.wrapped).join(' ')}` : ''}`;
  const counts = countsText(
    {
      events: i.events,
      eventsUsed: i.eventsUsed,
      eventsOutsideWindow: i.eventsOutsideWindow,
      eventsEarlierStage: i.eventsEarlierStage,
      eventsWithoutTime: i.eventsWithoutTime,
    },
    i.skipped,
    i.malformedLines,
  );
  return `${i.name} (${kind}): ${counts}; ${span(i.timeRange)}${i.problem ? `; ${problemText(i)}` : ''}`;
}

/** Why nothing was analysed, in one sentence. */
function nothingAnalysedText(report: ReviewReport): string {
  const s = report.summary;
  const f = report.filters;
  if (s.events === 0) return 'no audit event was read from the input';
  if (s.eventsOutsideWindow > 0 && s.eventsOutsideWindow + s.eventsEarlierStage + s.eventsWithoutTime === s.events) {
    const win = [f.since ? `--since ${f.since}` : '', f.until ? `--until ${f.until}` : ''].filter((x) => x !== '').join(' ');
    return `none of the ${s.events} events read is inside ${win}; the log spans ${span(report.logTimeRange)}`;
  }
  return `none of the ${s.events} events read is a completed request with a time (${s.eventsEarlierStage} at an earlier stage, ${s.eventsWithoutTime} without a time); the log spans ${span(report.logTimeRange)}`;
}

function headline(report: ReviewReport): string {
  const s = report.summary;
  const lines = report.inputs.reduce((n, i) => n + i.lines, 0);
  if (s.outcome === 'nothing-analysed') return `teardown-guard review: NOTHING ANALYSED: ${nothingAnalysedText(report)}`;
  const range = report.timeRange.first ? `, ${report.timeRange.first} .. ${report.timeRange.last ?? '?'}` : '';
  const filtered = s.findingsBeforeFilters !== s.findings ? ` (${s.findingsBeforeFilters} before filters)` : '';
  const incomplete = s.inputsWithProblems > 0 ? `; ${plural(s.inputsWithProblems, 'input')} NOT READ TO THE END` : '';
  return `teardown-guard review: ${plural(s.findings, 'finding')}${filtered} in ${plural(lines, 'line')} from ${plural(report.inputs.length, 'input')}${range}${incomplete}`;
}

/** The headline's second part: totals, then one line per input. */
function countLines(report: ReviewReport): string[] {
  const s = report.summary;
  const out = [`Read: ${countsText(s, s.skippedByReason, s.malformedLines)}; log ${span(report.logTimeRange)}`];
  for (const i of report.inputs) out.push(`  ${inputLine(i)}`);
  return out;
}

export function renderHuman(unsafe: ReviewReport, width = 100): string {
  const report = escapeDeep(unsafe);
  const out: string[] = [headline(report), ...countLines(report)];
  const f = report.filters;
  const active = Object.entries(f)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `--${k} ${String(v)}`);
  if (active.length > 0) out.push(`Filters: ${active.join(' ')}`);
  out.push('');
  report.findings.forEach((x, i) => {
    out.push(`[${i + 1}] ${x.severity.toUpperCase()}  ${x.code}  ${x.firstSeen}${x.lastSeen !== x.firstSeen ? ` .. ${x.lastSeen}` : ''}`);
    out.push(wrap(x.title, width, '    ', '      '));
    if (x.actor) out.push(`    Who: ${x.actor.user} via "${x.actor.userAgent}" (${x.actor.client})`);
    out.push('  What happened:');
    out.push(wrap(x.detail, width, '    '));
    if (x.objects.length > 0) {
      out.push('  Objects:');
      for (const o of x.objects.slice(0, 50))
        out.push(`    ${o.resource}${o.apiGroup ? `.${o.apiGroup}` : ''} ${o.namespace ? `${o.namespace}/` : ''}${o.name}: ${o.state}`);
      if (x.objects.length > 50) out.push(`    ... and ${x.objects.length - 50} more`);
    }
    out.push('  Evidence:');
    for (const e of x.evidence) out.push(`    ${evidenceLine(e, x.actor?.userAgent)}`);
    out.push('  What to do:');
    // Not wrapped: remedies hold commands to copy.
    x.remedy.forEach((r, k) => out.push(`    ${k + 1}. ${r}`));
    out.push('');
  });
  if (report.findings.length === 0)
    out.push(report.summary.outcome === 'nothing-analysed' ? 'Nothing analysed: no findings can be reported.' : 'No findings.', '');
  if (report.pendingNamespaceDeletions.length > 0) {
    out.push(`Namespace deletions still in progress when the log ends (not findings; review a longer log to know):`);
    for (const p of report.pendingNamespaceDeletions.slice(0, 20))
      out.push(`    ${p.namespace}: deleted ${p.deletedAt} by ${p.user}${p.lastSeenAt ? `, last seen ${p.lastSeenAt}` : ''}`);
    out.push('');
  }
  if (report.malformed.total > 0) {
    out.push(`Malformed lines skipped: ${report.malformed.total}`);
    for (const m of report.malformed.listed) out.push(`    ${m.input}:${m.line}: ${m.reason}`);
    if (report.malformed.total > report.malformed.listed.length) out.push(`    ... ${report.malformed.total - report.malformed.listed.length} more not listed`);
    out.push('');
  }
  return out.join('\n');
}

// ---- markdown -------------------------------------------------------------------------------

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
function mdCode(s: string): string {
  return '`' + s.replace(/`/g, "'") + '`';
}

export function renderMarkdown(unsafe: ReviewReport): string {
  const report = escapeDeep(unsafe);
  const out: string[] = ['# teardown-guard audit review', '', headline(report).replace(/^teardown-guard review: /, ''), ''];
  const s = report.summary;
  out.push(`Read: ${countsText(s, s.skippedByReason, s.malformedLines)}; log ${span(report.logTimeRange)}`, '');
  out.push(
    '| input | read as | format | events read | used | outside window | earlier stage | lines skipped | status |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const i of report.inputs) {
    out.push(
      `| ${mdCode(i.name)} | ${mdCell(i.form)} | ${i.compressed ? 'gzip, ' : ''}${i.format} | ${i.events} | ${i.eventsUsed} | ${i.eventsOutsideWindow} | ${i.eventsEarlierStage} | ${i.malformedLines} | ${mdCell(i.problem ? problemText(i) : 'ok')} |`,
    );
  }
  out.push('');
  out.push(`| severity | findings |`, `|---|---|`, ...(['high', 'medium', 'low'] as const).map((k) => `| ${k} | ${s.bySeverity[k]} |`), '');
  report.findings.forEach((x, i) => {
    out.push(`## ${i + 1}. ${mdCell(x.title)}`, '');
    out.push(`- **Code:** ${mdCode(x.code)} — **severity:** ${x.severity} — **id:** ${mdCode(x.id)}`);
    out.push(`- **When:** ${x.firstSeen}${x.lastSeen !== x.firstSeen ? ` – ${x.lastSeen}` : ''}`);
    if (x.actor) out.push(`- **Who:** ${mdCode(x.actor.user)} via ${mdCode(x.actor.userAgent)} (${x.actor.client})`);
    if (x.release) out.push(`- **Release:** ${mdCode(`${x.release.namespace}/${x.release.name}`)}`);
    out.push('', '### What happened', '', x.detail, '');
    if (x.objects.length > 0) {
      out.push('| object | state |', '|---|---|');
      for (const o of x.objects.slice(0, 100))
        out.push(`| ${mdCode(`${o.resource}${o.apiGroup ? `.${o.apiGroup}` : ''} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`)} | ${o.state} |`);
      out.push('');
    }
    out.push('### Evidence', '', '| time | user | user agent | request | code | note |', '|---|---|---|---|---|---|');
    for (const e of x.evidence) {
      out.push(
        `| ${e.time} | ${mdCell(e.impersonatedUser ? `${e.user} as ${e.impersonatedUser}` : e.user)} | ${mdCell(mdCode(e.userAgent))} | ${mdCell(mdCode(`${e.verb} ${e.requestURI}`))} | ${e.code} | ${mdCell(e.note ?? '')} |`,
      );
    }
    out.push('', '### What to do', '');
    x.remedy.forEach((r, k) => out.push(`${k + 1}. ${r}`));
    out.push('');
  });
  if (report.findings.length === 0)
    out.push(report.summary.outcome === 'nothing-analysed' ? '**Nothing analysed**: no findings can be reported.' : 'No findings.', '');
  if (report.pendingNamespaceDeletions.length > 0) {
    out.push('## Namespace deletions still in progress at the end of the log', '');
    for (const p of report.pendingNamespaceDeletions)
      out.push(`- ${mdCode(p.namespace)}: deleted ${p.deletedAt} by ${mdCode(p.user)}${p.lastSeenAt ? `, last seen ${p.lastSeenAt}` : ''}`);
    out.push('');
  }
  if (report.malformed.total > 0) {
    out.push(`## Malformed lines (${report.malformed.total}, skipped)`, '');
    for (const m of report.malformed.listed) out.push(`- ${mdCode(`${m.input}:${m.line}`)}: ${m.reason}`);
    out.push('');
  }
  return out.join('\n');
}
