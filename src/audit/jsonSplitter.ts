// Splits a stream of JSON text that is not one value per line into its values: pretty-printed
// objects one after another (`jq .` output), or the elements of a top-level array (`jq -s .`,
// exports). Memory is bounded like the line reader's: a value longer than the limit is skipped
// while its brackets are still followed (src/audit/README.md, "Formats").

export interface SplitterSink {
  /** A complete value, with the line it starts on. */
  value(buf: Buffer, line: number): void;
  /** A value longer than the limit (skipped) or bytes that cannot start a value (skipped). */
  skipped(line: number, code: 'too-long' | 'not-json', reason: string): void;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
export const NEWLINE = 0x0a;
export const OPEN_BRACE = 0x7b;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
/** How much of a value's start is searched for a list field. */
const LIST_SNIFF_BYTES = 64 * 1024;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export class JsonValueSplitter {
  private line = 1;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private collecting = false;
  private dropping = false;
  private startLine = 0;
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** Array mode: the outer `[` was seen (values are its elements) / its `]` was seen. */
  private opened = false;
  private closed = false;
  private junkLine = 0;
  /** The skipped value looked like a list of events (the hint says how to split it). */
  private holdsList = false;

  private readonly arrayMode: boolean;
  private readonly maxValueBytes: number;
  private readonly sink: SplitterSink;

  constructor(arrayMode: boolean, maxValueBytes: number, sink: SplitterSink) {
    this.arrayMode = arrayMode;
    this.maxValueBytes = maxValueBytes;
    this.sink = sink;
  }

  /** Lines seen so far (complete or not). */
  get lines(): number {
    return this.line;
  }

  push(chunk: Buffer): void {
    let segStart = this.collecting ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (c === NEWLINE) this.line++;
      if (this.collecting) {
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (c === BACKSLASH) this.escaped = true;
          else if (c === QUOTE) this.inString = false;
          continue;
        }
        if (c === QUOTE) this.inString = true;
        else if (c === OPEN_BRACE || c === OPEN_BRACKET) this.depth++;
        else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          if (--this.depth === 0) {
            this.finish(chunk, segStart, i + 1);
            segStart = -1;
          }
        }
        continue;
      }
      if (isSpace(c)) {
        if (c === NEWLINE) this.flushJunk();
        continue;
      }
      if (this.arrayMode && !this.opened && c === OPEN_BRACKET) {
        this.opened = true;
        continue;
      }
      if (this.arrayMode && this.opened && !this.closed && (c === COMMA || c === CLOSE_BRACKET)) {
        this.flushJunk();
        if (c === CLOSE_BRACKET) this.closed = true;
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        this.flushJunk();
        this.collecting = true;
        this.depth = 1;
        this.startLine = this.line;
        segStart = i;
        continue;
      }
      if (this.junkLine === 0) this.junkLine = this.line;
    }
    if (this.collecting && segStart >= 0) this.keep(chunk.subarray(segStart));
  }

  /** End of input: a value still open is reported cut off. */
  end(): void {
    this.flushJunk();
    if (this.collecting) this.sink.skipped(this.startLine, 'not-json', 'not valid JSON (the input ends inside this value)');
    this.collecting = false;
  }

  private keep(part: Buffer): void {
    if (this.dropping) return;
    this.partsBytes += part.length;
    if (this.partsBytes > this.maxValueBytes) {
      this.dropping = true;
      this.holdsList = this.parts.length > 0 && /"(items|events|hits)"\s*:\s*\[/.test(Buffer.concat(this.parts).toString('utf8', 0, LIST_SNIFF_BYTES));
      this.parts = [];
      return;
    }
    this.parts.push(Buffer.from(part));
  }

  private finish(chunk: Buffer, from: number, to: number): void {
    this.collecting = false;
    if (from >= 0) this.keep(chunk.subarray(from, to));
    if (this.dropping) {
      const hint = this.holdsList ? "; it holds a list: write one event per line first (an EventList: jq -c '.items[]' FILE) or raise --max-line-mib" : '';
      this.sink.skipped(this.startLine, 'too-long', `JSON value longer than ${this.maxValueBytes} bytes (--max-line-mib): skipped${hint}`);
    } else this.sink.value(this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts), this.startLine);
    this.parts = [];
    this.partsBytes = 0;
    this.dropping = false;
  }

  private flushJunk(): void {
    if (this.junkLine === 0) return;
    this.sink.skipped(this.junkLine, 'not-json', 'not a JSON object or array (text between values)');
    this.junkLine = 0;
  }
}
