import { describe, expect, it } from 'vitest';
import { UndecidedError } from '../cluster/view.ts';
import type { DecodedRelease } from '../helm/releaseRecord.ts';
import { manifestOrUndecided } from './releasePayload.ts';

const release = (manifest: string): DecodedRelease => ({ name: 'r', namespace: 'ns', version: 1, status: 'uninstalling', manifest });
const configMap = (name: string) => `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`;

describe('manifestOrUndecided', () => {
  it('parses a manifest once: the reviews of one uninstall read the same record again and again', () => {
    const text = configMap('a') + configMap('b');
    const first = manifestOrUndecided(release(text));
    expect(first.map((o) => o.name)).toEqual(['a', 'b']);
    // Another decode of the same record is another string with the same text.
    expect(manifestOrUndecided(release(`${text}`.slice(0))) === first).toBe(true);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('keeps only the latest few, and a different manifest is parsed for itself', () => {
    const first = manifestOrUndecided(release(configMap('keep-me')));
    for (const n of ['x1', 'x2', 'x3', 'x4']) expect(manifestOrUndecided(release(configMap(n)))[0]?.name).toBe(n);
    const again = manifestOrUndecided(release(configMap('keep-me')));
    expect(again).toEqual(first);
    expect(again === first).toBe(false);
  });

  it('a manifest that does not parse is undecided, every time', () => {
    const bad = release('---\nkind: [unclosed\n');
    expect(() => manifestOrUndecided(bad)).toThrow(UndecidedError);
    expect(() => manifestOrUndecided(bad)).toThrow(UndecidedError);
  });
});
