import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonLineSplitter } from './jsonLines.ts';

describe('JsonLineSplitter', () => {
  it('yields each complete line however the bytes are chunked, multi-byte characters included', () => {
    const events = [
      { type: 'ADDED', object: { metadata: { name: 'zürich-ü' } } },
      { type: 'BOOKMARK' },
      { type: 'DELETED', object: { metadata: { name: '日本' } } },
    ];
    const bytes = Buffer.from(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set([0, ...cuts, bytes.length])].sort((a, b) => a - b);
        const splitter = new JsonLineSplitter();
        const out: unknown[] = [];
        for (let i = 1; i < points.length; i++) out.push(...splitter.push(bytes.subarray(points[i - 1], points[i])));
        out.push(...splitter.end());
        expect(out).toEqual(events);
      }),
    );
  });

  it('flushes a last line without newline and skips blank lines', () => {
    const splitter = new JsonLineSplitter();
    expect(splitter.push('\n{"a":1}\n\n{"b"')).toEqual([{ a: 1 }]);
    expect(splitter.push(':2}')).toEqual([]);
    expect(splitter.end()).toEqual([{ b: 2 }]);
  });

  it('refuses an endless line', () => {
    const splitter = new JsonLineSplitter(10);
    expect(() => splitter.push('{"a":"0123456789"')).toThrow(/exceeds/);
  });
});
