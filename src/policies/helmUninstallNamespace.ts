// Policy `helm-uninstall-namespace` (DESIGN §2): flag uninstall-driven deletions aimed at a
// namespace other than the one the release lives in (helm/helm#12766). The misdirected DELETEs
// themselves answer 404 and never reach a webhook, so the policy watches what does: the purge of
// the release records, and deletions of another release's objects.
import { targetName, type AdmissionRequest } from '../admission/types.ts';
import { UndecidedError, type ClusterView, type ReleaseRecordMeta } from '../cluster/view.ts';
import { formatRef, type KubeObject, type ObjectRef } from '../k8s/types.ts';
import { ManifestParseError, manifestObjects } from '../helm/manifest.ts';
import { parseReleaseRecordName } from '../helm/recordName.ts';
import { ReleaseDecodeError, decodeReleaseRecord, type DecodedRelease } from '../helm/releaseRecord.ts';
import { latestByNamespace, latestRecord } from './releaseRecords.ts';
import type { Finding, Policy, PolicyInput } from './types.ts';

const NAME = 'helm-uninstall-namespace';
const RELEASE_NAME = 'meta.helm.sh/release-name';
const RELEASE_NAMESPACE = 'meta.helm.sh/release-namespace';
const HOOK = 'helm.sh/hook';
/** Records whose deletion never means an uninstall: history pruning, or already uninstalled. */
const NOT_AN_UNINSTALL = new Set(['superseded', 'uninstalled']);

function isRecordResource(req: AdmissionRequest): boolean {
  return req.resource.group === '' && (req.resource.resource === 'secrets' || req.resource.resource === 'configmaps') && !req.subResource;
}

function isReleaseRecord(obj: KubeObject | null | undefined): boolean {
  return obj?.metadata?.labels?.['owner'] === 'helm' && parseReleaseRecordName(obj.metadata.name ?? '') !== undefined;
}

function decodeOrUndecided(record: KubeObject): DecodedRelease {
  try {
    return decodeReleaseRecord(record);
  } catch (err) {
    if (err instanceof ReleaseDecodeError) throw new UndecidedError(`release record ${record.metadata?.namespace}/${record.metadata?.name} could not be decoded: ${err.message}`);
    throw err;
  }
}

/** Where a correct uninstall of `release` would have sent each DELETE. */
function expectedTargets(release: DecodedRelease, view: ClusterView): ObjectRef[] {
  let objects;
  try {
    objects = manifestObjects(release.manifest);
  } catch (err) {
    if (err instanceof ManifestParseError) throw new UndecidedError(`manifest of release ${release.namespace}/${release.name} could not be parsed: ${err.message}`);
    throw err;
  }
  const refs: ObjectRef[] = [];
  for (const o of objects) {
    if (o.keep) continue;
    const namespaced = view.isNamespaced(o.apiVersion, o.kind);
    if (namespaced === undefined) continue; // the API no longer serves the kind (CRD gone): nothing left
    const ref: ObjectRef = { apiVersion: o.apiVersion, kind: o.kind, name: o.name };
    if (namespaced) ref.namespace = o.explicitNamespace ?? release.namespace;
    refs.push(ref);
  }
  return refs;
}

/** DELETE of a release record, or UPDATE to `uninstalled` (--keep-history). */
async function purgeCheck(request: AdmissionRequest, view: ClusterView): Promise<Finding[]> {
  const old = request.oldObject;
  if (!isReleaseRecord(old)) return [];
  const oldStatus = old?.metadata?.labels?.['status'] ?? '';
  let record: KubeObject;
  let action: string;
  if (request.operation === 'DELETE') {
    if (NOT_AN_UNINSTALL.has(oldStatus)) return [];
    record = old as KubeObject;
    action = 'purged';
  } else {
    const newStatus = request.object?.metadata?.labels?.['status'];
    if (newStatus !== 'uninstalled' || oldStatus === 'uninstalled' || !request.object) return [];
    record = request.object;
    action = 'marked uninstalled';
  }
  const parsed = parseReleaseRecordName(record.metadata?.name ?? '');
  const ns = record.metadata?.namespace ?? request.namespace ?? '';
  if (!parsed) return [];
  // Only the latest record stands for the release; deleting an older one is history pruning.
  const latest = latestRecord(view.releaseRecords(parsed.release), ns);
  if (latest && latest.version > parsed.version) return [];

  const release = decodeOrUndecided(record);
  const targets = expectedTargets(release, view);
  if (targets.length === 0) return [];
  const states = await view.liveObjectsState(targets);
  const leftovers = targets.filter((_, i) => states[i] === 'exists');
  if (leftovers.length === 0) return [];

  const relNs = release.namespace;
  const sample = leftovers.slice(0, 2).map(formatRef).join(', ');
  const deleteArgs = leftovers.filter((r) => r.namespace === relNs).map((r) => `${r.kind.toLowerCase()}/${r.name}`);
  return [{
    policy: NAME,
    severity: 'violation',
    code: 'release-purged-with-resources-left',
    summary: `Helm release ${relNs}/${release.name} is being ${action} but ${leftovers.length} of its ${targets.length} resources still exist (${sample}): its DELETEs went to another namespace`,
    detail: [
      `The release record ${ns}/${record.metadata?.name} of Helm release ${relNs}/${release.name} is being ${action}, but these resources of the release were not deleted:`,
      ...leftovers.map((r) => `  - ${formatRef(r)}`),
      `A correct uninstall deletes them in ${relNs} before it purges the record. The uninstall most likely sent its DELETEs to the`,
      `client's own namespace (its kubeconfig context, often "default"), got 404 Not Found there, and counted them as deleted.`,
      'This is the Helm Go SDK pitfall of helm/helm#12766: action.Configuration.Init(getter, ns, ...) stores records in ns, but the kube client builds objects in the getter\'s namespace.',
    ].join('\n'),
    remedy: [
      `Fix the uninstalling program: call settings.SetNamespace("${relNs}") before action.Configuration.Init, or use: helm uninstall ${release.name} -n ${relNs}`,
      `If the record is already gone, delete the leftovers by hand: kubectl delete -n ${relNs} ${deleteArgs.join(' ') || '<resources listed above>'}`,
    ],
    objects: leftovers,
  }];
}

