// Streams audit.k8s.io/v1 Event JSON lines (the log backend's format; an EventList per line is
// accepted too) from a file, a gzip file or stdin, in constant memory: chunks are split on
// newlines by hand, only the current partial line is carried over, and a line is decoded and
// JSON-parsed only when the prefilter says it can matter (or in strict mode, always).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { AuditEventV1 } from './event.ts';
import { describeNonEvent, isAuditEvent, isAuditEventList } from './event.ts';
import type { Interest } from './prefilter.ts';
import { chunkNeedles, classifyLine } from './prefilter.ts';

export class NotAnAuditLogError extends Error {
  override readonly name = 'NotAnAuditLogError';
}

export class InputError extends Error {
  override readonly name = 'InputError';
}

export interface ReadOptions {
  /** Display name of the input (file name or `-`). */
  name: string;
  onEvent(ev: AuditEventV1, line: number): void;
  onMalformed(line: number, reason: string): void;
  /** Parse every line (exact malformed-line reporting); otherwise the prefilter skips what cannot matter. */
  strict?: boolean;
  /** What the correlator wants right now (fast path only). */
  interest?: Interest;
  /** Literal that marks the guard's annotations (fast path needle). */
  guardName?: string;
  /** Called with a timestamp sampled from each chunk, so time advances over skipped lines. */
  onTimeSample?(ms: number): void;
  /** Raw (possibly compressed) bytes consumed so far. */
  onProgress?(rawBytes: number): void;
  /** How many leading non-empty lines must include an audit event before the input is accepted. */
  sniffLines?: number;
  /** Longest line accepted; longer ones are reported and skipped without being buffered. */
  maxLineBytes?: number;
}

