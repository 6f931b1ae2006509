// Policy `helm-uninstall-namespace` (ARCHITECTURE.md §1B, §1C): flag uninstall-driven deletions aimed at a
// namespace other than the one the release lives in (helm/helm#12766). The misdirected DELETEs
// themselves answer 404 and never reach a webhook, so the policy watches what does: the purge of
// the release records, and deletions of another release's objects.
import { isDelete, type AdmissionRequest } from '../k8s/admissionReview.ts';
import type { ClusterView, HelmOwnerRef, ReleaseRecordMeta } from '../cluster/view.ts';
import { formatRef, groupOf, type KubeObject, type ObjectRef } from '../k8s/types.ts';
import { parseReleaseRecordName } from '../helm/recordName.ts';
import type { DecodedRelease } from '../helm/releaseRecord.ts';
import { DEFAULT_STALE_UNINSTALLING_AFTER_MS, activityOf } from './releaseActivity.ts';
import { decodeOrUndecided, livePayload, manifestOrUndecided } from './releasePayload.ts';
import { latestByNamespace, latestRecord } from './releaseRecords.ts';
import type { Finding, PolicyInput } from './types.ts';
import { definePolicy, type WebhookDeclaration } from './declaration.ts';
import { helmOwnedWebhook, rule } from './webhooks.ts';

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

/**
 * Where a correct uninstall of `release` would have sent each DELETE; `telling` marks the objects
 * the manifest lists without a namespace, which a kube client holding another namespace misses.
 */
function expectedTargets(release: DecodedRelease, view: ClusterView): Array<ObjectRef & { telling: boolean }> {
  const refs: Array<ObjectRef & { telling: boolean }> = [];
  for (const o of manifestOrUndecided(release)) {
    if (o.keep) continue;
    const namespaced = view.isNamespaced(o.apiVersion, o.kind);
    if (namespaced === undefined) continue; // the API no longer serves the kind (CRD gone): nothing left
    const ref: ObjectRef & { telling: boolean } = {
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.name,
      telling: namespaced && o.explicitNamespace === undefined,
    };
    if (namespaced) ref.namespace = o.explicitNamespace ?? release.namespace;
    refs.push(ref);
  }
  return refs;
}

/**
 * How many objects the purge check reads first. Helm purges only after every DELETE succeeded or
 * answered 404 (ARCHITECTURE.md §1B), so a purged release left either nothing, or, when its kube
 * client held another namespace (§1C), every object its manifest lists without a namespace;
 * records purged by hand leave everything. A few of those objects tell which: a correct uninstall of a large chart
 * (40 to 80 objects in the corpus) costs one round of live reads, not one per object, which under a
 * busy API server ran past the review's budget and answered undecided. Only when one is left are
 * the others read, to name every leftover.
 */
export const PURGE_SAMPLE = 8;

function controlledByAnother(refs: unknown): boolean {
  return Array.isArray(refs) && refs.some((r) => typeof r === 'object' && r !== null && (r as { controller?: unknown }).controller === true);
}

