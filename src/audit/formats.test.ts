// Every form an audit log is found in gives the same review as the API server's own file: the
// corpus in test/fixtures/audit/formats/ re-encodes captured real-control-plane logs (see
// make-formats.ts and the README there) into each form.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SOURCES, corpusPath, encodeFormats, fixtureLines } from '../../test/fixtures/audit/formats/make-formats.ts';
import type { AuditFinding } from './findings.ts';
import { runReview } from './review.ts';
import type { ReviewResult } from './review.ts';

const fixtures = fileURLToPath(new URL('../../test/fixtures/audit/', import.meta.url));

/** How each form is framed, and where a log shipper put the event. */
const EXPECTED: Record<string, { format: string; via?: string }> = {
  'v1beta1.jsonl': { format: 'json-lines' },
  'v1beta1-timestamp-only.jsonl': { format: 'json-lines' },
  'eventlist-per-line.jsonl': { format: 'json-lines' },
  'pretty.json': { format: 'pretty-json' },
  'array.json': { format: 'json-array' },
  'array-one-line.json': { format: 'json-array' },
  'eventlist.json': { format: 'pretty-json' },
  'cri.log': { format: 'cri-json-lines' },
  'docker-json.log': { format: 'json-lines', via: '.log' },
  'vector.jsonl': { format: 'json-lines', via: '.message' },
  'filebeat.ndjson': { format: 'json-lines', via: '.message' },
  'elasticsearch-export.ndjson': { format: 'json-lines', via: '._source' },
  'aks-diagnostics.jsonl': { format: 'json-lines', via: '.properties.log' },
  'cloudwatch-export.json': { format: 'pretty-json', via: '.events[].message' },
};

/**
 * What the findings say, without times or order: v1beta1's `timestamp` has whole seconds only, so
 * requests within one second tie and findings and evidence sort differently.
 */
const shape = (fs: AuditFinding[]) =>
  fs
    .map((f) =>
      JSON.stringify({
        code: f.code,
        severity: f.severity,
        namespaces: f.namespaces,
        release: f.release,
        actor: f.actor,
        objects: f.objects,
        requests: f.evidence.map((e) => `${e.verb} ${e.requestURI} ${e.code}`).sort(),
      }),
    )
    .sort();

const counts = (r: ReviewResult) => ({
  read: r.tally.read,
  used: r.tally.used,
  earlierStage: r.tally.earlierStage,
  outsideWindow: r.tally.outsideWindow,
  withoutTime: r.tally.withoutTime,
  skipped: r.malformedTotal,
  problems: r.problemInputs,
});

describe('audit log formats found in the wild', () => {
  for (const source of SOURCES) {
    describe(source.fixture, () => {
      const original = runReview({ inputs: [fixtures + source.file] });
      for (const [name, want] of Object.entries(EXPECTED)) {
        it(`${name}: same findings, counts and time range as the original, fast and strict`, async () => {
          const orig = await original;
          expect(orig.findings.length).toBeGreaterThan(1);
          const path = corpusPath(source.fixture, name, source.gzip);
          for (const strict of [false, true]) {
            const r = await runReview({ inputs: [path], strict });
            expect(r.inputs[0]?.format).toBe(want.format);
            expect(Object.keys(r.inputs[0]?.wrapped ?? {})).toEqual(want.via ? [want.via] : []);
            expect(counts(r)).toEqual(counts(orig));
            if (name === 'v1beta1-timestamp-only.jsonl') {
              expect(shape(r.findings)).toEqual(shape(orig.findings));
              expect(r.firstEventTime).toBe(`${(orig.firstEventTime ?? '').slice(0, 19)}.000Z`);
            } else {
              expect(r.findings).toEqual(orig.findings);
              expect(r.pendingNamespaceDeletions).toEqual(orig.pendingNamespaceDeletions);
              expect([r.firstEventTime, r.lastEventTime]).toEqual([orig.firstEventTime, orig.lastEventTime]);
            }
          }
        });
      }
    });
  }

  it('the corpus is what make-formats.ts writes from the captured fixtures today', () => {
    for (const source of SOURCES) {
      const made = encodeFormats(fixtureLines(source.file));
      expect(Object.keys(made).sort()).toEqual(Object.keys(EXPECTED).sort());
      for (const [name, content] of Object.entries(made)) {
        const stored = readFileSync(corpusPath(source.fixture, name, source.gzip));
        expect((source.gzip ? gunzipSync(stored) : stored).equals(content), join(source.fixture, name)).toBe(true);
      }
    }
  });
});