/** DELETE of an object owned by release NS/R while another namespace's release R is uninstalling. */
async function crossReleaseCheck(request: AdmissionRequest, view: ClusterView): Promise<Finding[]> {
  const meta = request.oldObject?.metadata;
  const release = meta?.annotations?.[RELEASE_NAME];
  const releaseNs = meta?.annotations?.[RELEASE_NAMESPACE];
  if (!release || !releaseNs || meta?.annotations?.[HOOK] !== undefined) return [];

  const judge = (records: ReleaseRecordMeta[]): { own?: ReleaseRecordMeta; uninstallingElsewhere: ReleaseRecordMeta[] } => {
    const latest = latestByNamespace(records);
    const own = latest.get(releaseNs);
    const uninstallingElsewhere = [...latest.values()].filter((r) => r.namespace !== releaseNs && r.status === 'uninstalling');
    return own ? { own, uninstallingElsewhere } : { uninstallingElsewhere };
  };
  let verdict = judge(view.releaseRecords(release));
  if (verdict.own?.status === 'uninstalling') return [];
  // The cache may not have seen the other release's `uninstalling` update yet (Helm sends it and
  // its first DELETEs back to back), and a stale "no" here would allow: confirm live.
  verdict = judge(await view.liveReleaseRecords(release));
  if (verdict.own?.status === 'uninstalling' || verdict.uninstallingElsewhere.length === 0) return [];

  const objRef: ObjectRef = {
    apiVersion: request.kind.group ? `${request.kind.group}/${request.kind.version}` : request.kind.version,
    kind: request.kind.kind,
    name: targetName(request),
  };
  if (request.namespace) objRef.namespace = request.namespace;
  const others = verdict.uninstallingElsewhere.map((r) => `${r.namespace}/${r.release}`);
  const ownStatus = verdict.own?.status ?? 'no record';
  return [{
    policy: NAME,
    severity: 'violation',
    code: 'uninstall-deletes-other-release',
    summary: `${formatRef(objRef)} belongs to Helm release ${releaseNs}/${release} (${ownStatus}), but the uninstall of ${others.join(', ')} is deleting it`,
    detail: [
      `${formatRef(objRef)} is owned by Helm release ${releaseNs}/${release}, whose latest record is "${ownStatus}", not "uninstalling".`,
      `Meanwhile release ${others.join(', ')} of the same name is being uninstalled. Its uninstall is sending DELETEs to namespace ${objRef.namespace ?? releaseNs}`,
      'instead of its own: another release\'s objects are being destroyed (helm/helm#12766, Helm Go SDK without settings.SetNamespace).',
    ].join('\n'),
    remedy: [
      `Stop the program uninstalling ${others.join(', ')}; fix it with settings.SetNamespace("<its namespace>") before action.Configuration.Init.`,
      `Restore what was already deleted of ${releaseNs}/${release}: helm rollback ${release} -n ${releaseNs}  (or helm upgrade --reuse-values)`,
    ],
    objects: [objRef],
  }];
}

async function evaluate({ request, view, settings }: PolicyInput): Promise<Finding[]> {
  if (settings.exemptUsers.includes(request.userInfo.username ?? '')) return [];
  const ns = request.namespace;
  if (ns && view.getNamespace(ns)?.deletionTimestamp) return [];
  if (isRecordResource(request) && isReleaseRecord(request.oldObject)) return purgeCheck(request, view);
  if (request.operation === 'DELETE') return crossReleaseCheck(request, view);
  return [];
}

export const helmUninstallNamespace: Policy = {
  name: NAME,
  appliesTo: (req) => req.operation === 'DELETE' || (req.operation === 'UPDATE' && isRecordResource(req)),
  evaluate,
};
