// Policy `helm-uninstall-namespace` (ARCHITECTURE.md §1B, §1C): flag uninstall-driven deletions aimed at a
// namespace other than the one the release lives in (helm/helm#12766). The misdirected DELETEs
// themselves answer 404 and never reach a webhook, so the policy watches what does: the purge of
// the release records, and deletions of another release's objects.
import { targetName, type AdmissionRequest } from '../k8s/admissionReview.ts';
import type { ClusterView, HelmOwnerRef, ReleaseRecordMeta } from '../cluster/view.ts';
import { formatRef, type KubeObject, type ObjectRef } from '../k8s/types.ts';
import { parseReleaseRecordName } from '../helm/recordName.ts';
import type { DecodedRelease } from '../helm/releaseRecord.ts';
import { DEFAULT_STALE_UNINSTALLING_AFTER_MS, activityOf } from './releaseActivity.ts';
import { decodeOrUndecided, livePayload, manifestOrUndecided } from './releasePayload.ts';
import { latestByNamespace, latestRecord } from './releaseRecords.ts';
import type { Finding, Policy, PolicyInput } from './types.ts';

const NAME = 'helm-uninstall-namespace';
const RELEASE_NAME = 'meta.helm.sh/release-name';
const RELEASE_NAMESPACE = 'meta.helm.sh/release-namespace';
const HOOK = 'helm.sh/hook';
/**
 * Only a record saying `uninstalling` (or `deployed`/`unknown`, when Helm's status update before
 * the DELETEs failed: it only logs that) can be an uninstall's purge. Helm's history pruning
 * (Storage.removeLeastRecent) deletes superseded, failed and pending records, and with no deployed
 * record left (or --history-max 1) the newest failed one too, right before the next revision.
 */
const PURGEABLE_STATUSES = new Set(['uninstalling', 'deployed', 'unknown']);

function isRecordResource(req: AdmissionRequest): boolean {
  return req.resource.group === '' && (req.resource.resource === 'secrets' || req.resource.resource === 'configmaps') && !req.subResource;
}

function isReleaseRecord(obj: KubeObject | null | undefined): boolean {
  return obj?.metadata?.labels?.['owner'] === 'helm' && parseReleaseRecordName(obj.metadata.name ?? '') !== undefined;
}

/** Where a correct uninstall of `release` would have sent each DELETE. */
function expectedTargets(release: DecodedRelease, view: ClusterView): ObjectRef[] {
  const refs: ObjectRef[] = [];
  for (const o of manifestOrUndecided(release)) {
    if (o.keep) continue;
    const namespaced = view.isNamespaced(o.apiVersion, o.kind);
    if (namespaced === undefined) continue; // the API no longer serves the kind (CRD gone): nothing left
    const ref: ObjectRef = { apiVersion: o.apiVersion, kind: o.kind, name: o.name };
    if (namespaced) ref.namespace = o.explicitNamespace ?? release.namespace;
    refs.push(ref);
  }
  return refs;
}

function ownedByAnother(owner: HelmOwnerRef | undefined, release: DecodedRelease): boolean {
  return owner !== undefined && (owner.name !== release.name || owner.namespace !== release.namespace);
}

