// Splits a byte stream of newline-delimited JSON (the watch protocol) into parsed values.
// Chunks from the socket end anywhere, including inside a multi-byte UTF-8 character, so bytes are
// decoded with a streaming decoder and only complete lines are parsed.
import { StringDecoder } from 'node:string_decoder';

export class JsonLineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private readonly maxLineChars: number;

  /** `maxLineChars` bounds memory if a peer never sends a newline. */
  constructor(maxLineChars = 64 * 1024 * 1024) {
    this.maxLineChars = maxLineChars;
  }

  /** Feeds a chunk; returns the values of every line it completed. Throws on invalid JSON or an over-long line. */
  push(chunk: Buffer | string): unknown[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const values: unknown[] = [];
    // Scan with a moving start so a chunk carrying many events is not re-copied once per line.
    let start = 0;
    let newline = this.pending.indexOf('\n', start);
    while (newline >= 0) {
      const line = this.pending.slice(start, newline).trim();
      if (line.length > 0) values.push(JSON.parse(line));
      start = newline + 1;
      newline = this.pending.indexOf('\n', start);
    }
    this.pending = this.pending.slice(start);
    if (this.pending.length > this.maxLineChars) {
      throw new Error(`watch stream line exceeds ${this.maxLineChars} characters`);
    }
    return values;
  }

  /** Flushes a final line that had no trailing newline. */
  end(): unknown[] {
    this.pending += this.decoder.end();
    const line = this.pending.trim();
    this.pending = '';
    return line.length > 0 ? [JSON.parse(line)] : [];
  }
}
