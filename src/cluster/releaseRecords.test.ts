import { describe, expect, it } from 'vitest';
import { parseReleaseRecordName } from '../helm/recordName.ts';
import { releaseRecordFromMeta, sortReleaseRecords } from './releaseRecords.ts';

describe('parseReleaseRecordName', () => {
  it.each([
    ['sh.helm.release.v1.web.v3', { release: 'web', version: 3 }],
    ['sh.helm.release.v1.my.dotted.release.v12', { release: 'my.dotted.release', version: 12 }],
    ['sh.helm.release.v1.v2.v1', { release: 'v2', version: 1 }],
    ['sh.helm.release.v1.pixie-operator.v1', { release: 'pixie-operator', version: 1 }],
  ])('%s', (name, expected) => {
    expect(parseReleaseRecordName(name)).toEqual(expected);
  });

  it.each([
    'sh.helm.release.v1.web',
    'sh.helm.release.v1..v3',
    'sh.helm.release.v2.web.v3',
    'web.v3',
    'sh.helm.release.v1.web.vx',
    'sh.helm.release.v1.web.v99999999999999999999',
  ])('rejects %s', (name) => {
    expect(parseReleaseRecordName(name)).toBeUndefined();
  });
});

describe('releaseRecordFromMeta', () => {
  const meta = (name: string, labels: Record<string, string>, extra: Record<string, string> = {}) => ({
    metadata: { name, namespace: 'helm-test', labels, ...extra },
  });

  it('reads release, version and status from Helm labels', () => {
    expect(releaseRecordFromMeta('Secret', meta('sh.helm.release.v1.web.v2', { owner: 'helm', name: 'web', status: 'deployed', version: '2' }))).toEqual({
      storage: 'Secret',
      namespace: 'helm-test',
      objectName: 'sh.helm.release.v1.web.v2',
      release: 'web',
      version: 2,
      status: 'deployed',
    });
  });

  it('falls back to the object name when labels are missing, status unknown', () => {
    expect(releaseRecordFromMeta('ConfigMap', meta('sh.helm.release.v1.web.v7', { owner: 'helm' }))).toMatchObject({
      release: 'web',
      version: 7,
      status: 'unknown',
      storage: 'ConfigMap',
    });
  });

  it('prefers labels (what Helm queries by) over the object name', () => {
    expect(
      releaseRecordFromMeta('Secret', meta('sh.helm.release.v1.web.v1', { owner: 'helm', name: 'api', version: '4', status: 'uninstalling' })),
    ).toMatchObject({ release: 'api', version: 4 });
  });

  it('keeps deletionTimestamp', () => {
    expect(
      releaseRecordFromMeta('Secret', meta('sh.helm.release.v1.web.v1', { name: 'web', version: '1' }, { deletionTimestamp: '2025-01-01T00:00:00Z' }))
        ?.deletionTimestamp,
    ).toBe('2025-01-01T00:00:00Z');
  });

  it('returns undefined for objects that are not records', () => {
    expect(releaseRecordFromMeta('Secret', meta('some-secret', { owner: 'helm' }))).toBeUndefined();
    expect(releaseRecordFromMeta('Secret', { metadata: { name: 'sh.helm.release.v1.web.v1' } })).toBeUndefined();
  });

  it('sorts by namespace then version', () => {
    const r = (namespace: string, version: number) => ({
      storage: 'Secret' as const,
      namespace,
      objectName: `x${version}`,
      release: 'x',
      version,
      status: 'deployed',
    });
    expect(sortReleaseRecords([r('b', 1), r('a', 10), r('a', 2)]).map((x) => `${x.namespace}:${x.version}`)).toEqual(['a:2', 'a:10', 'b:1']);
  });
});
