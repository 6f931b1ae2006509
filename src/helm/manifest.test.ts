import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { APP_MANIFEST } from '../../test/support/clusterState.ts';
import { ManifestParseError, manifestObjects } from './manifest.ts';

describe('manifestObjects', () => {
  it('lists each object with its explicit namespace and keep policy', () => {
    expect(manifestObjects(APP_MANIFEST)).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'web-config', keep: false },
      { apiVersion: 'v1', kind: 'Service', name: 'web', keep: false },
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', keep: false },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'web-reader', keep: false },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'web-kept', keep: true },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'web-shared', explicitNamespace: 'shared', keep: false },
    ]);
  });

  it('flattens List documents and skips empty ones', () => {
    const text =
      '---\n\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b, namespace: n}}\n';
    expect(manifestObjects(text).map((o) => o.name)).toEqual(['a', 'b']);
  });

  it("treats any helm.sh/resource-policy value as Helm's uninstall does: keep keeps, any other value is neither kept nor deleted", () => {
    const doc = (name: string, policy?: string) =>
      `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}${policy === undefined ? '' : `\n  annotations:\n    helm.sh/resource-policy: ${policy}`}`;
    const objs = manifestObjects(
      [doc('plain'), doc('kept', 'keep'), doc('upper', ' Keep '), doc('deleted', 'delete'), doc('empty', '""'), doc('unset', '')].join('\n'),
    );
    expect(Object.fromEntries(objs.map((o) => [o.name, o.keep]))).toEqual({ plain: false, kept: true, upper: true, deleted: true, empty: true, unset: true });
  });

  it("applies a List document's resource policy to all its items, and ignores item-level ones (Helm reads the document head)", () => {
    const list = (policy: string) =>
      `---\napiVersion: v1\nkind: List\nmetadata:\n  annotations:\n    helm.sh/resource-policy: ${policy}\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n`;
    expect(manifestObjects(list('keep')).map((o) => o.keep)).toEqual([true, true]);
    const itemOnly =
      '---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: a, annotations: {helm.sh/resource-policy: keep}}}\n';
    expect(manifestObjects(itemOnly).map((o) => o.keep)).toEqual([false]);
  });

  it('refuses a YAML alias bomb instead of expanding it', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const bomb = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  ${lines.join('\n  ')}\n`;
    expect(() => manifestObjects(bomb)).toThrow(ManifestParseError);
  });

  it('handles a huge manifest (2000 objects) and refuses one over the document limit', () => {
    const doc = (i: number) => `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n`;
    const big = Array.from({ length: 2000 }, (_, i) => doc(i)).join('');
    expect(manifestObjects(big)).toHaveLength(2000);
    expect(() => manifestObjects(big, { maxDocuments: 1000, maxAliasCount: 100 })).toThrow('manifest has 2000 documents, over the 1000 limit');
  });

  it('throws only ManifestParseError on arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          manifestObjects(text);
        } catch (err) {
          return err instanceof ManifestParseError;
        }
        return true;
      }),
      { numRuns: Number(process.env['TG_FUZZ_RUNS'] ?? 10_000) },
    );
  });
});
