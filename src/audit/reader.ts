// Streams the audit events of one input (a file, a gzip file or stdin) in bounded memory. JSON
// lines are split on newlines by hand (only the line that straddles a chunk boundary is copied)
// and decoded only when the prefilter says they can matter (or in strict mode, always);
// pretty-printed and array-wrapped JSON goes through JsonValueSplitter; events wrapped by log
// shippers are unwrapped. A damaged, foreign or hostile input ends with `problem` set and what
// was read before it kept (src/audit/README.md: "Formats", "Damaged and hostile input").
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ProblemKind, ProblemPosition } from './decompress.ts';
import { InputProblem, decompressed } from './decompress.ts';
import type { AuditEventV1 } from './event.ts';
import { eventListItemProblem, isAuditEvent, isAuditEventList } from './event.ts';
import { CLOSE_BRACE, JsonValueSplitter, NEWLINE, OPEN_BRACE, OPEN_BRACKET } from './jsonSplitter.ts';
import { lineTime } from './lineTime.ts';
import type { Interest } from './prefilter.ts';
import { chunkNeedles, classifyLine } from './prefilter.ts';
import { describeForeign, describeText, unwrapEvents } from './unwrap.ts';

export { InputProblem } from './decompress.ts';

/** Why a line (or value) was skipped; the report counts each. */
export type SkipCode = 'not-json' | 'truncated' | 'not-an-event' | 'list-item' | 'too-long';
export const SKIP_CODES: readonly SkipCode[] = ['not-json', 'truncated', 'not-an-event', 'list-item', 'too-long'];

export type InputFormat = 'json-lines' | 'cri-json-lines' | 'pretty-json' | 'json-array' | 'empty';

export interface ReadOptions {
  /** Display name of the input (file name or `-`). */
  name: string;
  onEvent(ev: AuditEventV1, line: number): void;
  /** An event the fast path did not parse: its time, and whether it is at a final stage. */
  onSkippedEvent?(timeMs: number, finalStage: boolean): void;
  onMalformed(line: number, reason: string, code: SkipCode): void;
  /** Parse every line (exact malformed-line reporting); otherwise the prefilter skips what cannot matter. */
  strict?: boolean;
  /** What the correlator wants right now (fast path only). */
  interest?: Interest;
  /** Literal that marks the guard's annotations (fast path needle). */
  guardName?: string;
  /** Raw (possibly compressed) bytes consumed so far. */
  onProgress?(rawBytes: number): void;
  /** How many leading non-empty lines must include an audit event before the input is accepted. */
  sniffLines?: number;
  /** Longest line (or JSON value) accepted; longer ones are reported and skipped without being buffered. */
  maxLineBytes?: number;
  /** Largest gzip inflation ratio accepted (decompression-bomb guard). */
  maxGzipRatio?: number;
  /** Inflated bytes before the ratio is checked. */
  gzipRatioFloorBytes?: number;
}

export interface InputProblemReport {
  kind: ProblemKind;
  message: string;
  at: ProblemPosition;
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
  format: InputFormat;
  /** Events found inside log-shipper records, by where they were (`.log`, `.message`, ...). */
  wrapped: Record<string, number>;
  skipped: Record<SkipCode, number>;
  /** Set when the input could not be read to its end (or at all). */
  problem?: InputProblemReport;
}

const CR = 0x0d;
const DEFAULT_SNIFF_LINES = 20;
/**
 * A line being parsed costs up to about 7 times its size in memory (src/audit/README.md, "Memory
 * bound"); 16 MiB keeps the whole review under 256 MiB. `--max-line-mib` raises it.
 */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_GZIP_RATIO = 100;
const DEFAULT_RATIO_FLOOR = 16 * 1024 * 1024;
/** Bytes looked at to tell JSON lines from pretty-printed JSON. */
const MODE_SNIFF_BYTES = 64 * 1024;
const MAX_WRAPPER_KINDS = 20;
const NO_INTEREST: Interest = { pendingNamespaces: new Set(), sessionUserAgents: new Set() };
/** containerd/CRI-O log line: `<RFC 3339 time> <stream> <P|F> <content>`. */
const CRI_PREFIX = /^\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d) (?:stdout|stderr) ([PF]) /;
const CRI_SNIFF_CHARS = 64;
/**
 * CloudWatch Logs' export to S3 (EKS): each log event on a line of its own, after its timestamp
 * and a space. RFC 3339 with milliseconds as the export writes it; milliseconds since the epoch
 * as some tools re-export it. Only when a JSON object follows.
 */
