// Damaged and hostile input (src/audit/README.md, "Damaged and hostile input"): one bad input never
// discards the others' findings, and bombs and over-long lines cost bounded work. Bombs are made
// here on the fly, small (200 MiB inflated), never stored.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { reviewAction } from './command.ts';
import type { ReviewFlags } from './command.ts';
import { readAuditInput } from './reader.ts';
import type { ReviewReport } from './report.ts';
import { runReview } from './review.ts';
import { validate } from '../../test/support/reportSchema.ts';
import { scratchDir } from '../../test/support/scratchDir.ts';

const fixtures = fileURLToPath(new URL('../../test/fixtures/audit/', import.meta.url));
const dir = scratchDir('tg-hostile');
const file = (name: string, content: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const flags: ReviewFlags = { format: 'json', windowSeconds: 120, guardName: 'teardown-guard' };
const MiB = 1024 * 1024;

/** gzip of `total` bytes made by repeating `unit`, streamed so the plain data never exists whole. */
async function gzipRepeated(unit: Buffer, total: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (b: Buffer) => out.push(b));
  const block = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(MiB / unit.length)) }, () => unit));
  for (let n = 0; n < total; n += block.length) {
    if (!gz.write(block)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await new Promise((r) => gz.once('end', r));
  return Buffer.concat(out);
}

async function jsonReview(inputs: string[]): Promise<{ code: number; report: ReviewReport; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string, cb?: () => void) => {
    out.push(String(chunk));
    cb?.();
    return true;
  }) as typeof process.stdout.write);
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string) => {
    err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write);
  const code = await reviewAction(inputs, flags);
  vi.restoreAllMocks();
  return { code, report: JSON.parse(out.join('')) as ReviewReport, err: err.join('') };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("one damaged input never discards the others' findings", () => {
  const sdk = `${fixtures}sdk-misdirected-uninstall.jsonl`;
  const verdicts = readFileSync(`${fixtures}guard-verdicts.jsonl`);

  it('a truncated .gz: what was decoded is used, the input is marked where it broke, exit 2', async () => {
    const gz = gzipSync(verdicts);
    const cut = file('truncated.jsonl.gz', gz.subarray(0, Math.floor(gz.length * 0.7)));
    const { code, report, err } = await jsonReview([sdk, cut]);
    expect(code).toBe(2);
    const damaged = report.inputs.find((i) => i.name === cut);
    expect(damaged).toMatchObject({ status: 'damaged', problem: { message: 'gzip: unexpected end of file' } });
    // Every complete line before the break was read as an event, and the position says so.
    expect(damaged?.problem?.line).toBe(damaged?.events);
    expect(damaged?.events).toBeGreaterThan(100);
    expect(damaged?.problem?.rawByte).toBeLessThanOrEqual(Math.floor(gz.length * 0.7));
    expect(verdicts.subarray(0, damaged?.problem?.byte).toString().split('\n').length - 1).toBeGreaterThanOrEqual(damaged?.events ?? 0);
    const codes = report.findings.map((f) => f.code);
    expect(codes).toContain('misdirected-uninstall'); // from the intact input
    expect(codes).toContain('guard-denied'); // from the decoded part of the damaged one
    expect(report.summary).toMatchObject({ inputsWithProblems: 1, exitCode: 2, outcome: 'findings' });
    expect(validate(report)).toEqual([]);
    expect(err).toContain(`${cut}: gzip: unexpected end of file`);
  });

  it('a corrupt .gz (bytes flipped in the middle) next to a good file', async () => {
    const gz = Buffer.from(gzipSync(verdicts));
    for (let i = 0; i < 64; i++) gz[Math.floor(gz.length / 2) + i] = (gz[Math.floor(gz.length / 2) + i] as number) ^ 0x5a;
    const bad = file('corrupt.jsonl.gz', gz);
    const { code, report } = await jsonReview([bad, sdk]);
    expect(code).toBe(2);
    const damaged = report.inputs.find((i) => i.name === bad);
    expect(damaged?.status).toBe('damaged');
    expect(damaged?.problem?.message).toMatch(/^gzip: /);
    expect(report.findings.map((f) => f.code)).toContain('misdirected-uninstall');
  });

  it('a file that is not an audit log, a missing file and a directory next to one that is', async () => {
    const { code, report, err } = await jsonReview([sdk, `${fixtures}fixtures.json`, join(dir, 'missing.log'), dir]);
    expect(code).toBe(2);
    expect(report.inputs.map((i) => i.status).sort()).toEqual(['not-an-audit-log', 'ok', 'unreadable', 'unreadable']);
    expect(validate(report)).toEqual([]);
    expect(report.findings.map((f) => f.code)).toEqual(['misdirected-uninstall']);
    expect(err).toContain('missing.log: no such file');
    expect(err).toContain(`${dir}: is a directory`);
    // One line per damaged input, one for the skipped line of fixtures.json.
    expect(err.trim().split('\n')).toHaveLength(4);
  });

  it('a pipe among the inputs is read whole (not peeked at to order the files)', async () => {
    const fifo = join(dir, 'audit.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = spawn('sh', ['-c', `cat "${fixtures}guard-verdicts.jsonl" > "${fifo}"`]);
    const written = new Promise((resolve) => writer.once('close', resolve));
    const r = await runReview({ inputs: [fifo, sdk] });
    expect(await written).toBe(0);
    expect(r.order).toEqual([fifo, sdk]);
    expect(r.inputs[0]?.events).toBe(
      verdicts
        .toString()
        .split('\n')
        .filter((l) => l !== '').length,
    );
    expect(r.inputs[0]?.problem).toBeUndefined();
  });

  it('an I/O error while reading is one line and ends only that input', async () => {
    // Reading /proc/self/mem from offset 0 fails with EIO on Linux: a real I/O error.
    const { code, report, err } = await jsonReview(['/proc/self/mem', sdk]);
    expect(code).toBe(2);
    expect(report.inputs.find((i) => i.name === '/proc/self/mem')).toMatchObject({ status: 'unreadable', problem: { message: 'I/O error' } });
    expect(report.findings).toHaveLength(1);
    expect(err).toMatch(/^teardown-guard review: \/proc\/self\/mem: I\/O error\n/);
  });
});

describe('bounded work on hostile input', () => {
  it('a gzip bomb of zeros stops at its first inflated chunk', async () => {
    const bomb = await gzipRepeated(Buffer.alloc(MiB), 200 * MiB);
    expect(bomb.length).toBeLessThan(MiB);
    const started = Date.now();
    const stats = await readAuditInput(Readable.from([bomb]), { name: 'zeros.gz', onEvent: () => {}, onMalformed: () => {} });
    expect(stats.problem).toMatchObject({
      kind: 'not-an-audit-log',
      message: expect.stringMatching(/^gzip holding binary data \(a NUL byte at byte 0\)/) as unknown,
    });
    expect(stats.bytes).toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a gzip bomb of text stops once the inflation ratio says bomb, keeping what came before', async () => {
    const line = Buffer.from(readFileSync(`${fixtures}sdk-misdirected-uninstall.jsonl`, 'utf8').split('\n')[5] + '\n');
    const bomb = await gzipRepeated(line, 200 * MiB);
    const p = file('text-bomb.jsonl.gz', bomb);
    const r = await runReview({ inputs: [p] });
    const input = r.inputs[0];
    expect(input?.problem).toMatchObject({
      kind: 'stopped',
      message: expect.stringMatching(/decompression ratio over 100:1 .* a decompression bomb/) as unknown,
    });
    // Stopped near the ratio limit, far from the 200 MiB the bomb holds.
    expect(input?.bytes).toBeLessThan(100 * bomb.length + 2 * MiB);
    expect(input?.events).toBeGreaterThan(0);
  });

  it('a line over the limit is skipped without being buffered whole, in linear time', async () => {
    const sdk = readFileSync(`${fixtures}sdk-misdirected-uninstall.jsonl`, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    // 100 MiB in one line, arriving in 16 KiB pieces as gzip inflates them: the worst case for joining a line.
    const piece = Buffer.alloc(16 * 1024, 0x61);
    async function* source() {
      yield Buffer.from(sdk.slice(0, 20).join('\n') + '\n{"x":"');
      for (let n = 0; n < 100 * MiB; n += piece.length) yield piece;
      yield Buffer.from('"}\n' + sdk.slice(20).join('\n') + '\n');
    }
    const malformed: Array<{ line: number; reason: string }> = [];
    let events = 0;
    const baseline = process.memoryUsage().arrayBuffers;
    let peakArrayBuffers = 0;
    const started = Date.now();
    const stats = await readAuditInput(Readable.from(source()), {
      name: 'long-line.jsonl',
      onEvent: () => {
        events++;
      },
      onMalformed: (line, reason) => malformed.push({ line, reason }),
      onProgress: () => {
        peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
      },
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(malformed).toEqual([{ line: 21, reason: 'line longer than 16777216 bytes (--max-line-mib): skipped' }]);
    // Parsed or skipped by the fast path, every event around the long line is counted.
    expect(stats.events).toBe(sdk.length);
    expect(events).toBeGreaterThan(20);
    expect(stats.problem).toBeUndefined();
    // At most the 16 MiB limit is held, never the 100 MiB line.
    expect(peakArrayBuffers - baseline).toBeLessThan(32 * MiB);
  }, 30_000);

  it('names other compressions and archives with the command that converts them', async () => {
    const zstd = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    const stats = await readAuditInput(Readable.from([zstd]), { name: 'audit.log.zst', onEvent: () => {}, onMalformed: () => {} });
    expect(stats.problem?.message).toBe('zstd-compressed data, not an audit log; convert it first: zstd -dc FILE | teardown-guard review -');
    expect(gunzipSync(gzipSync('x')).toString()).toBe('x');
  });
});
