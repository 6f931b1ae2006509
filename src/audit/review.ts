// `teardown-guard review`: runs the inputs through the reader and one shared correlator (rotated
// logs continue each other), applies the filters and returns everything the report needs. Each
// input is read on its own terms: one that is damaged, foreign or unreadable is marked with where
// it broke, and the others' findings stand (src/audit/README.md, "Damaged and hostile input").
// Every event is counted the same way whether the fast path skipped it or it was parsed.
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Correlator, DEFAULT_GUARD_NAME, DEFAULT_WINDOW_MS } from './correlator.ts';
import type { CorrelatorStats, PendingNamespaceDeletion } from './correlator.ts';
import type { AuditEventV1 } from './event.ts';
import { eventTimestamp, isFinalStage, parseTime, toRecord } from './event.ts';
import type { AuditFinding } from './findings.ts';
import { findingUsers } from './findings.ts';
import type { InputStats, SkipCode } from './reader.ts';
import { InputProblem, SKIP_CODES, openInput, readAuditInput, unopenedStats } from './reader.ts';
import type { EventTally } from './tally.ts';
import { Tally } from './tally.ts';

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
  /** Finalizer guards to follow (default: the built-in OLM one). */
  finalizerGuards?: FinalizerGuard[];
  /** Progress over all inputs: raw bytes read, total raw bytes when known. */
  onProgress?(p: { rawBytes: number; totalBytes?: number; input: string }): void;
  /** How many malformed lines are listed individually (all are counted). */
  maxMalformedListed?: number;
  /** Longest line or JSON value read (see reader.ts). */
  maxLineBytes?: number;
  /** Gzip inflation ratio above which an input is stopped as a decompression bomb. */
  maxGzipRatio?: number;
}

export interface MalformedLine {
  input: string;
  line: number;
  reason: string;
  code: SkipCode;
}

/** One input as read: the reader's statistics and how its events were counted. */
export interface InputReview extends InputStats {
  tally: EventTally;
}

export interface ReviewResult {
  inputs: InputReview[];
  /** Input order actually used (files sorted by their first timestamp). */
  order: string[];
  findings: AuditFinding[];
  /** Findings before the namespace/user filters. */
  unfilteredFindings: number;
  malformed: MalformedLine[];
  malformedTotal: number;
  /** Events used: at a final stage, with a time, inside the time filter (= tally.used). */
  eventsConsidered: number;
  /** Every event of every input, counted. */
  tally: EventTally;
  /** Lines (or JSON values) skipped, by reason. */
  skippedByReason: Record<SkipCode, number>;
  /** Time span of the events used. */
  firstEventTime?: string;
  lastEventTime?: string;
  /** Time span of every event read, whatever the filters. */
  logFirstTime?: string;
  logLastTime?: string;
  /** No event was analysed (none read, none at a final stage, or none inside --since/--until). */
  nothingAnalysed: boolean;
  /** Inputs that could not be read to their end. */
  problemInputs: number;
  pendingNamespaceDeletions: PendingNamespaceDeletion[];
  correlator: CorrelatorStats;
  windowMs: number;
}

const PEEK_BYTES = 256 * 1024;
/** The first event time in a file's head; quotes may be escaped when a log shipper wrapped the line. */
const TIMESTAMP = /\\?"(?:requestReceivedTimestamp|stageTimestamp|timestamp)\\?"\s*:\s*\\?"([^"\\]+)/;

/** First event time of a file (gzip or not), to order rotated files; undefined if none. */
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
      for await (const c of gunzip) {
        out.push(c as Buffer);
        size += (c as Buffer).length;
        if (size > PEEK_BYTES) break;
      }
    } catch {
      /* the peek is truncated on purpose */
    }
    head = Buffer.concat(out);
  }
  const m = TIMESTAMP.exec(head.toString('utf8', 0, Math.min(head.length, PEEK_BYTES)));
  if (!m || m[1] === undefined) return undefined;
  const ms = Date.parse(m[1]);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Every input is a regular file (a pipe or stdin cannot be peeked at without losing what is read). */
async function allRegularFiles(inputs: string[]): Promise<boolean> {
  for (const p of inputs) {
    if (p === '-') return false;
    try {
      if (!(await stat(p)).isFile()) return false;
    } catch {
      /* reported when opened */
    }
  }
  return true;
}

