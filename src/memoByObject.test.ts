import { describe, expect, it } from 'vitest';
import { memoByObject } from './memoByObject.ts';

describe('memoByObject', () => {
  it('computes once per object, again for another object with the same contents', () => {
    let calls = 0;
    const size = memoByObject((list: readonly number[]) => {
      calls++;
      return list.length;
    });
    const a = [1, 2, 3];
    expect(size(a)).toBe(3);
    expect(size(a)).toBe(3);
    expect(calls).toBe(1);
    expect(size([1, 2, 3])).toBe(3);
    expect(calls).toBe(2);
  });

  it('keeps an undefined result instead of computing it again', () => {
    let calls = 0;
    const nothing = memoByObject((_o: object) => {
      calls++;
      return undefined;
    });
    const o = {};
    nothing(o);
    nothing(o);
    expect(calls).toBe(1);
  });
});
