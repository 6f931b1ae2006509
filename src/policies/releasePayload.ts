// Where a release really lives: the `namespace` inside its record's payload, which is not always
// where the records are stored (Flux's helm-controller keeps records in the HelmRelease's
// namespace and deploys into spec.targetNamespace). The payload is read live and decoded here;
// only name, namespace, status and manifest leave this module, never the chart values.
import { UndecidedError, type ClusterView, type ReleaseRecordMeta } from '../cluster/view.ts';
import type { KubeObject } from '../k8s/types.ts';
import { ReleaseDecodeError, decodeReleaseRecord, type DecodedRelease } from '../helm/releaseRecord.ts';
import { ManifestParseError, manifestObjects, type ManifestObject } from '../helm/manifest.ts';

export function decodeOrUndecided(record: KubeObject): DecodedRelease {
  try {
    return decodeReleaseRecord(record);
  } catch (err) {
    if (err instanceof ReleaseDecodeError)
      throw new UndecidedError('decode', `release record ${record.metadata?.namespace}/${record.metadata?.name} could not be decoded: ${err.message}`);
    throw err;
  }
}

/** The record's payload, read live; undefined when the record is already gone. */
export async function livePayload(record: ReleaseRecordMeta, view: ClusterView): Promise<DecodedRelease | undefined> {
  const whole = await view.liveReleaseRecord(record);
  return whole ? decodeOrUndecided(whole) : undefined;
}

/**
 * Manifests parsed lately, by their text. One uninstall sends dozens of DELETEs whose reviews read
 * the same record (each first from the caches, then confirmed), and a chart with its CRDs in
 * templates/ is megabytes of YAML: Kueue's 1.7 MB took 0.3-0.5 s to parse on one idle core, on
 * the event loop every review shares. Parsing is a pure function of the text, so its result is
 * kept; a few entries bound the memory (about twice the text each).
 */
const PARSED_MANIFESTS_KEPT = 4;
const parsedManifests = new Map<string, readonly ManifestObject[]>();

export function manifestOrUndecided(release: DecodedRelease): readonly ManifestObject[] {
  const kept = parsedManifests.get(release.manifest);
  if (kept) {
    // Most recently used last: the oldest is the first to go.
    parsedManifests.delete(release.manifest);
    parsedManifests.set(release.manifest, kept);
    return kept;
  }
  try {
    const parsed = Object.freeze(manifestObjects(release.manifest));
    parsedManifests.set(release.manifest, parsed);
    while (parsedManifests.size > PARSED_MANIFESTS_KEPT) parsedManifests.delete(parsedManifests.keys().next().value!);
    return parsed;
  } catch (err) {
    if (err instanceof ManifestParseError)
      throw new UndecidedError('decode', `manifest of release ${release.namespace}/${release.name} could not be parsed: ${err.message}`);
    throw err;
  }
}