const EXPORT_PREFIX = /^(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z|\d{13}) (?=\{)/;
export const CLOUDWATCH_EXPORT_VIA = '<time> prefix (CloudWatch Logs export to S3)';

/** Checks FILE (or `-` for stdin) can be opened; `open` starts reading it. Size is known for files. */
export async function openInput(path: string): Promise<{ size?: number; open(): Readable }> {
  if (path === '-') return { open: () => process.stdin };
  let size: number;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new InputProblem('unreadable', 'is a directory');
    size = st.size;
  } catch (err) {
    if (err instanceof InputProblem) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputProblem('unreadable', code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message);
  }
  return { size, open: () => createReadStream(path, { highWaterMark: 1 << 20 }) };
}

function emptyStats(name: string): InputStats {
  return {
    name,
    compressed: false,
    rawBytes: 0,
    bytes: 0,
    lines: 0,
    events: 0,
    parsedLines: 0,
    malformedLines: 0,
    format: 'empty',
    wrapped: {},
    skipped: { 'not-json': 0, truncated: 0, 'not-an-event': 0, 'list-item': 0, 'too-long': 0 },
  };
}

/** An input that could not be opened, as the report shows it. */
export function unopenedStats(name: string, problem: InputProblem): InputStats {
  return { ...emptyStats(name), problem: { kind: problem.kind, message: problem.message, at: problem.at } };
}

/** The index just past the JSON object starting at `from`, or -1 when it does not end within `buf`. */
function endOfValue(buf: Buffer, from: number): number {
  let depth = 0;
  let inString = false;
  for (let k = from; k < buf.length; k++) {
    const c = buf[k];
    if (inString) {
      if (c === 0x5c) k++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === 0x5d) {
      depth--;
      if (depth === 0) return k + 1;
    }
  }
  return -1;
}

/** How the text is framed, from its first bytes; undefined while more are needed. */
function detectFormat(head: Buffer, ended: boolean): InputFormat | undefined {
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === NEWLINE || head[i] === CR)) i++;
  if (i >= head.length) return ended ? 'json-lines' : undefined;
  if (head[i] === OPEN_BRACKET) return 'json-array';
  if (head[i] !== OPEN_BRACE) return 'json-lines';
  // Objects one after another on one line (Firehose's S3 objects of CloudWatch Logs records):
  // read by value, like pretty-printed JSON.
  const end = endOfValue(head, i);
  if (end > 0) {
    let j = end;
    while (j < head.length && (head[j] === 0x20 || head[j] === 0x09)) j++;
    if (head[j] === OPEN_BRACE) return 'pretty-json';
  }
  const nl = head.indexOf(NEWLINE, i);
  if (nl < 0) return ended || head.length >= MODE_SNIFF_BYTES ? 'json-lines' : undefined;
  // Pretty-printers put the opening brace alone on the first line.
  return head.toString('latin1', i + 1, nl).trim() === '' ? 'pretty-json' : 'json-lines';
}

/**
 * Reads one input to its end, or to the point where it cannot go on (then `problem` says why
 * and where). Malformed lines are reported and skipped.
 */
