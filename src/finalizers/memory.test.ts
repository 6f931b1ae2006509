import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMemory, encodeMemory, memoryChanged, memoryKey, mergeMemory, pruneMemory, type RememberedController } from './memory.ts';

const HOUR = 3600_000;
const entry = (finalizer: string, lastSeenRunningMs: number, name = 'op', firstLearnedMs = lastSeenRunningMs): RememberedController => ({
  finalizer,
  group: 'example.com',
  resource: 'widgets',
  kind: 'Widget',
  controllers: [{ kind: 'Deployment', namespace: 'ops', name, serviceAccount: name }],
  basis: 'rbac',
  firstLearnedMs,
  lastSeenRunningMs,
});

describe('finalizer memory', () => {
  it('merging keeps the newest sighting per finalizer and type, and the first learning time', () => {
    const merged = mergeMemory([entry('a/x', 10 * HOUR, 'old', 1 * HOUR)], [entry('a/x', 20 * HOUR, 'new', 15 * HOUR), entry('b/y', 5 * HOUR)]);
    const a = merged.find((e) => e.finalizer === 'a/x');
    expect(a?.controllers[0]?.name).toBe('new');
    expect(a?.firstLearnedMs).toBe(1 * HOUR);
    expect(merged).toHaveLength(2);
    // An older sighting learned late never replaces a newer one.
    expect(mergeMemory([entry('a/x', 20 * HOUR, 'new')], [entry('a/x', 10 * HOUR, 'old')])[0]?.controllers[0]?.name).toBe('new');
  });

  it('forgets what was not seen running for forgetAfterMs, types no longer served, and the least recently seen beyond the bound', () => {
    const now = 100 * HOUR;
    const kept = pruneMemory(
      [entry('a/old', 1 * HOUR), entry('b/new', 99 * HOUR), entry('c/gone', 98 * HOUR)],
      now,
      { forgetAfterMs: 10 * HOUR, maxEntries: 10 },
      (t) => (t.resource === 'widgets' ? true : false),
    );
    expect(kept.map((e) => e.finalizer)).toEqual(['b/new', 'c/gone']);
    const servedNot = pruneMemory([entry('b/new', 99 * HOUR)], now, { forgetAfterMs: 10 * HOUR, maxEntries: 10 }, () => false);
    expect(servedNot).toEqual([]);
    const bounded = pruneMemory([entry('a', 90 * HOUR), entry('b', 95 * HOUR), entry('c', 91 * HOUR)], now, { forgetAfterMs: 100 * HOUR, maxEntries: 2 });
    expect(bounded.map((e) => e.finalizer)).toEqual(['b', 'c']);
  });

  it('writes only what changes something: a new entry, other controllers, or a sighting an hour newer', () => {
    const stored = [entry('a/x', 10 * HOUR)];
    expect(memoryChanged(stored, [entry('a/x', 10 * HOUR + 60_000)])).toBe(false);
    expect(memoryChanged(stored, [entry('a/x', 12 * HOUR)])).toBe(true);
    expect(memoryChanged(stored, [entry('a/x', 10 * HOUR, 'other')])).toBe(true);
    expect(memoryChanged(stored, [entry('b/y', 1)])).toBe(true);
  });

  it('round-trips through its stored form, and reads a damaged one as empty with the reason', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ f: fc.string({ minLength: 1 }), t: fc.nat() }), { maxLength: 20 }), (xs) => {
        const entries = xs.map((x) => entry(x.f, x.t));
        expect(decodeMemory(encodeMemory(entries)).entries).toEqual(entries);
      }),
    );
    expect(decodeMemory('{"format":"other"}').error).toContain('not a teardown-guard.io/finalizer-memory.v1 document');
    expect(decodeMemory('{').error).toContain('not JSON');
    const partly = decodeMemory(JSON.stringify({ format: 'teardown-guard.io/finalizer-memory.v1', entries: [entry('a', 1), { finalizer: 3 }] }));
    expect(partly.entries.map((e) => memoryKey(e))).toEqual([memoryKey(entry('a', 1))]);
    expect(partly.dropped).toBe(1);
  });
});