function plainRef({ telling: _, ...ref }: ObjectRef & { telling: boolean }): ObjectRef {
  return ref;
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
  const all = expectedTargets(release, view);
  if (all.length === 0) return [];
  // Helm 4 skips objects whose ownership annotations name another release (moved there with
  // --take-ownership): still there after a correct uninstall, and not this release's to delete.
  const leftoversOf = async (refs: ObjectRef[]): Promise<ObjectRef[]> => {
    const live = await view.liveObjects(refs);
    return refs.filter((_, i) => live[i]?.state === 'exists' && !ownedByAnother(live[i]?.helmOwner, release));
  };
  const telling = all.filter((r) => r.telling);
  const probe = (telling.length > 0 ? telling : all).slice(0, PURGE_SAMPLE);
  if ((await leftoversOf(probe.map(plainRef))).length === 0) return [];
  const targets = all.map(plainRef);
  const leftovers = await leftoversOf(targets);
  if (leftovers.length === 0) return [];

  const relNs = release.namespace;
  const sample = leftovers.slice(0, 2).map(formatRef).join(', ');
  const deleteArgs = leftovers.filter((r) => r.namespace === relNs).map((r) => `${r.kind.toLowerCase()}/${r.name}`);
  return [
    {
      policy: NAME,
      severity: 'violation',
      code: 'release-purged-with-resources-left',
      summary: `Helm release ${relNs}/${release.name} is being ${action} but ${leftovers.length} of its ${targets.length} resources still exist (${sample}): its DELETEs went to another namespace`,
      detail: [
        `The release record ${ns}/${record.metadata?.name} of Helm release ${relNs}/${release.name} is being ${action}, but these resources of the release were not deleted:`,
        ...leftovers.map((r) => `  - ${formatRef(r)}`),
        `A correct uninstall deletes them in ${relNs} before it purges the record. The uninstall most likely sent its DELETEs to the`,
        `client's own namespace (its kubeconfig context, often "default"), got 404 Not Found there, and counted them as deleted.`,
        "This is the Helm Go SDK pitfall of helm/helm#12766: action.Configuration.Init(getter, ns, ...) stores records in ns, but the kube client builds objects in the getter's namespace.",
      ].join('\n'),
      remedy: [
        `Fix the uninstalling program: call settings.SetNamespace("${relNs}") before action.Configuration.Init, or use: helm uninstall ${release.name} -n ${relNs}`,
        `If the record is already gone, delete the leftovers by hand: kubectl delete -n ${relNs} ${deleteArgs.join(' ') || '<resources listed above>'}`,
      ],
      objects: leftovers,
    },
  ];
}

/** The object's own release is doing this: its uninstall, or its install/upgrade/rollback. */
function ownOperation(own: ReleaseRecordMeta | undefined, nowMs: number, staleAfterMs: number): boolean {
  if (!own) return false;
  const kind = activityOf(own, nowMs, staleAfterMs).kind;
  return kind === 'uninstalling' || kind === 'stale-uninstalling' || kind === 'own-operation';
}

/** Fresh `uninstalling` records of other releases, or of the same release stored elsewhere. */
function runningUninstalls(records: ReleaseRecordMeta[], owner: HelmOwnerRef | undefined, nowMs: number, staleAfterMs: number): ReleaseRecordMeta[] {
  return latestRecords(records).filter(
    (r) => activityOf(r, nowMs, staleAfterMs).kind === 'uninstalling' && !(owner && r.release === owner.name && r.namespace === owner.namespace),
  );
}

/** The latest record of each release in each namespace. */
function latestRecords(records: ReleaseRecordMeta[]): ReleaseRecordMeta[] {
  const byRelease = new Map<string, ReleaseRecordMeta[]>();
  for (const r of records) byRelease.set(r.release, [...(byRelease.get(r.release) ?? []), r]);
  return [...byRelease.values()].flatMap((rs) => [...latestByNamespace(rs).values()]);
}

interface Misdirection {
  record: ReleaseRecordMeta;
  release: DecodedRelease;
  own: ObjectRef;
  victim: ObjectRef;
}

/**
 * Whether this DELETE is a running uninstall's, sent to the wrong namespace: the uninstalling
 * release lives elsewhere (its payload namespace; Flux keeps records apart, that is no evidence),
 * its manifest names this kind and name without a namespace, and its own object of that name, where
 * a correct uninstall deletes it, still exists untouched. A hand delete of an object that manifest
 * does not name, or of a same-named one while the release's own goes too, is nobody's uninstall.
 */
async function misdirection(request: AdmissionRequest, record: ReleaseRecordMeta, view: ClusterView): Promise<Misdirection | undefined> {
  const ns = request.namespace;
  const name = request.name;
  if (!ns || !name) return undefined;
  const release = await livePayload(record, view);
  if (!release || release.namespace === ns) return undefined;
  const group = request.kind.group;
  const named = manifestOrUndecided(release).find(
    (o) => !o.keep && o.explicitNamespace === undefined && o.kind === request.kind.kind && o.name === name && groupOf(o.apiVersion) === group,
  );
  if (!named) return undefined;
  const own: ObjectRef = { apiVersion: named.apiVersion, kind: named.kind, name: named.name, namespace: release.namespace };
  const [state] = await view.liveObjects([own]);
  if (state?.state !== 'exists') return undefined;
  return { record, release, own, victim: { ...own, namespace: ns } };
}

