import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { AuditEventV1 } from './event.ts';
import { readAuditInput } from './reader.ts';
import type { ReadOptions } from './reader.ts';
import { auditEvent, toJsonLines } from '../../test/support/auditEvents.ts';

const T0 = Date.parse('2026-03-01T09:00:00Z');
const ev = (i: number, verb = 'delete') => auditEvent({ verb, uri: `/api/v1/namespaces/ns/configmaps/c${i}`, at: T0 + i });

/** Feeds `data` in chunks of `size` bytes, to cross every line boundary the hard way. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

async function read(data: string | Buffer, o: Partial<ReadOptions> & { chunk?: number } = {}) {
  const events: Array<{ line: number; ev: AuditEventV1 }> = [];
  const malformed: Array<{ line: number; reason: string }> = [];
  const skippedTimes: Array<{ ms: number; final: boolean }> = [];
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const stats = await readAuditInput(chunked(buf, o.chunk ?? 1 << 20), {
    name: 'test.log',
    onEvent: (e, line) => events.push({ line, ev: e }),
    onMalformed: (line, reason) => malformed.push({ line, reason }),
    onSkippedEvent: (ms, final) => skippedTimes.push({ ms, final }),
    ...o,
  });
  return { events, malformed, stats, skippedTimes };
}

describe('readAuditInput', () => {
  it('reads Event JSON lines with their line numbers, across any chunking', async () => {
    const text = toJsonLines([ev(1), ev(2), ev(3)]);
    for (const chunk of [1, 7, 64, 1 << 20]) {
      for (const strict of [true, false]) {
        const { events, stats } = await read(text, { chunk, strict });
        expect(events.map((e) => `${e.line}:${e.ev.objectRef?.name}`)).toEqual(['1:c1', '2:c2', '3:c3']);
        expect(stats).toMatchObject({ lines: 3, events: 3, malformedLines: 0, bytes: text.length, compressed: false });
      }
    }
  });

  it('reports malformed lines by number, skips them and goes on', async () => {
    const good = toJsonLines([ev(1)]).trim();
    const text = [
      good,
      '',
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Meta',
      good,
      'not json at all',
      '{"kind":"Pod","apiVersion":"v1"}',
      good,
      '',
    ].join('\n');
    const { events, malformed, stats } = await read(text, { strict: true });
    expect(events.map((e) => e.line)).toEqual([1, 4, 7]);
    expect(malformed.map((m) => m.line)).toEqual([3, 5, 6]);
    expect(malformed[0]?.reason).toMatch(/^not valid JSON/);
    expect(malformed[2]?.reason).toBe('not an audit.k8s.io Event: a JSON object of kind Pod (v1)');
    expect(stats.malformedLines).toBe(3);
  });

  it('catches truncated lines on the fast path too, without parsing the good ones', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify(auditEvent({ verb: 'get', uri: `/api/v1/namespaces/ns/pods/p${i}`, at: T0 + i })));
    lines[30] = (lines[30] as string).slice(0, 200);
    const { malformed, stats } = await read(lines.join('\n') + '\n');
    expect(malformed.map((m) => m.line)).toEqual([31]);
    expect(stats.parsedLines).toBe(20); // only the sniffed first 20 lines; the gets cannot matter
  });

  it('handles CRLF, a byte-order mark, blank lines and a last line without newline', async () => {
    const text = '\ufeff' + toJsonLines([ev(1), ev(2)]).replace(/\n/g, '\r\n') + '\r\n\r\n' + JSON.stringify(ev(3));
    const { events, malformed } = await read(text);
    expect(malformed).toEqual([]);
    expect(events.map((e) => e.line)).toEqual([1, 2, 5]);
  });

  it('accepts an EventList per line (the webhook backend format)', async () => {
    const list = { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: [ev(1), ev(2), { kind: 'Event' }] };
    const { events, malformed } = await read(JSON.stringify(list) + '\n' + JSON.stringify(ev(3)) + '\n');
    expect(events.map((e) => `${e.line}:${e.ev.objectRef?.name}`)).toEqual(['1:c1', '1:c2', '2:c3']);
    expect(malformed).toEqual([{ line: 1, reason: 'item 2 is not an audit event (missing or mistyped: auditID, verb, stage, requestURI, user)' }]);
  });

  it('reads gzip (also concatenated members) whatever the name', async () => {
    const a = gzipSync(toJsonLines([ev(1), ev(2)]));
    const b = gzipSync(toJsonLines([ev(3)]));
    const { events, stats } = await read(Buffer.concat([a, b]), { chunk: 5 });
    expect(events.map((e) => e.line)).toEqual([1, 2, 3]);
    expect(stats.compressed).toBe(true);
    expect(stats.rawBytes).toBe(a.length + b.length);
  });

  it('marks corrupt gzip as damaged, keeping what was decoded before', async () => {
    const gz = gzipSync(toJsonLines([ev(1), ev(2)]));
    gz.writeUInt8((gz.readUInt8(gz.length - 12) ^ 0xff) & 0xff, gz.length - 12);
    const { stats, events } = await read(gz.subarray(0, gz.length - 4));
    expect(stats.problem).toMatchObject({ kind: 'damaged', message: expect.stringMatching(/^gzip: /) as unknown });
    expect(events.length).toBeLessThanOrEqual(2);
  });

  it('marks input that is not an audit log, saying what it is', async () => {
    const pods = Array.from({ length: 30 }, (_, i) => JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: `p${i}` } })).join('\n');
    expect((await read(pods)).stats.problem).toMatchObject({
      kind: 'not-an-audit-log',
      message: expect.stringMatching(/not a kube-apiserver audit log.*line 1 is a JSON object of kind Pod \(v1\)/) as unknown,
    });
    expect((await read('hello\nworld\n')).stats.problem?.message).toMatch(/none of its 2 non-empty lines is an audit event; line 1 is not JSON/);
    // A file of events whose first line is damaged is still an audit log.
    const { events } = await read('{"trunc\n' + toJsonLines([ev(1)]));
    expect(events).toHaveLength(1);
  });

  it('reads an empty input as no events', async () => {
    const { events, stats } = await read('');
    expect(events).toEqual([]);
    expect(stats.lines).toBe(0);
  });

  it('skips over-long lines without buffering them', async () => {
    const huge = '{"x":"' + 'a'.repeat(5000) + '"}';
    const text = toJsonLines([ev(1)]) + huge + '\n' + toJsonLines([ev(2)]);
    const { events, malformed } = await read(text, { maxLineBytes: 1000, chunk: 512 });
    expect(events.map((e) => e.line)).toEqual([1, 3]);
    expect(malformed).toEqual([{ line: 2, reason: 'line longer than 1000 bytes (--max-line-mib): skipped' }]);
  });

  it('reports the time and stage of every line the fast path skips', async () => {
    const lines = Array.from({ length: 25 }, (_, i) => ev(i, 'get'));
    lines.push(auditEvent({ verb: 'get', uri: '/api/v1/namespaces/ns/pods/p', at: T0 + 100, stage: 'RequestReceived' }));
    const { skippedTimes, stats } = await read(toJsonLines(lines));
    expect(stats.parsedLines).toBe(20);
    expect(skippedTimes).toEqual([...[20, 21, 22, 23, 24].map((i) => ({ ms: T0 + i, final: true })), { ms: T0 + 100, final: false }]);
  });
});

describe('formats besides JSON lines', () => {
  const lines = [ev(1), ev(2), ev(3)].map((e) => JSON.stringify(e));

  it('reads pretty-printed values and arrays across any chunking, with the line each starts on', async () => {
    const pretty = [ev(1), ev(2)].map((e) => JSON.stringify(e, null, 2)).join('\n');
    const array = `[${lines.join(',\n')}]`;
    for (const chunk of [1, 13, 1 << 20]) {
      const p = await read(pretty, { chunk });
      expect(p.stats.format).toBe('pretty-json');
      expect(p.events.map((e) => e.ev.objectRef?.name)).toEqual(['c1', 'c2']);
      expect(p.events[1]?.line).toBe(pretty.split('\n').findIndex((l, i) => i > 0 && l === '{') + 1);
      const a = await read(array, { chunk });
      expect(a.stats.format).toBe('json-array');
      expect(a.events.map((e) => `${e.line}:${e.ev.objectRef?.name}`)).toEqual(['1:c1', '2:c2', '3:c3']);
    }
  });

  it('skips a pretty-printed value over the limit and says how to split a list', async () => {
    const list = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: Array.from({ length: 50 }, (_, i) => ev(i)) }, null, 2);
    const { malformed, stats } = await read(`${list}\n${JSON.stringify(ev(99), null, 2)}\n`, { maxLineBytes: 4096, chunk: 1000 });
    expect(malformed).toEqual([
      {
        line: 1,
        reason:
          "JSON value longer than 4096 bytes (--max-line-mib): skipped; it holds a list: write one event per line first (an EventList: jq -c '.items[]' FILE) or raise --max-line-mib",
      },
    ]);
    expect(stats.events).toBe(1);
  });

  it('joins the partial lines of CRI logs and reads log-shipper records', async () => {
    const cri = `2026-03-01T09:00:00.000000001Z stdout P ${lines[0]?.slice(0, 100)}\n2026-03-01T09:00:00.000000002Z stdout F ${lines[0]?.slice(100)}\n2026-03-01T09:00:00.1Z stderr F ${lines[1]}\n`;
    const c = await read(cri, { strict: true });
    expect(c.stats.format).toBe('cri-json-lines');
    expect(c.events.map((e) => e.ev.objectRef?.name)).toEqual(['c1', 'c2']);
    const docker = lines.map((l) => JSON.stringify({ log: `${l}\n`, stream: 'stdout' })).join('\n');
    const d = await read(docker);
    expect(d.events).toHaveLength(3);
    expect(d.stats.wrapped).toEqual({ '.log': 3 });
  });

  it('names what users mistake for the audit log', async () => {
    const k8sEvents = Array.from({ length: 3 }, () => JSON.stringify({ kind: 'Event', apiVersion: 'v1', reason: 'Killing' })).join('\n');
    expect((await read(k8sEvents)).stats.problem?.message).toMatch(
      /a Kubernetes Event object \(v1, as `kubectl get events -o json` prints\), not an audit event/,
    );
    expect((await read('I1122 00:51:05.222792       1 server.go:123] starting\n')).stats.problem?.message).toMatch(/a klog line/);
    // A Google Cloud audit entry of another service (a GKE cluster operation), not a Kubernetes request.
    const gcp = JSON.stringify({
      protoPayload: {
        '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
        serviceName: 'container.googleapis.com',
        methodName: 'google.container.v1.ClusterManager.CreateCluster',
      },
    });
    expect((await read(gcp)).stats.problem?.message).toMatch(
      /a Google Cloud audit entry of service container\.googleapis\.com \(google\.container\.v1\.ClusterManager\.CreateCluster\), not a Kubernetes API request/,
    );
  });
});