/** DELETE of a release record, or UPDATE to `uninstalled` (--keep-history). */
async function purgeCheck(request: AdmissionRequest, view: ClusterView): Promise<Finding[]> {
  const old = request.oldObject;
  if (!isReleaseRecord(old)) return [];
  const oldStatus = old?.metadata?.labels?.['status'] ?? '';
  let record: KubeObject;
  let action: string;
  if (request.operation === 'DELETE') {
    if (!PURGEABLE_STATUSES.has(oldStatus || 'unknown')) return [];
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
  const live = await view.liveObjects(targets);
  // Helm 4 skips objects whose ownership annotations name another release (moved there with
  // --take-ownership): still there after a correct uninstall, and not this release's to delete.
  const leftovers = targets.filter((_, i) => live[i]?.state === 'exists' && !ownedByAnother(live[i]?.helmOwner, release));
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

interface CrossReleaseVerdict {
  own?: ReleaseRecordMeta;
  /** Releases of the same name stored in other namespaces whose uninstall is running now. */
  uninstallingElsewhere: ReleaseRecordMeta[];
}

function judgeCrossRelease(records: ReleaseRecordMeta[], releaseNs: string, nowMs: number, staleAfterMs: number): CrossReleaseVerdict {
  const latest = latestByNamespace(records);
  const own = latest.get(releaseNs);
  // A stale `uninstalling` (a failed uninstall, hours ago) is not deleting anything now.
  const uninstallingElsewhere = [...latest.values()]
    .filter((r) => r.namespace !== releaseNs && activityOf(r, nowMs, staleAfterMs).kind === 'uninstalling');
  return own ? { own, uninstallingElsewhere } : { uninstallingElsewhere };
}

/** The object's own release is doing this: its uninstall, or its install/upgrade/rollback. */
function ownOperation(own: ReleaseRecordMeta | undefined, nowMs: number, staleAfterMs: number): boolean {
  if (!own) return false;
  const kind = activityOf(own, nowMs, staleAfterMs).kind;
  return kind === 'uninstalling' || kind === 'stale-uninstalling' || kind === 'own-operation';
}

/**
 * Of the uninstalling releases stored elsewhere, those that really live elsewhere. A release whose
 * payload namespace is the object's release namespace is the object's own release with its
 * records kept apart (Flux: storageNamespace vs targetNamespace): its uninstall is correct.
 */
async function livingElsewhere(candidates: ReleaseRecordMeta[], releaseNs: string, view: ClusterView): Promise<Array<{ record: ReleaseRecordMeta; home: string }>> {
  const out: Array<{ record: ReleaseRecordMeta; home: string }> = [];
  for (const record of candidates) {
    const payload = await livePayload(record, view);
    if (!payload) continue; // purged meanwhile: its uninstall is over
    if (payload.namespace !== releaseNs) out.push({ record, home: payload.namespace });
  }
  return out;
}

/** DELETE of an object owned by release NS/R while a release R living in another namespace is uninstalling. */
async function crossReleaseCheck(request: AdmissionRequest, view: ClusterView, nowMs: number, staleAfterMs: number): Promise<Finding[]> {
  const meta = request.oldObject?.metadata;
  const release = meta?.annotations?.[RELEASE_NAME];
  const releaseNs = meta?.annotations?.[RELEASE_NAMESPACE];
  if (!release || !releaseNs || meta?.annotations?.[HOOK] !== undefined) return [];

  let verdict = judgeCrossRelease(view.releaseRecords(release), releaseNs, nowMs, staleAfterMs);
  if (ownOperation(verdict.own, nowMs, staleAfterMs)) return [];
  // The cache may not have seen the other release's `uninstalling` update yet (Helm sends it and
  // its first DELETEs back to back), and a stale "no" here would allow: confirm live.
  verdict = judgeCrossRelease(await view.liveReleaseRecords(release), releaseNs, nowMs, staleAfterMs);
  if (ownOperation(verdict.own, nowMs, staleAfterMs) || verdict.uninstallingElsewhere.length === 0) return [];
  const elsewhere = await livingElsewhere(verdict.uninstallingElsewhere, releaseNs, view);
  if (elsewhere.length === 0) return [];

  const objRef: ObjectRef = {
    apiVersion: request.kind.group ? `${request.kind.group}/${request.kind.version}` : request.kind.version,
    kind: request.kind.kind,
    name: targetName(request),
  };
  if (request.namespace) objRef.namespace = request.namespace;
  const others = elsewhere.map((e) => (e.home === e.record.namespace ? `${e.home}/${release}` : `${e.home}/${release} (records in ${e.record.namespace})`));
  const ownStatus = verdict.own?.status ?? 'no record';
  const restore = verdict.own && verdict.own.status !== 'uninstalled'
    ? `Restore what was already deleted of ${releaseNs}/${release}: helm upgrade ${release} CHART -n ${releaseNs} --reuse-values (re-applies its current revision)` +
      (verdict.own.version > 1 ? `, or helm rollback ${release} ${verdict.own.version} -n ${releaseNs}` : '')
    : `Nothing records ${releaseNs}/${release} any more; re-create what was deleted from your own manifests.`;
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
      restore,
    ],
    objects: [objRef],
  }];
}

/**
 * DELETE of an object that the manifest of a release being uninstalled names by kind and name,
 * without a namespace, while the object sits in another namespace than the release's own and is
 * not that release's: the SDK's kube client sends the uninstall's DELETEs to its own namespace,
 * whatever owns the object of that name there (helm/helm#12766). Same-name releases are the
 * cross-release check's. Only Helm-owned objects reach the guard (the webhook selects on
 * app.kubernetes.io/managed-by=Helm); review covers the rest from the audit log.
 */
