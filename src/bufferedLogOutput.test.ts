import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { bufferedOutput } from './bufferedLogOutput.ts';

/** A descriptor that records what reached it; `take` decides how much of each write it accepts. */
function descriptor(take: (call: number, length: number) => number | Error) {
  const chunks: Buffer[] = [];
  let calls = 0;
  const write = (_fd: number, data: Buffer, offset: number, length: number): number => {
    const n = take(calls++, length);
    if (n instanceof Error) throw n;
    chunks.push(Buffer.from(data.subarray(offset, offset + n)));
    return n;
  };
  return { write, text: () => Buffer.concat(chunks).toString('utf8'), calls: () => calls };
}

const errno = (code: string): Error => Object.assign(new Error(code), { code });
const lines = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `{"uid":"${from + i}","msg":"decision ✓"}\n`);

describe('bufferedOutput', () => {
  it('writes nothing on the review path: a full buffer goes out on the next tick, in one write', async () => {
    const fd = descriptor((_, length) => length);
    const out = bufferedOutput({ fd: 1, bufferBytes: 100, flushIntervalMs: 60_000, write: fd.write });
    const written = lines(10);
    for (const l of written) out.stream.write(l);
    expect(fd.calls()).toBe(0);
    await nextTick();
    expect(fd.text()).toBe(written.join(''));
    expect(fd.calls()).toBe(1);
    out.stop();
  });

  it('a buffer below the threshold is written by the interval', async () => {
    const fd = descriptor((_, length) => length);
    const out = bufferedOutput({ fd: 1, bufferBytes: 1 << 20, flushIntervalMs: 20, write: fd.write });
    out.stream.write('{"a":1}\n');
    await nextTick();
    expect(fd.text()).toBe('');
    await new Promise((r) => setTimeout(r, 80));
    expect(fd.text()).toBe('{"a":1}\n');
    out.stop();
  });

  it('keeps every byte, in order, when the descriptor takes a little at a time', async () => {
    const fd = descriptor((_, length) => Math.min(7, length));
    const out = bufferedOutput({ fd: 1, bufferBytes: 50, flushIntervalMs: 60_000, write: fd.write });
    const written = lines(40);
    for (const l of written) out.stream.write(l);
    await nextTick();
    out.stop();
    expect(fd.text()).toBe(written.join(''));
  });

  it('a descriptor that would block (EAGAIN) is retried; older lines still go out before newer ones', async () => {
    const fd = descriptor((call, length) => (call < 3 ? errno('EAGAIN') : call === 3 ? Math.min(5, length) : length));
    const out = bufferedOutput({ fd: 1, bufferBytes: 10, flushIntervalMs: 60_000, write: fd.write });
    const first = lines(5);
    for (const l of first) out.stream.write(l);
    await nextTick();
    expect(fd.text()).toBe('');
    const second = lines(5, 5);
    for (const l of second) out.stream.write(l);
    await new Promise((r) => setTimeout(r, 100));
    expect(fd.text()).toBe([...first, ...second].join(''));
    out.stop();
  });

  it('on exit, writes synchronously; gives up on a descriptor that never drains, after exitRetryMs', () => {
    const fd = descriptor(() => errno('EAGAIN'));
    const out = bufferedOutput({ fd: 1, bufferBytes: 1 << 20, flushIntervalMs: 60_000, exitRetryMs: 50, write: fd.write });
    out.stream.write('{"a":1}\n');
    const started = Date.now();
    out.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(fd.calls()).toBeGreaterThan(1);
  });

  it('a descriptor that is gone (EPIPE) drops what it cannot take and never throws', async () => {
    const fd = descriptor((call, length) => (call === 0 ? errno('EPIPE') : length));
    const out = bufferedOutput({ fd: 1, bufferBytes: 10, flushIntervalMs: 60_000, write: fd.write });
    out.stream.write('{"lost":1}\n');
    await nextTick();
    out.stream.write('{"kept":1}\n');
    expect(() => out.stop()).not.toThrow();
    expect(fd.text()).toBe('{"kept":1}\n');
  });

  it('writes to a real file descriptor', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-log-out-'));
    const path = join(dir, 'out.log');
    const fdNumber = openSync(path, 'w');
    try {
      const out = bufferedOutput({ fd: fdNumber, bufferBytes: 64, flushIntervalMs: 60_000 });
      const written = lines(100);
      for (const l of written) out.stream.write(l);
      out.stop();
      expect(readFileSync(path, 'utf8')).toBe(written.join(''));
    } finally {
      closeSync(fdNumber);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
