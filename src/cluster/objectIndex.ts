// A secondary index over cached objects: index key -> the objects that map to it, kept exact under
// add/modify/delete so look-ups cost O(matches) instead of a scan of the whole cache.
// (Release records by release name; ClusterRoleBindings by ServiceAccount subject.)

export class ObjectIndex<V> {
  private readonly keysOf: (value: V) => readonly string[];
  /** index key -> (object key -> value) */
  private readonly byIndexKey = new Map<string, Map<string, V>>();
  /** object key -> the index keys it is filed under, to unfile it without recomputing. */
  private readonly filedUnder = new Map<string, readonly string[]>();

  constructor(keysOf: (value: V) => readonly string[]) {
    this.keysOf = keysOf;
  }

  /** Files (or re-files) the object `objectKey`; a value with no index keys is simply not indexed. */
  set(objectKey: string, value: V): void {
    this.delete(objectKey);
    const keys = [...new Set(this.keysOf(value))];
    if (keys.length === 0) return;
    for (const key of keys) {
      let bucket = this.byIndexKey.get(key);
      if (!bucket) this.byIndexKey.set(key, (bucket = new Map()));
      bucket.set(objectKey, value);
    }
    this.filedUnder.set(objectKey, keys);
  }

  delete(objectKey: string): void {
    const keys = this.filedUnder.get(objectKey);
    if (!keys) return;
    for (const key of keys) {
      const bucket = this.byIndexKey.get(key);
      if (!bucket) continue;
      bucket.delete(objectKey);
      if (bucket.size === 0) this.byIndexKey.delete(key);
    }
    this.filedUnder.delete(objectKey);
  }

  get(indexKey: string): V[] {
    const bucket = this.byIndexKey.get(indexKey);
    return bucket ? [...bucket.values()] : [];
  }

  /** Number of indexed objects. */
  size(): number {
    return this.filedUnder.size;
  }
}
