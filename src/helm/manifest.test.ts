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

  it('never expands a YAML alias bomb: outside the head it is not parsed, in it it is refused', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const inData = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  ${lines.join('\n  ')}\n`;
    expect(manifestObjects(inData)).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'bomb', keep: false }]);
    const inMetadata = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\n  labels:\n    ${lines.join('\n    ')}\n`;
    expect(() => manifestObjects(inMetadata)).toThrow(ManifestParseError);
  });

  it('reads only each document head, and parses whole what the cut cannot read alone', () => {
    const crd = (name: string) =>
      `---\n# Source: c/templates/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: ${name}\nspec:\n  versions:\n  - name: v1\n    schema: {openAPIV3Schema: {type: object}}\n`;
    const cases: Array<[string, string]> = [
      // An alias in metadata to an anchor in spec: the head alone does not resolve it.
      ['alias', '---\napiVersion: v1\nkind: ConfigMap\nspec:\n  n: &n aliased\nmetadata:\n  name: *n\n'],
      // A flow-style root, a quoted top-level key, a marker with a comment, CRLF line ends.
      ['flow', '--- # flow\n{apiVersion: v1, kind: ConfigMap, metadata: {name: flow}}\n'],
      ['quoted', '---\n"apiVersion": v1\nkind: ConfigMap\nmetadata:\n  name: quoted\n'],
      ['crlf', '---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: crlf\r\n'],
    ];
    for (const [name, text] of cases)
      expect(
        manifestObjects(text).map((o) => o.name),
        name,
      ).toEqual([name === 'alias' ? 'aliased' : name]);
    expect(manifestObjects(crd('a.example.com') + crd('b.example.com')).map((o) => o.name)).toEqual(['a.example.com', 'b.example.com']);
    // A directive or a document end: the stream is parsed whole, as before.
    expect(manifestObjects('%YAML 1.2\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n...\n').map((o) => o.name)).toEqual(['d']);
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
