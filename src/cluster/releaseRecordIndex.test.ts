import { describe, expect, it } from 'vitest';
import type { PartialObjectMetadata } from '../k8s/types.ts';
import { ReleaseRecordIndex } from './releaseRecordIndex.ts';
import { releaseRecordFromMeta, slimReleaseRecordObject } from './releaseRecords.ts';

// Metadata as Helm's Secret driver labels a record (helm.sh/helm v3.21.4 pkg/storage/driver/secrets.go:
// owner, name, status, version, and createdAt/modifiedAt in Unix seconds), slimmed as the cache keeps it.
const record = (release: string, version: number, status: string, rv: string, namespace = 'apps'): PartialObjectMetadata =>
  slimReleaseRecordObject({
    metadata: {
      name: `sh.helm.release.v1.${release}.v${version}`,
      namespace,
      uid: `uid-${release}-${version}`,
      resourceVersion: rv,
      labels: { owner: 'helm', name: release, status, version: String(version), modifiedAt: '1764000000', team: 'payments' },
    },
  });

describe('ReleaseRecordIndex', () => {
  it('answers by release and by `uninstalling` through adds, status changes and deletes', () => {
    const index = new ReleaseRecordIndex('Secret');
    const web1 = record('web', 1, 'superseded', '10');
    const web2 = record('web', 2, 'deployed', '11');
    const db1 = record('db', 1, 'deployed', '12', 'data');
    for (const object of [web1, web2, db1]) index.follow({ type: 'added', object });
    expect(index.records('web').map((r) => `${r.objectName} ${r.status}`)).toEqual([
      'sh.helm.release.v1.web.v1 superseded',
      'sh.helm.release.v1.web.v2 deployed',
    ]);
    expect(index.uninstallingRecords()).toEqual([]);

    const web2Uninstalling = record('web', 2, 'uninstalling', '13');
    index.follow({ type: 'modified', object: web2Uninstalling, previous: web2 });
    expect(index.uninstallingRecords()).toEqual([
      {
        storage: 'Secret',
        namespace: 'apps',
        objectName: 'sh.helm.release.v1.web.v2',
        release: 'web',
        version: 2,
        status: 'uninstalling',
        modifiedAtMs: 1_764_000_000_000,
      },
    ]);
    // Read before the change, read again after it: the change shows (what a release's reads keep is dropped).
    expect(index.records('web').map((r) => r.status)).toEqual(['superseded', 'uninstalling']);
    expect(index.records('web')).toBe(index.records('web'));

    index.follow({ type: 'deleted', object: web2Uninstalling, previous: web2Uninstalling });
    index.follow({ type: 'deleted', object: web1, previous: web1 });
    expect(index.uninstallingRecords()).toEqual([]);
    expect(index.records('web')).toEqual([]);
    expect(index.records('db').map((r) => r.namespace)).toEqual(['data']);
  });

  it('ignores a deletion of a record it never held, and objects that are not records', () => {
    const index = new ReleaseRecordIndex('ConfigMap');
    const kept = record('web', 1, 'deployed', '10');
    index.follow({ type: 'added', object: kept });
    index.follow({ type: 'deleted', object: record('web', 1, 'deployed', '10') });
    index.follow({ type: 'added', object: { metadata: { name: 'not-a-record', namespace: 'apps', labels: { owner: 'helm' } } } });
    expect(index.records('web').map((r) => r.storage)).toEqual(['ConfigMap']);
  });
});

describe('slimReleaseRecordObject', () => {
  it('keeps what the record is read for and drops other labels, the uid and everything else', () => {
    const slim = record('web', 3, 'deployed', '42');
    expect(slim).toEqual({
      metadata: {
        name: 'sh.helm.release.v1.web.v3',
        namespace: 'apps',
        resourceVersion: '42',
        // `name` is dropped because the object's name says the same
        labels: { owner: 'helm', status: 'deployed', version: '3', modifiedAt: '1764000000' },
      },
    });
    expect(releaseRecordFromMeta('Secret', slim)).toMatchObject({ release: 'web', version: 3, status: 'deployed' });
  });

  it('keeps a `name` label that disagrees with the object name: it is the one Helm reads', () => {
    const slim = slimReleaseRecordObject({
      metadata: { name: 'sh.helm.release.v1.web.v3', namespace: 'apps', labels: { owner: 'helm', name: 'api', version: '3' } },
    });
    expect(releaseRecordFromMeta('Secret', slim)?.release).toBe('api');
  });
});