/** Rotated files can be named in any order: files are read oldest first (with a pipe or stdin, as given). */
async function readingOrder(inputs: string[]): Promise<string[]> {
  const order = [...inputs];
  if (order.length < 2 || !(await allRegularFiles(order))) return order;
  const firsts = new Map<string, number>();
  for (const p of order) {
    try {
      firsts.set(p, (await peekFirstTime(p)) ?? Number.POSITIVE_INFINITY);
    } catch {
      firsts.set(p, Number.POSITIVE_INFINITY);
    }
  }
  return order.sort((a, b) => (firsts.get(a) ?? 0) - (firsts.get(b) ?? 0));
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export async function runReview(o: ReviewOptions): Promise<ReviewResult> {
  const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS;
  const maxListed = o.maxMalformedListed ?? 100;
  const all: AuditFinding[] = [];
  const correlator = new Correlator({
    windowMs,
    guardName: o.guardName ?? DEFAULT_GUARD_NAME,
    onFinding: (f) => all.push(f),
    ...(o.finalizerGuards ? { finalizerGuards: o.finalizerGuards } : {}),
  });
  const malformed: MalformedLine[] = [];
  let malformedTotal = 0;
  const window = { ...(o.since !== undefined ? { since: o.since } : {}), ...(o.until !== undefined ? { until: o.until } : {}) };
  const total = new Tally(window);

  const order = await readingOrder(o.inputs);
  const opened: Array<{ path: string; size?: number; open?: () => Readable; problem?: InputProblem }> = [];
  for (const p of order) {
    try {
      opened.push({ path: p, ...(await openInput(p)) });
    } catch (err) {
      if (!(err instanceof InputProblem)) throw err;
      opened.push({ path: p, problem: err });
    }
  }
  const knownTotal = opened.every((x) => x.size !== undefined || x.problem) ? opened.reduce((n, x) => n + (x.size ?? 0), 0) : undefined;
  let doneBytes = 0;
  const inputs: InputReview[] = [];
  for (const inp of opened) {
    const tally = new Tally(window, total);
    if (!inp.open) {
      inputs.push({ ...unopenedStats(inp.path, inp.problem as InputProblem), tally: tally.counts });
      continue;
    }
    const st = await readAuditInput(inp.open(), {
      name: inp.path,
      strict: o.strict ?? false,
      interest: correlator.interest(),
      guardName: o.guardName ?? DEFAULT_GUARD_NAME,
      ...(o.maxLineBytes !== undefined ? { maxLineBytes: o.maxLineBytes } : {}),
      ...(o.maxGzipRatio !== undefined ? { maxGzipRatio: o.maxGzipRatio } : {}),
      onEvent: (ev: AuditEventV1) => {
        // toRecord parses the time of final-stage events; the others only need it for the tally.
        const r = isFinalStage(ev.stage) ? toRecord(ev) : undefined;
        if (tally.count(r ? r.time : parseTime(eventTimestamp(ev)), r !== undefined || isFinalStage(ev.stage)) === 'used' && r) correlator.push(r);
      },
      onSkippedEvent: (ms, finalStage) => {
        // The correlator would have ignored the event; its time still moves the clock on.
        if (tally.count(ms, finalStage) === 'used') correlator.advanceTo(ms);
      },
      onMalformed: (line, reason, code) => {
        malformedTotal++;
        if (malformed.length < maxListed) malformed.push({ input: inp.path, line, reason, code });
      },
      ...(o.onProgress
        ? {
            onProgress: (n: number) =>
              o.onProgress?.({ rawBytes: doneBytes + n, ...(knownTotal !== undefined ? { totalBytes: knownTotal } : {}), input: inp.path }),
          }
        : {}),
    });
    doneBytes += st.rawBytes;
    inputs.push({ ...st, tally: tally.counts });
  }
  correlator.flush();
  const findings = all
    .filter((f) => o.namespace === undefined || f.namespaces.includes(o.namespace))
    .filter((f) => o.user === undefined || findingUsers(f).includes(o.user))
    .sort((a, b) => a.firstSeen.localeCompare(b.firstSeen) || a.code.localeCompare(b.code) || a.id.localeCompare(b.id));
  const skippedByReason = Object.fromEntries(SKIP_CODES.map((c) => [c, inputs.reduce((n, i) => n + i.skipped[c], 0)])) as Record<SkipCode, number>;
  const t = total.counts;
  const result: ReviewResult = {
    inputs,
    order,
    findings,
    unfilteredFindings: all.length,
    malformed,
    malformedTotal,
    eventsConsidered: t.used,
    tally: t,
    skippedByReason,
    nothingAnalysed: t.used === 0,
    problemInputs: inputs.filter((i) => i.problem).length,
    pendingNamespaceDeletions: correlator.pendingNamespaceDeletions().filter((p) => o.namespace === undefined || p.namespace === o.namespace),
    correlator: correlator.stats(),
    windowMs,
  };
  const times: Array<[keyof ReviewResult, number | undefined]> = [
    ['firstEventTime', t.usedFirst],
    ['lastEventTime', t.usedLast],
    ['logFirstTime', t.first],
    ['logLastTime', t.last],
  ];
  for (const [k, ms] of times) {
    const v = iso(ms);
    if (v) (result as unknown as Record<string, string>)[k] = v;
  }
  return result;
}