export interface InputStats {
  name: string;
  compressed: boolean;
  /** Raw bytes read (compressed size for .gz). */
  rawBytes: number;
  /** Decompressed bytes. */
  bytes: number;
  lines: number;
  events: number;
  /** Lines decoded and parsed (the rest were skipped by the fast path). */
  parsedLines: number;
  malformedLines: number;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const DEFAULT_SNIFF_LINES = 20;
const DEFAULT_MAX_LINE = 64 * 1024 * 1024;
const NO_INTEREST: Interest = { pendingNamespaces: new Set(), sessionUserAgents: new Set() };
const TIMESTAMP_KEY = Buffer.from('"requestReceivedTimestamp":"');

/** Checks FILE (or `-` for stdin) can be read; `open` starts reading it. Size is known for files. */
export async function openInput(path: string): Promise<{ size?: number; open(): Readable }> {
  if (path === '-') return { open: () => process.stdin };
  let size: number;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new InputError(`${path}: is a directory`);
    size = st.size;
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
  return { size, open: () => createReadStream(path, { highWaterMark: 1 << 20 }) };
}

/** Yields decompressed chunks; gzip is recognised by its magic bytes, whatever the file is called. */
async function* decompressed(source: Readable, stats: InputStats, onProgress?: (n: number) => void): AsyncGenerator<Buffer> {
  const it = (source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const next = async (): Promise<Buffer | undefined> => {
    const r = await it.next();
    if (r.done) return undefined;
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    stats.rawBytes += b.length;
    onProgress?.(stats.rawBytes);
    return b;
  };
  let head = await next();
  while (head && head.length < 2) {
    const more = await next();
    if (!more) break;
    head = Buffer.concat([head, more]);
  }
  if (!head) return;
  if (head[0] === 0x1f && head[1] === 0x8b) {
    stats.compressed = true;
    const first = head;
    const raw = Readable.from((async function* () {
      yield first;
      for (let b = await next(); b; b = await next()) yield b;
    })(), { objectMode: false });
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    raw.pipe(gunzip);
    try {
      for await (const c of gunzip) yield c as Buffer;
    } catch (err) {
      throw new InputError(`${stats.name}: gzip: ${(err as Error).message} (after ${stats.bytes} decompressed bytes)`);
    }
    return;
  }
  yield head;
  for (let b = await next(); b; b = await next()) yield b;
}

/**
 * Reads one input to its end. Throws NotAnAuditLogError when the first non-empty lines hold no
 * audit event at all, InputError on I/O or gzip errors; malformed lines are reported and skipped.
 */
export async function readAuditInput(source: Readable, opts: ReadOptions): Promise<InputStats> {
  const stats: InputStats = { name: opts.name, compressed: false, rawBytes: 0, bytes: 0, lines: 0, events: 0, parsedLines: 0, malformedLines: 0 };
  const sniffLines = opts.sniffLines ?? DEFAULT_SNIFF_LINES;
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE;
  const interest = opts.interest ?? NO_INTEREST;
  const needles = chunkNeedles(opts.guardName ?? 'teardown-guard');
  let sniffed = 0;
  let sniffEvents = 0;
  let firstNonEvent: string | undefined;
  let carry: Buffer | undefined;
  let dropping = false;
  let lineNo = 0;

  const malformed = (line: number, reason: string) => {
    stats.malformedLines++;
    opts.onMalformed(line, reason);
  };

  const parseLine = (buf: Buffer, s: number, e: number, line: number) => {
    stats.parsedLines++;
    let value: unknown;
    try {
      value = JSON.parse(buf.toString('utf8', s, e));
    } catch (err) {
      malformed(line, `not valid JSON: ${(err as Error).message}`);
      if (sniffed < sniffLines) { sniffed++; firstNonEvent ??= `line ${line} is not JSON`; checkSniff(); }
      return;
    }
    let found = 0;
    if (isAuditEvent(value)) {
      found = 1;
      stats.events++;
      opts.onEvent(value, line);
    } else if (isAuditEventList(value)) {
      value.items.forEach((item, k) => {
        if (isAuditEvent(item)) { found++; stats.events++; opts.onEvent(item, line); } else malformed(line, `EventList item ${k} is not an audit event`);
      });
    } else {
      if (sniffed < sniffLines) firstNonEvent ??= `line ${line} is ${describeNonEvent(value)}`;
      malformed(line, `not an audit.k8s.io Event: ${describeNonEvent(value)}`);
    }
    if (sniffed < sniffLines) { sniffed++; if (found > 0) sniffEvents++; }
    checkSniff();
  };

  const checkSniff = () => {
    if (sniffed >= sniffLines && sniffEvents === 0) {
      throw new NotAnAuditLogError(`${opts.name}: not a kube-apiserver audit log (audit.k8s.io/v1 Event JSON lines): none of the first ${sniffed} non-empty lines is an audit event; ${firstNonEvent ?? ''}`);
    }
  };

  const handleLine = (buf: Buffer, s: number, e: number, hit: boolean) => {
    lineNo++;
    stats.lines++;
    if (e > s && buf[e - 1] === CR) e--;
    if (lineNo === 1 && e - s >= 3 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
    while (s < e && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
    if (s >= e) return;
    if (opts.strict || sniffed < sniffLines || hit) { parseLine(buf, s, e, lineNo); return; }
    const verdict = classifyLine(buf, s, e, interest);
    if (verdict === 'parse') { parseLine(buf, s, e, lineNo); return; }
    // Skipped: the structural check still catches truncated and garbled lines.
    if (buf[s] !== OPEN_BRACE || buf[e - 1] !== CLOSE_BRACE) { malformed(lineNo, 'not valid JSON (truncated or garbled line)'); return; }
    stats.events++;
  };

  const scan = (buf: Buffer, from: number, last: number) => {
    // Lines [from, last] are complete. Find the chunk-wide needles once.
    const hits: number[] = [];
    if (!opts.strict) {
      for (const nd of needles) {
        for (let p = buf.indexOf(nd, from); p >= 0 && p < last; p = buf.indexOf(nd, p + nd.length)) hits.push(p);
      }
      if (hits.length > 1) hits.sort((a, b) => a - b);
    }
    let h = 0;
    let s = from;
    while (s <= last) {
      const e = buf.indexOf(NEWLINE, s);
      while (h < hits.length && (hits[h] as number) < s) h++;
      handleLine(buf, s, e, h < hits.length && (hits[h] as number) < e);
      s = e + 1;
    }
  };

  for await (const chunk of decompressed(source, stats, opts.onProgress)) {
    stats.bytes += chunk.length;
    let s = 0;
    const firstNl = chunk.indexOf(NEWLINE);
    if (firstNl < 0) {
      // No line ends in this chunk: keep carrying (or keep dropping an over-long line).
      if (dropping) continue;
      const carried = (carry?.length ?? 0) + chunk.length;
      if (carried > maxLine) {
        lineNo++;
        stats.lines++;
        malformed(lineNo, `line longer than ${maxLine} bytes: skipped`);
        carry = undefined;
        dropping = true;
      } else {
        carry = carry ? Buffer.concat([carry, chunk]) : Buffer.from(chunk);
      }
      continue;
    }
    if (dropping) {
      dropping = false;
      s = firstNl + 1;
    } else if (carry) {
      // Only the line that straddles the chunk boundary is copied.
      const line = Buffer.concat([carry, chunk.subarray(0, firstNl + 1)]);
      carry = undefined;
      scan(line, 0, line.length - 1);
      s = firstNl + 1;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= s) {
      scan(chunk, s, last);
      if (opts.onTimeSample) sampleTime(chunk, last, opts.onTimeSample);
      s = last + 1;
    }
    if (s < chunk.length) carry = Buffer.from(chunk.subarray(s));
  }
  if (carry && carry.length > 0) handleLine(carry, 0, carry.length, false);
  if (sniffed > 0 && sniffed < sniffLines && sniffEvents === 0) {
    throw new NotAnAuditLogError(`${opts.name}: not a kube-apiserver audit log (audit.k8s.io/v1 Event JSON lines): none of its ${sniffed} non-empty lines is an audit event; ${firstNonEvent ?? ''}`);
  }
  return stats;
}

/** The requestReceivedTimestamp of the line that ends at `end` (the chunk's last full line). */
function sampleTime(buf: Buffer, end: number, onTime: (ms: number) => void): void {
  const start = buf.lastIndexOf(NEWLINE, end - 1) + 1;
  const p = buf.subarray(start, end).indexOf(TIMESTAMP_KEY);
  if (p < 0) return;
  const from = start + p + TIMESTAMP_KEY.length;
  const q = buf.indexOf(0x22, from);
  if (q < 0 || q > end || q - from > 40) return;
  const ms = Date.parse(buf.toString('latin1', from, q));
  if (!Number.isNaN(ms)) onTime(ms);
}
