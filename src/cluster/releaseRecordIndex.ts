// The release records one cache holds (Secret or ConfigMap driver), by release name and by status
// `uninstalling`: what the hot path asks for (one release's records on a Helm-owned DELETE, the
// running uninstalls). Records are filed by the cached object itself and read into
// ReleaseRecordMeta only when asked for: a cluster holds tens of thousands of records, a review
// reads a handful, and a key string plus a second object per record cost more than the record
// (ARCHITECTURE.md §3).
import type { PartialObjectMetadata } from '../k8s/types.ts';
import type { InformerChange } from './metadataInformer.ts';
import { releaseRecordFromMeta } from './releaseRecords.ts';
import type { ReleaseRecordMeta } from './view.ts';

const MAX_RECENT_READS = 64;

export class ReleaseRecordIndex {
  private readonly storage: ReleaseRecordMeta['storage'];
  private readonly byRelease = new Map<string, Set<PartialObjectMetadata>>();
  private readonly uninstalling = new Set<PartialObjectMetadata>();
  /**
   * The records last read of a few releases, until one of theirs changes: an uninstall's every
   * DELETE asks for its release's records (a handful of the cluster's tens of thousands).
   */
  private readonly recentReads = new Map<string, readonly ReleaseRecordMeta[]>();

  constructor(storage: ReleaseRecordMeta['storage']) {
    this.storage = storage;
  }

  /** Follows one change of the cache (a listener for its `change` event). */
  follow(change: InformerChange<PartialObjectMetadata>): void {
    if (change.previous) this.unfile(change.previous);
    if (change.type !== 'deleted') this.file(change.object);
  }

  /** The records of `release`, in every namespace. */
  records(release: string): readonly ReleaseRecordMeta[] {
    let read = this.recentReads.get(release);
    if (!read) {
      read = Object.freeze(this.read(this.byRelease.get(release)));
      if (this.recentReads.size >= MAX_RECENT_READS) this.recentReads.clear();
      this.recentReads.set(release, read);
    }
    return read;
  }

  /** The records whose status label says `uninstalling` (usually none). */
  uninstallingRecords(): ReleaseRecordMeta[] {
    return this.read(this.uninstalling);
  }

  private read(objects: Set<PartialObjectMetadata> | undefined): ReleaseRecordMeta[] {
    const out: ReleaseRecordMeta[] = [];
    for (const obj of objects ?? []) {
      const record = releaseRecordFromMeta(this.storage, obj);
      if (record) out.push(record);
    }
    return out;
  }

  private file(obj: PartialObjectMetadata): void {
    const record = releaseRecordFromMeta(this.storage, obj);
    if (!record) return;
    let bucket = this.byRelease.get(record.release);
    if (!bucket) this.byRelease.set(record.release, (bucket = new Set()));
    bucket.add(obj);
    this.recentReads.delete(record.release);
    if (record.status === 'uninstalling') this.uninstalling.add(obj);
  }

  private unfile(obj: PartialObjectMetadata): void {
    this.uninstalling.delete(obj);
    const record = releaseRecordFromMeta(this.storage, obj);
    const bucket = record && this.byRelease.get(record.release);
    if (!bucket) return;
    bucket.delete(obj);
    this.recentReads.delete(record.release);
    if (bucket.size === 0) this.byRelease.delete(record.release);
  }
}
