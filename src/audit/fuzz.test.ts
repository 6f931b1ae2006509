// Property tests: audit-event parsing and correlation never crash or hang on hostile input.
// Seeds are real events captured from kube-apiserver (test/fixtures/audit); fast-check mutates
// their fields, truncates their lines and mixes in arbitrary JSON and bytes.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Correlator } from './correlator.ts';
import { isAuditEvent, toRecord } from './event.ts';
import { FINDING_CODES, type AuditFinding } from './findings.ts';
import { readAuditInput } from './reader.ts';

const RUNS = Number(process.env['TG_FUZZ_RUNS'] ?? 10_000);
const realLines = readFileSync(new URL('../../test/fixtures/audit/sdk-cross-release.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l !== '');
const realEvents = realLines.map((l) => JSON.parse(l) as Record<string, unknown>);
const FIELDS = [
  'verb',
  'objectRef',
  'user',
  'userAgent',
  'responseStatus',
  'requestObject',
  'responseObject',
  'annotations',
  'stageTimestamp',
  'requestReceivedTimestamp',
  'requestURI',
  'stage',
  'level',
];

function correlate(events: unknown[]): AuditFinding[] {
  const findings: AuditFinding[] = [];
  const c = new Correlator({
    onFinding: (f) => {
      findings.push(f);
    },
  });
  for (const e of events) {
    if (!isAuditEvent(e)) continue;
    const r = toRecord(e);
    if (r) c.push(r);
  }
  c.flush();
  return findings;
}

describe('audit-event parsing under fuzzing', () => {
  it('toRecord and the correlator accept any mutation of real events (property)', () => {
    const mutated = fc.record({
      index: fc.integer({ min: 0, max: realEvents.length - 1 }),
      field: fc.constantFrom(...FIELDS),
      value: fc.jsonValue({ maxDepth: 3 }),
    });
    // A window of consecutive real events keeps each run small enough for 10k runs in CI.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Math.max(0, realEvents.length - 16) }), fc.array(mutated, { minLength: 1, maxLength: 6 }), (start, mutations) => {
        const events = realEvents.slice(start, start + 16).map((e) => structuredClone(e));
        for (const m of mutations) (events[m.index % events.length] as Record<string, unknown>)[m.field] = m.value;
        // Whatever the input, every finding is whole: a known code, an id, a title, its evidence.
        for (const f of correlate(events)) {
          expect(FINDING_CODES).toContain(f.code);
          expect(f.id.startsWith(`${f.code}:`)).toBe(true);
          expect(f.title.length).toBeGreaterThan(0);
          expect(Array.isArray(f.evidence)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  it('the reader reports malformed lines with their numbers and never throws on them (property)', async () => {
    const line = fc.oneof(
      fc.constantFrom(...realLines),
      fc.constantFrom(...realLines).chain((l) => fc.integer({ min: 0, max: l.length }).map((cut) => l.slice(0, cut))),
      fc.string({ maxLength: 80 }).filter((s) => !s.includes('\n')),
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 12 }), async (body) => {
        const lines = [realLines[0] as string, ...body];
        const malformed: number[] = [];
        let events = 0;
        // Never a crash: at worst the input is marked as not an audit log.
        const stats = await readAuditInput(Readable.from([lines.join('\n')]), {
          name: 'fuzz',
          strict: true,
          onEvent: () => {
            events++;
          },
          onMalformed: (n) => {
            malformed.push(n);
          },
        });
        if (stats.problem) {
          expect(stats.problem.kind).toBe('not-an-audit-log');
          return;
        }
        expect(events + malformed.length).toBeLessThanOrEqual(lines.length);
        expect(malformed.every((n) => n >= 1 && n <= lines.length)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  }, 120_000);
});