function restoreAdvice(owner: HelmOwnerRef, own: ReleaseRecordMeta | undefined): string {
  if (!own || own.status === 'uninstalled')
    return `Nothing records ${owner.namespace}/${owner.name} any more; re-create what was deleted from your own manifests.`;
  return (
    `Restore what was already deleted of ${owner.namespace}/${owner.name}: helm upgrade ${owner.name} CHART -n ${owner.namespace} --reuse-values (re-applies its current revision)` +
    (own.version > 1 ? `, or helm rollback ${owner.name} ${own.version} -n ${owner.namespace}` : '')
  );
}

function misdirectedFinding(m: Misdirection, owner: HelmOwnerRef | undefined, ownRecord: ReleaseRecordMeta | undefined): Finding {
  const uninstalling =
    m.release.namespace === m.record.namespace
      ? `${m.release.namespace}/${m.release.name}`
      : `${m.release.namespace}/${m.release.name} (records in ${m.record.namespace})`;
  const sameName = owner?.name === m.release.name;
  const belongs = owner ? `Helm release ${owner.namespace}/${owner.name} (${ownRecord?.status ?? 'no record'})` : 'no Helm release';
  return {
    policy: NAME,
    severity: 'violation',
    code: sameName ? 'uninstall-deletes-other-release' : 'uninstall-deletes-unrelated-object',
    summary: `${formatRef(m.victim)} belongs to ${belongs}, but the uninstall of ${uninstalling} is deleting it`,
    detail: [
      `Release ${uninstalling} is being uninstalled; its manifest names ${m.own.kind} ${m.own.name} without a namespace, so a correct uninstall deletes ${formatRef(m.own)}, which still exists.`,
      `This DELETE reached ${formatRef(m.victim)} instead, which belongs to ${belongs}: the uninstall's kube client sends its DELETEs to namespace ${m.victim.namespace ?? ''}`,
      "instead of its own (helm/helm#12766, Helm Go SDK without settings.SetNamespace): another release's objects are being destroyed.",
    ].join('\n'),
    remedy: [
      `Stop the program uninstalling ${uninstalling}; fix it with settings.SetNamespace("${m.release.namespace}") before action.Configuration.Init.`,
      owner ? restoreAdvice(owner, ownRecord) : `Re-create what was already deleted in ${m.victim.namespace ?? ''} from your own manifests.`,
    ],
    objects: [m.victim],
  };
}

/**
 * DELETE of a (Helm-owned) object while another release's uninstall runs: flagged when it is that
 * uninstall's misdirected DELETE. Only Helm-owned objects reach the guard (the webhook selects on
 * app.kubernetes.io/managed-by=Helm); review covers the rest from the audit log.
 */
