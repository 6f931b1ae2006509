// Decompression of one review input: gzip is recognised by its magic bytes whatever the file is
// called and inflated as a stream; other containers are named with the command that converts them.
// Damage (a truncated or corrupt member) and decompression bombs end the input with an
// InputProblem that says where (src/audit/README.md, "Damaged and hostile input").
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

export type ProblemKind = 'damaged' | 'not-an-audit-log' | 'unreadable' | 'stopped';

/** Where an input broke: compressed byte read so far, decompressed byte, last complete line. */
export interface ProblemPosition {
  rawByte?: number;
  byte?: number;
  line?: number;
}

/** Ends one input (never the review): what went wrong, and where. */
export class InputProblem extends Error {
  override readonly name = 'InputProblem';
  readonly kind: ProblemKind;
  readonly at: ProblemPosition;
  constructor(kind: ProblemKind, message: string, at: ProblemPosition = {}) {
    super(message);
    this.kind = kind;
    this.at = at;
  }
}

/** Raw (compressed) bytes read, decompressed bytes yielded, whether the input is gzip. */
export interface DecompressCounters {
  rawBytes: number;
  bytes: number;
  compressed: boolean;
}

export interface DecompressOptions {
  /** Largest decompressed/compressed ratio accepted once `ratioFloorBytes` were inflated. */
  maxRatio: number;
  ratioFloorBytes: number;
  onProgress?(rawBytes: number): void;
}

const MAGIC: Array<{ bytes: number[]; at?: number; what: string; convert: string }> = [
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], what: 'zstd-compressed data', convert: 'zstd -dc FILE | teardown-guard review -' },
  { bytes: [0x42, 0x5a, 0x68], what: 'bzip2-compressed data', convert: 'bzip2 -dc FILE | teardown-guard review -' },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'xz-compressed data', convert: 'xz -dc FILE | teardown-guard review -' },
  { bytes: [0x04, 0x22, 0x4d, 0x18], what: 'lz4-compressed data', convert: 'lz4 -dc FILE | teardown-guard review -' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: 'a zip archive', convert: 'unzip -p FILE | teardown-guard review -' },
  { bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: 'a 7z archive', convert: '7z x -so FILE | teardown-guard review -' },
  { bytes: [0x75, 0x73, 0x74, 0x61, 0x72], at: 257, what: 'a tar archive', convert: 'tar -xOf FILE | teardown-guard review -' },
];
const BINARY_SNIFF_BYTES = 4096;

/** Names binary input the review cannot read (compressed with something else, an archive, NUL bytes). */
export function describeBinary(head: Buffer): string | undefined {
  for (const m of MAGIC) {
    const at = m.at ?? 0;
    if (head.length >= at + m.bytes.length && m.bytes.every((b, i) => head[at + i] === b)) return `${m.what}, not an audit log; convert it first: ${m.convert}`;
  }
  const nul = head.subarray(0, BINARY_SNIFF_BYTES).indexOf(0);
  if (nul >= 0) return `binary data (a NUL byte at byte ${nul}), not a text audit log`;
  return undefined;
}

/** The first `n` bytes of the stream (fewer at its end), and an iterator over the rest. */
async function head(
  it: AsyncIterator<Buffer | string>,
  n: number,
  counters: DecompressCounters,
  onProgress?: (n: number) => void,
): Promise<{ first: Buffer; done: boolean }> {
  const parts: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const r = await it.next();
    if (r.done) return { first: Buffer.concat(parts), done: true };
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    counters.rawBytes += b.length;
    onProgress?.(counters.rawBytes);
    parts.push(b);
    len += b.length;
  }
  return { first: Buffer.concat(parts), done: false };
}

function ioProblem(err: unknown, counters: DecompressCounters): InputProblem {
  const e = err as NodeJS.ErrnoException;
  const what = e.code === 'EACCES' ? 'permission denied' : e.code === 'EIO' ? 'I/O error' : e.code === 'EISDIR' ? 'is a directory' : e.message || String(err);
  return new InputProblem('unreadable', counters.rawBytes === 0 ? what : `read failed after ${counters.rawBytes} bytes: ${what}`, {
    rawByte: counters.rawBytes,
  });
}

/**
 * Yields the input's decompressed chunks. Throws InputProblem: `unreadable` on I/O errors,
 * `damaged` on gzip errors, `stopped` when the inflation ratio says decompression bomb.
 */
export async function* decompressed(source: Readable, counters: DecompressCounters, o: DecompressOptions): AsyncGenerator<Buffer> {
  const it = (source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let start;
  try {
    start = await head(it, 512, counters, o.onProgress);
  } catch (err) {
    throw ioProblem(err, counters);
  }
  const { first, done } = start;
  if (first.length === 0) return;
  if (!(first[0] === 0x1f && first[1] === 0x8b)) {
    const bin = describeBinary(first);
    if (bin) throw new InputProblem('not-an-audit-log', bin, { byte: 0 });
    counters.bytes += first.length;
    yield first;
    if (done) return;
    try {
      for (let r = await it.next(); !r.done; r = await it.next()) {
        const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
        counters.rawBytes += b.length;
        counters.bytes += b.length;
        o.onProgress?.(counters.rawBytes);
        yield b;
      }
    } catch (err) {
      throw ioProblem(err, counters);
    }
    return;
  }
  counters.compressed = true;
  yield* inflate(first, done ? undefined : it, counters, o);
}

async function* inflate(
  head: Buffer,
  rest: AsyncIterator<Buffer | string> | undefined,
  counters: DecompressCounters,
  o: DecompressOptions,
): AsyncGenerator<Buffer> {
  let readError: InputProblem | undefined;
  const raw = Readable.from(
    (async function* () {
      yield head;
      if (!rest) return;
      try {
        for (let r = await rest.next(); !r.done; r = await rest.next()) {
          const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
          counters.rawBytes += b.length;
          o.onProgress?.(counters.rawBytes);
          yield b;
        }
      } catch (err) {
        readError = ioProblem(err, counters);
        throw readError;
      }
    })(),
    { objectMode: false },
  );
  // 256 KiB pieces instead of the default 16 KiB: fewer turns of the read loop per inflated MiB.
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  raw.on('error', (e) => gunzip.destroy(e));
  raw.pipe(gunzip);
  let first = true;
  try {
    for await (const c of gunzip) {
      const chunk = c as Buffer;
      if (first) {
        first = false;
        const bin = describeBinary(chunk);
        if (bin) throw new InputProblem('not-an-audit-log', `gzip holding ${bin}`, { rawByte: gunzip.bytesWritten, byte: 0 });
      }
      counters.bytes += chunk.length;
      // bytesWritten: compressed bytes zlib has consumed (reads run ahead of it).
      const consumed = gunzip.bytesWritten;
      if (counters.bytes >= o.ratioFloorBytes && counters.bytes > o.maxRatio * consumed) {
        throw new InputProblem(
          'stopped',
          `gzip: decompression ratio over ${o.maxRatio}:1 (${counters.bytes} bytes from ${consumed} compressed): a decompression bomb, not an audit log (real audit logs compress 5-30:1); stopped. If it is a log, decompress it yourself: zcat FILE | teardown-guard review -`,
          { rawByte: consumed, byte: counters.bytes },
        );
      }
      yield chunk;
    }
  } catch (err) {
    if (err instanceof InputProblem) throw err;
    if (readError) throw readError;
    throw new InputProblem('damaged', `gzip: ${(err as Error).message}`, { rawByte: Math.min(counters.rawBytes, gunzip.bytesWritten), byte: counters.bytes });
  } finally {
    raw.destroy();
    gunzip.destroy();
  }
}
