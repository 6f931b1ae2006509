import { describe, expect, it } from 'vitest';
import type { AuditFinding } from './findings.ts';
import { createAuditIngest } from './ingest.ts';
import { SDK_UA, auditEvent, helmUninstall } from '../../test/support/auditEvents.ts';

const T0 = Date.parse('2026-03-01T09:00:00Z');
const misdirected = () => helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, start: T0 });
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('createAuditIngest', () => {
  it('feeds EventList items to the correlator and reports findings when it stops', async () => {
    const found: AuditFinding[] = [];
    const ingest = createAuditIngest({ onFinding: (f) => found.push(f), windowMs: 60_000 });
    const events = misdirected();
    expect(ingest.accept(events.slice(0, 4))).toEqual({ accepted: 4, dropped: 0 });
    expect(ingest.accept(events.slice(4))).toEqual({ accepted: events.length - 4, dropped: 0 });
    await ingest.stop();
    expect(found.map((f) => f.code)).toEqual(['misdirected-uninstall']);
    expect(ingest.stats()).toMatchObject({ accepted: events.length, dropped: 0, invalid: 0, processed: events.length, queued: 0, findings: 1 });
  });

  it('never blocks: a full queue drops and counts, and accepts again once drained', async () => {
    const ingest = createAuditIngest({ onFinding: () => {}, maxQueueEvents: 5, batchSize: 2 });
    const batch = Array.from({ length: 8 }, (_, i) => auditEvent({ verb: 'get', uri: `/api/v1/namespaces/a/pods/p${i}`, at: T0 + i }));
    expect(ingest.accept(batch)).toEqual({ accepted: 5, dropped: 3 });
    expect(ingest.accept(batch.slice(0, 1))).toEqual({ accepted: 0, dropped: 1 });
    for (let i = 0; i < 5 && ingest.stats().queued > 0; i++) await settle();
    expect(ingest.stats().queued).toBe(0);
    expect(ingest.accept(batch.slice(0, 2))).toEqual({ accepted: 2, dropped: 0 });
    await ingest.stop();
    expect(ingest.stats()).toMatchObject({ accepted: 7, dropped: 4, processed: 7 });
    // After stop everything is dropped, and counted.
    expect(ingest.accept(batch.slice(0, 3))).toEqual({ accepted: 0, dropped: 3 });
    expect(ingest.stats().dropped).toBe(7);
  });

  it('counts items that are not audit events', async () => {
    const ingest = createAuditIngest({ onFinding: () => {} });
    ingest.accept([{ kind: 'Pod' }, 'x', null, auditEvent({ verb: 'get', uri: '/api/v1/namespaces/a/pods/p', at: T0 })]);
    await ingest.stop();
    expect(ingest.stats()).toMatchObject({ accepted: 4, invalid: 3, processed: 4 });
  });

  it("reads EventList items as kube-apiserver's webhook backend sends them: no apiVersion or kind on the items", async () => {
    const found: AuditFinding[] = [];
    const ingest = createAuditIngest({ onFinding: (f) => found.push(f) });
    const bare = misdirected().map(({ apiVersion: _a, kind: _k, ...item }) => item);
    expect(bare.every((i) => !('kind' in i) && !('apiVersion' in i))).toBe(true);
    ingest.accept([...bare, { kind: 'Pod', auditID: 'x', verb: 'get', stage: 'ResponseComplete', requestURI: '/', user: {} }]);
    await ingest.stop();
    expect(ingest.stats()).toMatchObject({ accepted: bare.length + 1, invalid: 1 });
    expect(found.map((f) => f.code)).toEqual(['misdirected-uninstall']);
  });

  it('closes idle sessions on the wall clock, without new traffic', async () => {
    const found: AuditFinding[] = [];
    let now = T0;
    const ingest = createAuditIngest({ onFinding: (f) => found.push(f), windowMs: 10_000, tickMs: 5, now: () => now });
    ingest.accept(misdirected());
    await settle();
    expect(found).toEqual([]);
    now = T0 + 60_000;
    await new Promise((r) => setTimeout(r, 30));
    expect(found.map((f) => f.code)).toEqual(['misdirected-uninstall']);
    await ingest.stop();
    expect(found).toHaveLength(1);
  });

  it('survives a throwing onFinding', async () => {
    const ingest = createAuditIngest({
      onFinding: () => {
        throw new Error('sink down');
      },
    });
    ingest.accept(misdirected());
    await expect(ingest.stop()).resolves.toBeUndefined();
    expect(ingest.stats().findings).toBe(1);
  });
});
