import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObjectIndex } from './objectIndex.ts';

interface Binding {
  name: string;
  subjects: string[];
}

describe('ObjectIndex', () => {
  it('files an object under each of its keys and re-files it on change', () => {
    const index = new ObjectIndex<Binding>((b) => b.subjects);
    index.set('a', { name: 'a', subjects: ['olm/olm-operator', 'olm/catalog'] });
    index.set('b', { name: 'b', subjects: ['olm/olm-operator'] });
    expect(
      index
        .get('olm/olm-operator')
        .map((b) => b.name)
        .sort(),
    ).toEqual(['a', 'b']);
    index.set('a', { name: 'a', subjects: ['other/sa'] });
    expect(index.get('olm/olm-operator').map((b) => b.name)).toEqual(['b']);
    expect(index.get('olm/catalog')).toEqual([]);
    expect(index.get('other/sa').map((b) => b.name)).toEqual(['a']);
    index.delete('b');
    index.delete('missing');
    expect(index.get('olm/olm-operator')).toEqual([]);
    expect(index.size()).toBe(1);
  });

  it('agrees with a full scan after any sequence of sets and deletes', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 6 }),
        subjects: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 6 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const index = new ObjectIndex<Binding>((b) => b.subjects);
        const model = new Map<string, Binding>();
        for (const o of ops) {
          const key = `k${o.key}`;
          if (o.kind === 'set') {
            const value = { name: key, subjects: o.subjects.map((s) => `s${s}`) };
            index.set(key, value);
            model.set(key, value);
          } else {
            index.delete(key);
            model.delete(key);
          }
        }
        for (let s = 0; s <= 4; s++) {
          const expected = [...model.values()]
            .filter((b) => b.subjects.includes(`s${s}`))
            .map((b) => b.name)
            .sort();
          expect(
            index
              .get(`s${s}`)
              .map((b) => b.name)
              .sort(),
          ).toEqual(expected);
        }
      }),
    );
  });
});
