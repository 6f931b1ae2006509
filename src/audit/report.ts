// Renders a review: the JSON report (schema: report.schema.json, schemaVersion below), a human
// report for the terminal and Markdown for tickets and pull requests.
import type { AuditFinding, AuditSeverity, Evidence } from './findings.ts';
import { FINDING_CODES } from './findings.ts';
import type { MalformedLine, ReviewResult } from './review.ts';
import type { PendingNamespaceDeletion } from './correlator.ts';

/** Bumped on any incompatible change to the JSON report. */
export const REPORT_SCHEMA_VERSION = 1;

export interface ReviewReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  tool: { name: 'teardown-guard'; version: string };
  generatedAt: string;
  windowSeconds: number;
  filters: { since?: string; until?: string; namespace?: string; user?: string };
  inputs: Array<{ name: string; compressed: boolean; rawBytes: number; bytes: number; lines: number; events: number; malformedLines: number }>;
  timeRange: { first?: string; last?: string };
  summary: {
    events: number;
    eventsConsidered: number;
    malformedLines: number;
    findings: number;
    findingsBeforeFilters: number;
    bySeverity: Record<AuditSeverity, number>;
    byCode: Record<string, number>;
  };
  malformed: { total: number; listed: MalformedLine[] };
  pendingNamespaceDeletions: PendingNamespaceDeletion[];
  findings: AuditFinding[];
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
  for (const f of r.findings) { bySeverity[f.severity]++; byCode[f.code] = (byCode[f.code] ?? 0) + 1; }
  const timeRange: ReviewReport['timeRange'] = {};
  if (r.firstEventTime) timeRange.first = r.firstEventTime;
  if (r.lastEventTime) timeRange.last = r.lastEventTime;
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: { name: 'teardown-guard', version: meta.version },
    generatedAt: (meta.now ?? new Date()).toISOString(),
    windowSeconds: r.windowMs / 1000,
    filters: meta.filters,
    inputs: r.inputs.map((i) => ({ name: i.name, compressed: i.compressed, rawBytes: i.rawBytes, bytes: i.bytes, lines: i.lines, events: i.events, malformedLines: i.malformedLines })),
    timeRange,
    summary: {
      events: r.inputs.reduce((n, i) => n + i.events, 0),
      eventsConsidered: r.eventsConsidered,
      malformedLines: r.malformedTotal,
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
    if (line !== '' && prefix.length + line.length + 1 + word.length > width) { out.push(prefix + line); line = word; prefix = hanging; } else line = line === '' ? word : `${line} ${word}`;
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

function plural(n: number, word: string): string { return `${n} ${word}${n === 1 ? '' : 's'}`; }

function headline(report: ReviewReport): string {
  const s = report.summary;
  const lines = report.inputs.reduce((n, i) => n + i.lines, 0);
  const range = report.timeRange.first ? `, ${report.timeRange.first} .. ${report.timeRange.last ?? '?'}` : '';
  const filtered = s.findingsBeforeFilters !== s.findings ? ` (${s.findingsBeforeFilters} before filters)` : '';
  return `teardown-guard review: ${plural(s.findings, 'finding')}${filtered} in ${plural(lines, 'line')} from ${plural(report.inputs.length, 'input')}${range}`;
}

export function renderHuman(report: ReviewReport, width = 100): string {
  const out: string[] = [headline(report)];
  const f = report.filters;
  const active = Object.entries(f).filter(([, v]) => v !== undefined).map(([k, v]) => `--${k} ${String(v)}`);
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
      for (const o of x.objects.slice(0, 50)) out.push(`    ${o.resource}${o.apiGroup ? `.${o.apiGroup}` : ''} ${o.namespace ? `${o.namespace}/` : ''}${o.name}: ${o.state}`);
      if (x.objects.length > 50) out.push(`    ... and ${x.objects.length - 50} more`);
    }
    out.push('  Evidence:');
    for (const e of x.evidence) out.push(`    ${evidenceLine(e, x.actor?.userAgent)}`);
    out.push('  What to do:');
    // Not wrapped: remedies hold commands to copy.
    x.remedy.forEach((r, k) => out.push(`    ${k + 1}. ${r}`));
    out.push('');
  });
  if (report.findings.length === 0) out.push('No findings.', '');
  if (report.pendingNamespaceDeletions.length > 0) {
    out.push(`Namespace deletions still in progress when the log ends (not findings; review a longer log to know):`);
    for (const p of report.pendingNamespaceDeletions.slice(0, 20)) out.push(`    ${p.namespace}: deleted ${p.deletedAt} by ${p.user}${p.lastSeenAt ? `, last seen ${p.lastSeenAt}` : ''}`);
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

function mdCell(s: string): string { return s.replace(/\|/g, '\\|').replace(/\n/g, ' '); }
function mdCode(s: string): string { return '`' + s.replace(/`/g, "'") + '`'; }

export function renderMarkdown(report: ReviewReport): string {
  const out: string[] = ['# teardown-guard audit review', '', headline(report).replace(/^teardown-guard review: /, ''), ''];
  const s = report.summary;
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
      for (const o of x.objects.slice(0, 100)) out.push(`| ${mdCode(`${o.resource}${o.apiGroup ? `.${o.apiGroup}` : ''} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`)} | ${o.state} |`);
      out.push('');
    }
    out.push('### Evidence', '', '| time | user | user agent | request | code | note |', '|---|---|---|---|---|---|');
    for (const e of x.evidence) {
      out.push(`| ${e.time} | ${mdCell(e.impersonatedUser ? `${e.user} as ${e.impersonatedUser}` : e.user)} | ${mdCell(mdCode(e.userAgent))} | ${mdCell(mdCode(`${e.verb} ${e.requestURI}`))} | ${e.code} | ${mdCell(e.note ?? '')} |`);
    }
    out.push('', '### What to do', '');
    x.remedy.forEach((r, k) => out.push(`${k + 1}. ${r}`));
    out.push('');
  });
  if (report.findings.length === 0) out.push('No findings.', '');
  if (report.pendingNamespaceDeletions.length > 0) {
    out.push('## Namespace deletions still in progress at the end of the log', '');
    for (const p of report.pendingNamespaceDeletions) out.push(`- ${mdCode(p.namespace)}: deleted ${p.deletedAt} by ${mdCode(p.user)}${p.lastSeenAt ? `, last seen ${p.lastSeenAt}` : ''}`);
    out.push('');
  }
  if (report.malformed.total > 0) {
    out.push(`## Malformed lines (${report.malformed.total}, skipped)`, '');
    for (const m of report.malformed.listed) out.push(`- ${mdCode(`${m.input}:${m.line}`)}: ${m.reason}`);
    out.push('');
  }
  return out.join('\n');
}
