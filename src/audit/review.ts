// `teardown-guard review`: runs the inputs through the reader and one shared correlator (rotated
// logs continue each other), applies the filters and returns everything the report needs.
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { Correlator, DEFAULT_GUARD_NAME, DEFAULT_WINDOW_MS } from './correlator.ts';
import type { CorrelatorStats, PendingNamespaceDeletion } from './correlator.ts';
import { toRecord } from './event.ts';
import type { AuditFinding } from './findings.ts';
import { findingUsers } from './findings.ts';
import type { InputStats } from './reader.ts';
import { openInput, readAuditInput } from './reader.ts';

export interface ReviewOptions {
  inputs: string[];
  /** Only events at or after this time (ms) are considered. */
  since?: number;
  /** Only events before this time (ms) are considered. */
  until?: number;
  /** Only findings that concern this namespace. */
  namespace?: string;
  /** Only findings that involve this user. */
  user?: string;
  windowMs?: number;
  strict?: boolean;
  guardName?: string;
  /** Progress over all inputs: raw bytes read, total raw bytes when known. */
  onProgress?(p: { rawBytes: number; totalBytes?: number; input: string }): void;
  /** How many malformed lines are listed individually (all are counted). */
  maxMalformedListed?: number;
}

export interface MalformedLine { input: string; line: number; reason: string }

export interface ReviewResult {
  inputs: InputStats[];
  /** Input order actually used (files sorted by their first timestamp). */
  order: string[];
  findings: AuditFinding[];
  /** Findings before the namespace/user filters. */
  unfilteredFindings: number;
  malformed: MalformedLine[];
  malformedTotal: number;
  /** Events inside the time filter that the correlator read. */
  eventsConsidered: number;
  firstEventTime?: string;
  lastEventTime?: string;
  pendingNamespaceDeletions: PendingNamespaceDeletion[];
  correlator: CorrelatorStats;
  windowMs: number;
}

const PEEK_BYTES = 256 * 1024;
const TIMESTAMP = /"requestReceivedTimestamp"\s*:\s*"([^"]+)"/;

/** First requestReceivedTimestamp of a file (gzip or not), to order rotated files; undefined if none. */
export async function peekFirstTime(path: string): Promise<number | undefined> {
  const raw = createReadStream(path, { start: 0, end: PEEK_BYTES - 1 });
  const chunks: Buffer[] = [];
  for await (const c of raw) chunks.push(c as Buffer);
  let head = Buffer.concat(chunks);
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip({ finishFlush: 2 /* Z_SYNC_FLUSH: tolerate the truncated tail */ });
    const out: Buffer[] = [];
    let size = 0;
    try {
      gunzip.end(head);
      for await (const c of gunzip) { out.push(c as Buffer); size += (c as Buffer).length; if (size > PEEK_BYTES) break; }
    } catch { /* the peek is truncated on purpose */ }
    head = Buffer.concat(out);
  }
  const m = TIMESTAMP.exec(head.toString('utf8', 0, Math.min(head.length, PEEK_BYTES)));
  if (!m || m[1] === undefined) return undefined;
  const ms = Date.parse(m[1]);
  return Number.isNaN(ms) ? undefined : ms;
}

export async function runReview(o: ReviewOptions): Promise<ReviewResult> {
  const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS;
  const maxListed = o.maxMalformedListed ?? 100;
  const all: AuditFinding[] = [];
  const correlator = new Correlator({ windowMs, guardName: o.guardName ?? DEFAULT_GUARD_NAME, onFinding: (f) => all.push(f) });
  const malformed: MalformedLine[] = [];
  let malformedTotal = 0;
  let considered = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;

  // Rotated files can be named in any order: read files oldest first (stdin stays where it is).
  const order = [...o.inputs];
  if (!order.includes('-') && order.length > 1) {
    const firsts = new Map<string, number>();
    for (const p of order) {
      try { firsts.set(p, (await peekFirstTime(p)) ?? Number.POSITIVE_INFINITY); } catch { firsts.set(p, Number.POSITIVE_INFINITY); }
    }
    order.sort((a, b) => (firsts.get(a) ?? 0) - (firsts.get(b) ?? 0));
  }

  const opened = [];
  for (const p of order) opened.push({ path: p, ...(await openInput(p)) });
  const knownTotal = opened.every((x) => x.size !== undefined) ? opened.reduce((n, x) => n + (x.size ?? 0), 0) : undefined;
  let doneBytes = 0;
  const stats: InputStats[] = [];
  for (const inp of opened) {
    const st = await readAuditInput(inp.open(), {
      name: inp.path,
      strict: o.strict ?? false,
      interest: correlator.interest(),
      guardName: o.guardName ?? DEFAULT_GUARD_NAME,
      onEvent: (ev) => {
        const r = toRecord(ev);
        if (!r) return;
        if (o.since !== undefined && r.time < o.since) return;
        if (o.until !== undefined && r.time >= o.until) return;
        considered++;
        if (r.time < first) first = r.time;
        if (r.time > last) last = r.time;
        correlator.push(r);
      },
      onMalformed: (line, reason) => {
        malformedTotal++;
        if (malformed.length < maxListed) malformed.push({ input: inp.path, line, reason });
      },
      onTimeSample: (ms) => {
        if (o.since !== undefined && ms < o.since) return;
        if (o.until !== undefined && ms >= o.until) return;
        if (ms < first) first = ms;
        if (ms > last) last = ms;
        correlator.advanceTo(ms);
      },
      ...(o.onProgress ? { onProgress: (n: number) => o.onProgress?.({ rawBytes: doneBytes + n, ...(knownTotal !== undefined ? { totalBytes: knownTotal } : {}), input: inp.path }) } : {}),
    });
    doneBytes += st.rawBytes;
    stats.push(st);
  }
  correlator.flush();
  const findings = all
    .filter((f) => o.namespace === undefined || f.namespaces.includes(o.namespace))
    .filter((f) => o.user === undefined || findingUsers(f).includes(o.user))
    .sort((a, b) => a.firstSeen.localeCompare(b.firstSeen) || a.code.localeCompare(b.code) || a.id.localeCompare(b.id));
  const result: ReviewResult = {
    inputs: stats,
    order,
    findings,
    unfilteredFindings: all.length,
    malformed,
    malformedTotal,
    eventsConsidered: considered,
    pendingNamespaceDeletions: correlator.pendingNamespaceDeletions()
      .filter((p) => o.namespace === undefined || p.namespace === o.namespace),
    correlator: correlator.stats(),
    windowMs,
  };
  if (Number.isFinite(first)) result.firstEventTime = new Date(first).toISOString();
  if (Number.isFinite(last)) result.lastEventTime = new Date(last).toISOString();
  return result;
}