async function misdirectedDeleteCheck(request: AdmissionRequest, view: ClusterView, nowMs: number, staleAfterMs: number): Promise<Finding[]> {
  const ns = request.namespace;
  const meta = request.oldObject?.metadata;
  if (!ns || !request.name || meta?.annotations?.[HOOK] !== undefined) return [];
  const ownerName = meta?.annotations?.[RELEASE_NAME];
  const ownerNs = meta?.annotations?.[RELEASE_NAMESPACE];
  const running = view.uninstallingRecords().filter((r) => r.release !== ownerName && activityOf(r, nowMs, staleAfterMs).kind === 'uninstalling');
  if (running.length === 0) return [];
  // The object's own release being uninstalled (or upgraded) deletes it: that is its own teardown.
  const ownBusy = async (live: boolean): Promise<boolean> => {
    if (!ownerName || !ownerNs) return false;
    const records = live ? await view.liveReleaseRecords(ownerName) : view.releaseRecords(ownerName);
    return ownOperation(latestRecord(records, ownerNs), nowMs, staleAfterMs);
  };
  if (await ownBusy(false)) return [];
  const group = request.kind.group;
  const findings: Finding[] = [];
  for (const record of running) {
    const payload = await livePayload(record, view);
    if (!payload || payload.namespace === ns) continue;
    const named = manifestOrUndecided(payload).find((o) => !o.keep && o.explicitNamespace === undefined && o.kind === request.kind.kind &&
      o.name === request.name && (o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '') === group);
    if (!named) continue;
    // A correct uninstall deletes its own object in its own namespace; while that one still exists
    // untouched, the DELETE that reached another namespace is the uninstall's misdirected one.
    const own: ObjectRef = { apiVersion: named.apiVersion, kind: named.kind, name: named.name, namespace: payload.namespace };
    const [state] = await view.liveObjects([own]);
    if (state?.state !== 'exists') continue;
    // Helm marks its own release uninstalling and sends the first DELETEs right after: the cache may lag.
    if (await ownBusy(true)) return [];
    const victim: ObjectRef = { apiVersion: named.apiVersion, kind: named.kind, name: named.name, namespace: ns };
    const belongs = ownerName && ownerNs ? `Helm release ${ownerNs}/${ownerName}` : 'no Helm release';
    findings.push({
      policy: NAME,
      severity: 'violation',
      code: 'uninstall-deletes-unrelated-object',
      summary: `${formatRef(victim)} belongs to ${belongs}, but the uninstall of ${payload.namespace}/${payload.name} is deleting it instead of ${formatRef(own)}`,
      detail: [
        `Release ${payload.namespace}/${payload.name} is being uninstalled; its manifest names ${named.kind} ${named.name} without a namespace, so a correct uninstall deletes ${formatRef(own)}, which still exists.`,
        `This DELETE reached ${formatRef(victim)} instead, which belongs to ${belongs}: the uninstall's kube client sends its DELETEs to namespace ${ns} (helm/helm#12766, Helm Go SDK without settings.SetNamespace).`,
      ].join('\n'),
      remedy: [
        `Stop the program uninstalling ${payload.namespace}/${payload.name}; fix it with settings.SetNamespace("${payload.namespace}") before action.Configuration.Init.`,
        ownerName && ownerNs ? `Check what release ${ownerNs}/${ownerName} already lost: helm get manifest ${ownerName} -n ${ownerNs} | kubectl get -f -` : `Re-create what was already deleted in ${ns} from your own manifests.`,
      ],
      objects: [victim],
    });
  }
  return findings;
}

async function evaluate({ request, view, settings, nowMs = Date.now() }: PolicyInput): Promise<Finding[]> {
  if (settings.exemptUsers.includes(request.userInfo.username ?? '')) return [];
  const ns = request.namespace;
  if (ns && view.getNamespace(ns)?.deletionTimestamp) return [];
  if (isRecordResource(request) && isReleaseRecord(request.oldObject)) return purgeCheck(request, view);
  const staleAfterMs = settings.staleUninstallingAfterMs ?? DEFAULT_STALE_UNINSTALLING_AFTER_MS;
  if (request.operation !== 'DELETE') return [];
  const sameName = await crossReleaseCheck(request, view, nowMs, staleAfterMs);
  return sameName.length > 0 ? sameName : misdirectedDeleteCheck(request, view, nowMs, staleAfterMs);
}

export const helmUninstallNamespace: Policy = {
  name: NAME,
  appliesTo: (req) => req.operation === 'DELETE' || (req.operation === 'UPDATE' && isRecordResource(req)),
  evaluate,
};