async function misdirectedDeleteCheck(request: AdmissionRequest, view: ClusterView, nowMs: number, staleAfterMs: number): Promise<Finding[]> {
  const meta = request.oldObject?.metadata;
  if (!request.namespace || !request.name || meta?.annotations?.[HOOK] !== undefined) return [];
  // An object its controller owns (Pods of a ReplicaSet, ReplicaSets of a Deployment, Jobs of a
  // CronJob: they carry the Helm labels of their parent's template) was made by that controller
  // under a name of its own, not rendered from a chart: no uninstall's manifest names it, and its
  // DELETEs are its controller's (rollouts, scale-downs), in bursts whenever a Helm-managed
  // workload scales. Reading every running uninstall's payload for each of them is what, under a
  // busy API server, ran out of the review's budget (the corpus: test/corpus/README.md).
  if (controlledByAnother(meta?.ownerReferences)) return [];
  // A Namespace is cluster-scoped: its DELETE reaches the one object of that name whatever
  // namespace a kube client holds (kube-apiserver only reports the namespace itself as the
  // request's). Read as a namespaced object, it would be its own "victim".
  if (isDelete(request, '', 'namespaces')) return [];
  const ownerName = meta?.annotations?.[RELEASE_NAME];
  const ownerNs = meta?.annotations?.[RELEASE_NAMESPACE];
  const owner: HelmOwnerRef | undefined = ownerName && ownerNs ? { name: ownerName, namespace: ownerNs } : undefined;
  const ownRecord = (records: ReleaseRecordMeta[]) => (owner ? latestRecord(records, owner.namespace) : undefined);

  let ownRecords = owner ? view.releaseRecords(owner.name) : [];
  if (ownOperation(ownRecord(ownRecords), nowMs, staleAfterMs)) return [];
  // The cache may not have seen the owner's own `uninstalling` (or a same-named release's elsewhere)
  // yet: Helm sends it and its first DELETEs back to back, and a stale answer here would flag or
  // allow wrongly. One live list answers both.
  if (owner) {
    ownRecords = await view.liveReleaseRecords(owner.name);
    if (ownOperation(ownRecord(ownRecords), nowMs, staleAfterMs)) return [];
  }
  const candidates = runningUninstalls([...ownRecords, ...view.uninstallingRecords().filter((r) => r.release !== owner?.name)], owner, nowMs, staleAfterMs);
  const findings: Finding[] = [];
  for (const record of candidates) {
    const m = await misdirection(request, record, view);
    if (!m) continue;
    findings.push(misdirectedFinding(m, owner, ownRecord(ownRecords)));
  }
  return findings;
}

async function evaluate({ request, view, settings, nowMs = Date.now() }: PolicyInput): Promise<Finding[]> {
  if (isRecordResource(request) && isReleaseRecord(request.oldObject)) return purgeCheck(request, view);
  const staleAfterMs = settings.staleUninstallingAfterMs ?? DEFAULT_STALE_UNINSTALLING_AFTER_MS;
  if (request.operation !== 'DELETE') return [];
  return misdirectedDeleteCheck(request, view, nowMs, staleAfterMs);
}

const RELEASE_RECORDS_WEBHOOK: WebhookDeclaration = {
  name: 'release-records',
  why: [
    'Helm release records (Secret or ConfigMap driver, label owner=helm): the purge on DELETE, and',
    'the --keep-history UPDATE that marks a record `uninstalled`. Other record UPDATEs (every helm',
    'upgrade supersedes one) are filtered out here by CEL, so they cost nothing. Releases in',
    'kube-system (CNI, metrics-server) are reviewed too: only a namespace deletion is ever exempt.',
  ],
  objectSelector: { matchLabels: { owner: 'helm' } },
  skipsNamespaces: 'guard',
  matchConditions: [
    {
      name: 'delete-or-marked-uninstalled',
      expression: [
        "request.operation == 'DELETE' ||",
        "(has(object.metadata.labels) && 'status' in object.metadata.labels && object.metadata.labels['status'] == 'uninstalled')",
      ],
    },
  ],
};

// The namespace controller and the garbage collector (exemptUsers) delete for everyone; deletions
// inside a Terminating namespace are its content going.
const PRECHECKS = ['exempt-user', 'namespace-terminating'] as const;

export const helmUninstallNamespace = definePolicy({
  name: NAME,
  defaultMode: 'warn',
  summary:
    "Flags a Helm release's records being purged while its resources still exist where its uninstall should have deleted them (helm/helm#12766), and deletions of a release's objects by another release's uninstall.",
  judges: (guards) => [
    { via: RELEASE_RECORDS_WEBHOOK, rule: rule('', ['secrets', 'configmaps'], 'Namespaced', { operations: ['DELETE', 'UPDATE'] }), prechecks: PRECHECKS },
    { via: helmOwnedWebhook(guards), rule: rule('*', ['*'], '*', { versions: ['*'] }), prechecks: PRECHECKS },
  ],
  whenUndecided: 'undecided',
  evaluate,
});