export async function readAuditInput(source: Readable, opts: ReadOptions): Promise<InputStats> {
  const stats = emptyStats(opts.name);
  const reader = new InputReader(stats, opts);
  const counters = { rawBytes: 0, bytes: 0, compressed: false };
  const sync = () => {
    stats.rawBytes = counters.rawBytes;
    stats.bytes = counters.bytes;
    stats.compressed = counters.compressed;
  };
  try {
    const chunks = decompressed(source, counters, {
      maxRatio: opts.maxGzipRatio ?? DEFAULT_MAX_GZIP_RATIO,
      ratioFloorBytes: opts.gzipRatioFloorBytes ?? DEFAULT_RATIO_FLOOR,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    for await (const chunk of chunks) {
      sync();
      reader.push(chunk);
    }
    sync();
    reader.end();
  } catch (err) {
    sync();
    if (!(err instanceof InputProblem)) throw err;
    reader.abandon();
    const at: ProblemPosition = { ...err.at, line: stats.lines };
    stats.problem = { kind: err.kind, message: err.message, at };
  } finally {
    if (typeof (source as Partial<Readable>).destroy === 'function' && source !== process.stdin) source.destroy();
  }
  return stats;
}

/** The framing and parsing state of one input. */
class InputReader {
  private readonly sniffLines: number;
  private readonly maxLine: number;
  private readonly interest: Interest;
  private readonly needles: Buffer[];
  private format: InputFormat | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private splitter: JsonValueSplitter | undefined;
  private sniffed = 0;
  private sniffEvents = 0;
  private firstNonEvent: string | undefined;
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private dropping = false;
  private lineNo = 0;
  private criPartial: Buffer[] = [];
  private criPartialBytes = 0;

  private readonly stats: InputStats;
  private readonly opts: ReadOptions;

  constructor(stats: InputStats, opts: ReadOptions) {
    this.stats = stats;
    this.opts = opts;
    this.sniffLines = opts.sniffLines ?? DEFAULT_SNIFF_LINES;
    this.maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.interest = opts.interest ?? NO_INTEREST;
    this.needles = chunkNeedles(opts.guardName ?? 'teardown-guard');
  }

  push(chunk: Buffer): void {
    if (this.format === undefined) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      const head = this.pending.length === 1 ? chunk : Buffer.concat(this.pending);
      const f = detectFormat(head, false);
      if (f === undefined) return;
      this.start(f);
      const buffered = this.pending;
      this.pending = [];
      for (const b of buffered) this.consume(b);
      return;
    }
    this.consume(chunk);
  }

  end(): void {
    if (this.format === undefined) {
      const head = Buffer.concat(this.pending);
      if (head.length === 0) return;
      this.start(detectFormat(head, true) ?? 'json-lines');
      this.consume(head);
    }
    if (this.splitter) {
      this.splitter.end();
      this.stats.lines = this.splitter.lines;
    } else {
      if (this.carryBytes > 0 && !this.dropping) {
        const line = Buffer.concat(this.carry);
        this.carry = [];
        this.carryBytes = 0;
        this.handleLine(line, 0, line.length, false);
      }
      if (this.criPartialBytes > 0) this.malformed(this.lineNo, 'not valid JSON (the input ends inside a partial CRI line)', 'truncated');
    }
    if (this.sniffed > 0 && this.sniffEvents === 0 && this.stats.events === 0) {
      throw new InputProblem(
        'not-an-audit-log',
        `not a kube-apiserver audit log: none of its ${this.sniffed} non-empty lines is an audit event; ${this.firstNonEvent ?? ''}`,
      );
    }
  }

  /** The input broke: what was read stays counted; a line cut by the break is not read. */
  abandon(): void {
    if (this.splitter) this.stats.lines = this.splitter.lines;
    this.carry = [];
    this.carryBytes = 0;
  }

  private start(f: InputFormat): void {
    this.format = f;
    this.stats.format = f;
    if (f === 'pretty-json' || f === 'json-array') {
      this.splitter = new JsonValueSplitter(f === 'json-array', this.maxLine, {
        value: (buf, line) => {
          this.lineNo = line;
          this.parse(buf, 0, buf.length, line);
        },
        skipped: (line, code, reason) => {
          this.malformed(line, reason, code);
          this.sniff(0, reason);
        },
      });
    }
  }

  private consume(chunk: Buffer): void {
    if (this.splitter) {
      this.splitter.push(chunk);
      this.stats.lines = this.splitter.lines;
      return;
    }
    this.consumeLines(chunk);
  }

  private malformed(line: number, reason: string, code: SkipCode): void {
    this.stats.malformedLines++;
    this.stats.skipped[code]++;
    this.opts.onMalformed(line, reason, code);
  }

  /** Counts a sniffed record; refuses the input when the first ones hold no audit event. */
  private sniff(found: number, nonEvent?: string): void {
    if (this.sniffed >= this.sniffLines) return;
    this.sniffed++;
    if (found > 0) this.sniffEvents++;
    else if (nonEvent) this.firstNonEvent ??= nonEvent;
    if (this.sniffed >= this.sniffLines && this.sniffEvents === 0 && this.stats.events === 0) {
      throw new InputProblem(
        'not-an-audit-log',
        `not a kube-apiserver audit log: none of the first ${this.sniffed} non-empty lines is an audit event; ${this.firstNonEvent ?? ''}`,
      );
    }
  }

  private event(ev: AuditEventV1, line: number): void {
    this.stats.events++;
    this.opts.onEvent(ev, line);
  }

  private parse(buf: Buffer, s: number, e: number, line: number): void {
    this.stats.parsedLines++;
    let value: unknown;
    const text = buf.toString('utf8', s, e);
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (this.concatenatedValues(buf, s, e, line)) return;
      const what = describeText(text.slice(0, 200));
      this.malformed(line, what ? `not JSON: ${what}` : `not valid JSON: ${(err as Error).message}`, 'not-json');
      this.sniff(0, `line ${line} is ${what ?? 'not JSON'}`);
      return;
    }
    this.sniff(this.value(value, line), `line ${line} is ${describeForeign(value)}`);
  }

  /**
   * A line of JSON objects written one after another with nothing between them: an S3 object that
   * Amazon Data Firehose wrote from CloudWatch Logs subscription records (each record its own gzip
   * member, no newline between them). Read as its values when every one is JSON; returns whether
   * it was. Costs nothing on lines that parse.
   */
  private concatenatedValues(buf: Buffer, s: number, e: number, line: number): boolean {
    if (buf[s] !== OPEN_BRACE || buf[e - 1] !== CLOSE_BRACE || buf.indexOf('}{', s) < 0 || buf.indexOf('}{', s) >= e) return false;
    const values: unknown[] = [];
    let broken = false;
    const splitter = new JsonValueSplitter(false, this.maxLine, {
      value: (v) => {
        try {
          values.push(JSON.parse(v.toString('utf8')) as unknown);
        } catch {
          broken = true;
        }
      },
      skipped: () => {
        broken = true;
      },
    });
    splitter.push(buf.subarray(s, e));
    splitter.end();
    if (broken || values.length < 2) return false;
    let found = 0;
    for (const v of values) found += this.value(v, line);
    this.sniff(found, `line ${line} holds ${values.length} JSON values with no audit event`);
    return true;
  }

  /** The events in one parsed value; returns how many. */
  private value(value: unknown, line: number): number {
    if (isAuditEvent(value)) {
      this.event(value, line);
      return 1;
    }
    const items = isAuditEventList(value) ? { events: value.items, via: '' } : unwrapEvents(value);
    if (!items) {
      this.malformed(line, `not an audit.k8s.io Event: ${describeForeign(value)}`, 'not-an-event');
      return 0;
    }
    let found = 0;
    items.events.forEach((item, k) => {
      const problem = eventListItemProblem(item);
      if (problem === undefined) {
        found++;
        this.event(item as AuditEventV1, line);
      } else this.malformed(line, `${items.via ? `${items.via}: ` : ''}item ${k} is not an audit event (${problem})`, 'list-item');
    });
    if (items.via && found > 0) this.countWrapped(items.via, found);
    return found;
  }

  private countWrapped(via: string, n: number): void {
    const w = this.stats.wrapped;
    const key = via in w || Object.keys(w).length < MAX_WRAPPER_KINDS ? via : '(other)';
    w[key] = (w[key] ?? 0) + n;
  }

  // ---- JSON lines ------------------------------------------------------------------------------

  private handleLine(buf: Buffer, s: number, e: number, hit: boolean): void {
    this.lineNo++;
    this.stats.lines++;
    if (e > s && buf[e - 1] === CR) e--;
    if (this.lineNo === 1 && e - s >= 3 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
    while (s < e && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
    if (s >= e) return;
    const c = buf[s] as number;
    if (c >= 0x30 && c <= 0x39) {
      const m = CRI_PREFIX.exec(buf.toString('latin1', s, Math.min(e, s + CRI_SNIFF_CHARS)));
      if (m) {
        this.criLine(buf, s + m[0].length, e, m[1] === 'P', hit);
        return;
      }
      const x = EXPORT_PREFIX.exec(buf.toString('latin1', s, Math.min(e, s + CRI_SNIFF_CHARS)));
      if (x) {
        this.countWrapped(CLOUDWATCH_EXPORT_VIA, 1);
        this.record(buf, s + x[0].length, e, hit);
        return;
      }
    }
    this.record(buf, s, e, hit);
  }

  /** A containerd/CRI-O line: `P` parts are joined until the `F` that ends them. */
  private criLine(buf: Buffer, s: number, e: number, partial: boolean, hit: boolean): void {
    this.stats.format = 'cri-json-lines';
    if (partial || this.criPartialBytes > 0) {
      this.criPartialBytes += e - s;
      if (this.criPartialBytes <= this.maxLine) this.criPartial.push(Buffer.from(buf.subarray(s, e)));
      if (partial) return;
      const over = this.criPartialBytes > this.maxLine;
      const joined = over ? undefined : Buffer.concat(this.criPartial);
      this.criPartial = [];
      this.criPartialBytes = 0;
      if (!joined) {
        this.malformed(this.lineNo, `line longer than ${this.maxLine} bytes (--max-line-mib): skipped`, 'too-long');
        this.sniff(0, `line ${this.lineNo} is too long`);
        return;
      }
      this.record(joined, 0, joined.length, true);
      return;
    }
    this.record(buf, s, e, hit);
  }

  private record(buf: Buffer, s: number, e: number, hit: boolean): void {
    if (this.opts.strict || this.sniffed < this.sniffLines || hit) {
      this.parse(buf, s, e, this.lineNo);
      return;
    }
    const verdict = classifyLine(buf, s, e, this.interest);
    if (verdict === 'parse') {
      this.parse(buf, s, e, this.lineNo);
      return;
    }
    // Skipped: the structural check still catches truncated and garbled lines.
    if (buf[s] !== OPEN_BRACE || buf[e - 1] !== CLOSE_BRACE) {
      this.malformed(this.lineNo, 'not valid JSON (truncated or garbled line)', 'truncated');
      return;
    }
    const time = lineTime(buf, s, e);
    if (Number.isNaN(time)) {
      this.parse(buf, s, e, this.lineNo);
      return;
    }
    this.stats.events++;
    this.opts.onSkippedEvent?.(time, verdict === 'skip');
  }

  private scan(buf: Buffer, from: number, last: number): void {
    // Lines [from, last] are complete. Find the chunk-wide needles once.
    const hits: number[] = [];
    if (!this.opts.strict) {
      for (const nd of this.needles) {
        for (let p = buf.indexOf(nd, from); p >= 0 && p < last; p = buf.indexOf(nd, p + nd.length)) hits.push(p);
      }
      if (hits.length > 1) hits.sort((a, b) => a - b);
    }
    let h = 0;
    let s = from;
    while (s <= last) {
      const e = buf.indexOf(NEWLINE, s);
      while (h < hits.length && (hits[h] as number) < s) h++;
      this.handleLine(buf, s, e, h < hits.length && (hits[h] as number) < e);
      s = e + 1;
    }
  }

  private tooLong(): void {
    this.lineNo++;
    this.stats.lines++;
    this.malformed(this.lineNo, `line longer than ${this.maxLine} bytes (--max-line-mib): skipped`, 'too-long');
    this.sniff(0, `line ${this.lineNo} is longer than ${this.maxLine} bytes`);
  }

  private consumeLines(chunk: Buffer): void {
    let s = 0;
    const firstNl = chunk.indexOf(NEWLINE);
    if (firstNl < 0) {
      // No line ends in this chunk: keep carrying (parts, joined once), or keep dropping an over-long line.
      if (this.dropping) return;
      if (this.carryBytes + chunk.length > this.maxLine) {
        this.tooLong();
        this.carry = [];
        this.carryBytes = 0;
        this.dropping = true;
      } else {
        this.carry.push(Buffer.from(chunk));
        this.carryBytes += chunk.length;
      }
      return;
    }
    if (this.dropping) {
      this.dropping = false;
      s = firstNl + 1;
    } else if (this.carryBytes > 0) {
      if (this.carryBytes + firstNl > this.maxLine) {
        this.tooLong();
      } else {
        // Only the line that straddles the chunk boundary is copied.
        this.carry.push(chunk.subarray(0, firstNl + 1));
        const line = Buffer.concat(this.carry);
        this.scan(line, 0, line.length - 1);
      }
      this.carry = [];
      this.carryBytes = 0;
      s = firstNl + 1;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= s) {
      this.scanBounded(chunk, s, last);
      s = last + 1;
    }
    if (s < chunk.length) {
      if (chunk.length - s > this.maxLine) {
        this.tooLong();
        this.dropping = true;
      } else {
        this.carry.push(Buffer.from(chunk.subarray(s)));
        this.carryBytes = chunk.length - s;
      }
    }
  }

  /** scan(), but lines longer than the limit inside one chunk are skipped too. */
  private scanBounded(chunk: Buffer, from: number, last: number): void {
    if (last - from < this.maxLine) {
      this.scan(chunk, from, last);
      return;
    }
    let s = from;
    while (s <= last) {
      const e = chunk.indexOf(NEWLINE, s);
      if (e - s > this.maxLine) this.tooLong();
      else this.scan(chunk, s, e);
      s = e + 1;
    }
  }
}
