// Where a release lives, as both sides of the guard read it. The truth is the `namespace` inside
// the release record's payload, which is not always where the records are stored: Flux's
// helm-controller stores them in the HelmRelease's namespace (or spec.storageNamespace) and
// deploys into spec.targetNamespace. Admission reads the payload live. An audit log holds no
// payload (Secrets are logged at Metadata level), so review reads the same fact off the objects
// the release's own uninstall touched: their `meta.helm.sh/release-*` annotations name it.

/** The release an object's ownership annotations name. */
export interface ReleaseOwner {
  releaseName: string;
  releaseNamespace: string;
}

/**
 * The namespace a release whose records are in `recordsNamespace` lives in, judged from the owners
 * of the objects its uninstall deleted. It moves only when every owner naming the release names
 * one other namespace, and no release of that name has records of its own there (then those
 * objects are that other release's: incident B's victims, not this release's home).
 */
export function releaseHomeFromOwners(
  release: string,
  recordsNamespace: string,
  owners: Iterable<ReleaseOwner | undefined>,
  hasOwnRecords: (namespace: string) => boolean,
): string {
  const homes = new Set<string>();
  for (const o of owners) if (o && o.releaseName === release) homes.add(o.releaseNamespace);
  if (homes.size !== 1) return recordsNamespace;
  const [home] = [...homes];
  if (home === undefined || home === recordsNamespace || hasOwnRecords(home)) return recordsNamespace;
  return home;
}
