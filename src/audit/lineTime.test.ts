import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lineTime } from './lineTime.ts';

const real = readFileSync(new URL('../../test/fixtures/audit/guard-verdicts.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l !== '');
const at = (line: string) => {
  const b = Buffer.from(`xx\n${line}\nyy`);
  return lineTime(b, 3, 3 + Buffer.byteLength(line));
};

describe('lineTime', () => {
  it('reads requestReceivedTimestamp from the end of every captured line, as the parser does', () => {
    for (const line of real) expect(at(line)).toBe(Date.parse((JSON.parse(line) as { requestReceivedTimestamp: string }).requestReceivedTimestamp));
    expect(real.some((l) => l.includes('"annotations":{'))).toBe(true);
  });

  it('gives up (NaN: the line is parsed instead) unless the line ends as the API server writes it', () => {
    const line = real[0] as string;
    const ev = JSON.parse(line) as Record<string, unknown>;
    // A look-alike pair inside the annotations, a missing stageTimestamp, an escape.
    expect(at(JSON.stringify({ ...ev, annotations: { requestReceivedTimestamp: '2020-01-01T00:00:00Z', stageTimestamp: '2020-01-01T00:00:00Z' } }))).toBeNaN();
    const { stageTimestamp: _s, ...noStage } = ev;
    expect(at(JSON.stringify(noStage))).toBeNaN();
    expect(at(line.replace(/"requestReceivedTimestamp":"([^"]+)"/, '"requestReceivedTimestamp":"\\u0032$1"'))).toBeNaN();
    // A field after the annotations is not the API server's encoding, but the time read is still the event's.
    expect(at(JSON.stringify({ ...ev, extra: 1 }))).toBe(Date.parse(ev['requestReceivedTimestamp'] as string));
    expect(at('{}')).toBeNaN();
  });
});
