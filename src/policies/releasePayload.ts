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

export function manifestOrUndecided(release: DecodedRelease): ManifestObject[] {
  try {
    return manifestObjects(release.manifest);
  } catch (err) {
    if (err instanceof ManifestParseError)
      throw new UndecidedError('decode', `manifest of release ${release.namespace}/${release.name} could not be parsed: ${err.message}`);
    throw err;
  }
}
