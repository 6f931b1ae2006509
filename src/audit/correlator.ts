// The streaming correlator: audit records in (in roughly the order the API server logged them),
// findings out. Pure and event-driven: time is the events' own time (or what the caller passes to
// advanceTo), state is bounded (time-window eviction plus hard caps whose overflow is counted),
// no I/O. The CLI review and the live POST /audit ingest feed the same class.
import { createHash } from 'node:crypto';
import { parseReleaseRecordName } from '../helm/recordName.ts';
import { releaseHomeFromOwners } from '../helm/releaseHome.ts';
import { parseLabelSelector } from '../k8s/labelSelector.ts';
import { CSV_CLEANUP_FINALIZER, olmOwnerSelector } from '../olm/finalizerGuards.ts';
import type { AuditRecord, HelmOwner } from './event.ts';
import { actingUser, classifyUserAgent } from './event.ts';
import type { AuditFinding, AuditFindingCode, AuditSeverity, Evidence, FindingObject } from './findings.ts';
import { MAX_EVIDENCE, evidenceOf } from './findings.ts';
import type { Interest } from './prefilter.ts';

export interface CorrelatorOptions {
  onFinding(f: AuditFinding): void;
  /**
   * One window for three things: the longest quiet gap inside one uninstall session, how close a
   * namespace deletion and the removal of its finalizers' controller must be to count as a race,
   * and how long a deleted namespace must visibly linger before its deletion counts as stuck.
   */
  windowMs?: number;
  /** Live mode: report a stuck namespace once it has lingered this long (file mode decides at the end). */
  reportStuckNamespacesAfterMs?: number;
  /** Literal that marks the guard's annotation keys and webhook names (the reader's fast path uses it too). */
  guardName?: string;
  maxSessions?: number;
  maxRecordsPerSession?: number;
  maxOwners?: number;
  maxKnownReleases?: number;
  maxPendingNamespaces?: number;
}

export interface CorrelatorStats {
  records: number;
  openSessions: number;
  pendingNamespaceDeletions: number;
  findings: number;
  /** Things not tracked because a cap was reached (state stays bounded; this says so). */
  overflow: { sessions: number; sessionRecords: number; namespaces: number };
}

/** A namespace deletion still in progress when the input ended (not a finding). */
export interface PendingNamespaceDeletion { namespace: string; deletedAt: string; user: string; lastSeenAt?: string }

export const DEFAULT_WINDOW_MS = 120_000;
export const DEFAULT_GUARD_NAME = 'teardown-guard';
const FAILED_OPEN_PREFIXES = ['failed-open.validating.webhook.admission.k8s.io/', 'failed-open.mutation.webhook.admission.k8s.io/'];

/** The users kube-controller-manager's namespace controller acts as (own SA, or shared credentials). */
const NAMESPACE_CONTROLLER_USERS = new Set([
  'system:serviceaccount:kube-system:namespace-controller',
  'system:kube-controller-manager',
]);
/** Namespaces OLM's olm-operator is installed to by default (upstream, chart, OpenShift). */
const OLM_DEFAULT_NAMESPACES = ['olm', 'operator-lifecycle-manager', 'openshift-operator-lifecycle-manager'];
const OLM_OPERATOR_DEPLOYMENT = 'olm-operator';

const RECORD_RESOURCES = new Set(['secrets', 'configmaps']);

function ok(code: number): boolean { return code >= 200 && code < 300; }

function objKey(resource: string | undefined, apiGroup: string | undefined, namespace: string | undefined, name: string | undefined): string {
  return `${resource ?? ''}\u0000${apiGroup ?? ''}\u0000${namespace ?? ''}\u0000${name ?? ''}`;
}

function stableId(code: string, ...parts: string[]): string {
  return `${code}:${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 12)}`;
}

/** `deployments.apps/name`, `services/name`: what kubectl takes. */
export function kubectlRef(resource: string, apiGroup: string | undefined, name: string): string {
  return apiGroup ? `${resource}.${apiGroup}/${name}` : `${resource}/${name}`;
}

function pushCapped<T>(arr: T[], v: T, cap: number): boolean {
  if (arr.length >= cap) return false;
  arr.push(v);
  return true;
}

/** Bounded map that forgets its oldest entries. */
class BoundedMap<K, V> {
  readonly cap: number;
  readonly map = new Map<K, V>();
  constructor(cap: number) { this.cap = cap; }
  get(k: K): V | undefined { return this.map.get(k); }
  has(k: K): boolean { return this.map.has(k); }
  set(k: K, v: V): void {
    if (this.map.has(k)) this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.cap) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }
  delete(k: K): void { this.map.delete(k); }
}

/** What release (if any) a request touches through Helm's storage: records by name, or list by labels. */
function releaseRecordTarget(r: AuditRecord): { namespace: string; release: string; version?: number } | undefined {
  if (!r.resource || !RECORD_RESOURCES.has(r.resource) || r.apiGroup || !r.namespace || r.subresource) return undefined;
  if (r.name) {
    const rec = parseReleaseRecordName(r.name);
    return rec ? { namespace: r.namespace, release: rec.release, version: rec.version } : undefined;
  }
  if ((r.verb === 'list' || r.verb === 'watch') && r.labelSelector) {
    let reqs: ReturnType<typeof parseLabelSelector>;
    try { reqs = parseLabelSelector(r.labelSelector); } catch { return undefined; }
    let owner = false;
    let release: string | undefined;
    for (const q of reqs) {
      // `k=v` parses as `k in (v)`.
      if (q.op !== 'in' || q.values.length !== 1) continue;
      if (q.key === 'owner' && q.values[0] === 'helm') owner = true;
      if (q.key === 'name') release = q.values[0];
    }
    return owner && release ? { namespace: r.namespace, release } : undefined;
  }
  return undefined;
}

interface Session {
  actorKey: string;
  user: string;
  userAgent: string;
  namespace: string;
  release: string;
  driver: string;
  first: number;
  last: number;
  recordOps: AuditRecord[];
  /** Resource DELETEs attributed to the session (not its record deletes). */
  deletes: AuditRecord[];
  /** Objects the session created (hooks): their deletes are the hook lifecycle, not the uninstall. */
  created: Set<string>;
  purges: AuditRecord[];
  /** Record update after the resource DELETEs: `--keep-history` marks the release uninstalled. */
  markedUninstalled?: AuditRecord;
  versions: Set<number>;
}

interface NamespaceDeletion {
  namespace: string;
  deletedBy: AuditRecord;
  completedBy?: AuditRecord;
  /** Latest request showing the namespace still exists. */
  lastAlive?: AuditRecord;
  /** Retries answered 409 and other telling events (capped). */
  notes: Array<{ rec: AuditRecord; note: string }>;
  race?: { rec: AuditRecord; what: string };
  /** Objects in it seen being deleted but held by finalizers (from logged list/get responses). */
  held: Map<string, { resource: string; apiGroup: string; name: string; finalizers: string[] }>;
  reported: boolean;
}

interface ControllerRemoval { rec: AuditRecord; what: string; namespace: string }

interface GuardAggregate {
  code: AuditFindingCode;
  key: string;
  first: AuditRecord;
  last: AuditRecord;
  count: number;
  evidence: Evidence[];
  webhook: string;
  policies: Set<string>;
  messages: Set<string>;
  objects: Map<string, FindingObject>;
}

export class Correlator {
  private readonly opts: Required<Omit<CorrelatorOptions, 'reportStuckNamespacesAfterMs'>> & { reportStuckNamespacesAfterMs?: number };
  private now = Number.NEGATIVE_INFINITY;
  private lastSweep = Number.NEGATIVE_INFINITY;
  private records = 0;
  private findings = 0;
  private readonly overflow = { sessions: 0, sessionRecords: 0, namespaces: 0 };

  /** Open sessions by release (`actor\0ns\0release`). */
  private readonly sessions = new Map<string, Session>();
  /** Per actor (user + user agent): the release (`ns\0name`) its latest record op touched. */
  private readonly lastRelease: BoundedMap<string, string>;
  /** Releases an actor just created a record for (install, upgrade, rollback) until its next list. */
  private readonly installing: BoundedMap<string, true>;
  /** Helm ownership of objects, learned from logged bodies. */
  private readonly owners: BoundedMap<string, HelmOwner>;
  /** Releases whose records were seen (`ns\0name`). */
  private readonly knownReleases: BoundedMap<string, true>;
  private readonly pendingNs = new Map<string, NamespaceDeletion>();
  private readonly olmNamespaces = new Set<string>(OLM_DEFAULT_NAMESPACES);
  private readonly csvNamespaces: BoundedMap<string, true>;
  private controllerRemovals: ControllerRemoval[] = [];
  private readonly guardAggs = new Map<string, GuardAggregate>();
  /** User agents of open sessions, with how many sessions use each. */
  private readonly sessionAgents = new Map<string, number>();
  private readonly interestView: Interest = { pendingNamespaces: this.pendingNs, sessionUserAgents: this.sessionAgents };

  constructor(opts: CorrelatorOptions) {
    this.opts = {
      windowMs: DEFAULT_WINDOW_MS,
      guardName: DEFAULT_GUARD_NAME,
      maxSessions: 10_000,
      maxRecordsPerSession: 2_000,
      maxOwners: 100_000,
      maxKnownReleases: 100_000,
      maxPendingNamespaces: 10_000,
      ...opts,
    };
    this.owners = new BoundedMap(this.opts.maxOwners);
    this.lastRelease = new BoundedMap(this.opts.maxSessions);
    this.installing = new BoundedMap(this.opts.maxSessions);
    this.knownReleases = new BoundedMap(this.opts.maxKnownReleases);
    this.csvNamespaces = new BoundedMap(this.opts.maxKnownReleases);
  }

  stats(): CorrelatorStats {
    return {
      records: this.records,
      openSessions: this.sessions.size,
      pendingNamespaceDeletions: [...this.pendingNs.values()].filter((p) => !p.completedBy && !p.reported).length,
      findings: this.findings,
      overflow: { ...this.overflow },
    };
  }

  /**
   * What the correlator can use beyond its fixed interests, as live views: the reader's fast
   * path must not skip a line that matches them.
   */
  interest(): Interest { return this.interestView; }

  /** Moves time forward without an event (sampled log timestamps, or the wall clock in live mode). */
  advanceTo(ms: number): void {
    if (!(ms > this.now)) return;
    this.now = ms;
    this.maybeSweep();
  }

  push(r: AuditRecord): void {
    this.records++;
    if (r.time > this.now) this.now = r.time;
    if (r.owner && r.name && r.resource && !(r.verb === 'delete' && ok(r.code))) {
      this.owners.set(objKey(r.resource, r.apiGroup, r.namespace, r.name), r.owner);
    }
    const target = releaseRecordTarget(r);
    if (target) this.onRecordOp(r, target);
    else if (r.verb === 'delete') this.onDelete(r);
    else if (r.verb === 'create' && ok(r.code)) this.onCreate(r);
    this.onNamespaceActivity(r);
    if (r.annotations) this.onAnnotations(r);
    this.maybeSweep();
  }

  /**
   * Ends the input: closes every session and reports what is open. `decideNamespaces` (file
   * review) also decides pending namespace deletions as of the end of the log; a live receiver
   * that merely shuts down passes false, since the namespaces may yet complete.
   */
  flush(decideNamespaces = true): void {
    for (const s of [...this.sessions.values()]) this.closeSession(s);
    for (const g of [...this.guardAggs.values()]) this.emitGuard(g);
    this.guardAggs.clear();
    for (const p of this.pendingNs.values()) this.decideNamespace(p, decideNamespaces);
  }

  /** Namespace deletions neither completed nor reported when the input ended. */
  pendingNamespaceDeletions(): PendingNamespaceDeletion[] {
    const out: PendingNamespaceDeletion[] = [];
    for (const p of this.pendingNs.values()) {
      if (p.completedBy || p.reported) continue;
      const item: PendingNamespaceDeletion = { namespace: p.namespace, deletedAt: p.deletedBy.timestamp, user: actingUser(p.deletedBy) };
      if (p.lastAlive) item.lastSeenAt = p.lastAlive.timestamp;
      out.push(item);
    }
    return out;
  }

  // ---- Helm sessions -------------------------------------------------------------------------

  private actorKey(r: AuditRecord): string { return `${actingUser(r)}\u0000${r.userAgent}`; }

  /**
   * Helm's storage calls, by command: uninstall = list, update (uninstalling), resource DELETEs,
   * get + delete per version (or a last update with --keep-history); install/upgrade/rollback =
   * list, (history pruning: get + delete of old versions), create, update(s). Sessions are opened
   * by record ops; a create ends the session and marks the release "installing" so the command's
   * own record updates open none, until the actor's next list (the start of its next command).
   */
  private onRecordOp(r: AuditRecord, t: { namespace: string; release: string; version?: number }): void {
    const releaseKey = `${t.namespace}\u0000${t.release}`;
    // A record seen by name proves the release has records there; a list by labels does not (its
    // answer, usually logged at Metadata level, may be empty).
    if (t.version !== undefined && ok(r.code)) this.knownReleases.set(releaseKey, true);
    // kubectl is no Helm storage driver: a person labelling or reading a record by hand starts no
    // uninstall, and what that person deletes next is not one.
    if (classifyUserAgent(r.userAgent).kind === 'kubectl') return;
    const actor = this.actorKey(r);
    const key = `${actor}\u0000${releaseKey}`;
    this.lastRelease.set(actor, releaseKey);
    let s = this.sessions.get(key);
    if (s && r.time - s.last > this.opts.windowMs) { this.closeSession(s); s = undefined; }
    if (r.verb === 'create') {
      if (s) this.closeSession(s);
      if (ok(r.code)) this.installing.set(key, true);
      return;
    }
    if (r.verb === 'list' || r.verb === 'watch') {
      // A list starts a command; after a finished uninstall it is a new one (the same program
      // uninstalling a re-installed release of the same name).
      this.installing.delete(key);
      if (s && (s.purges.length > 0 || s.markedUninstalled)) { this.closeSession(s); s = undefined; }
    } else if (this.installing.has(key)) return;
    if (!s) {
      if (this.sessions.size >= this.opts.maxSessions) { this.overflow.sessions++; return; }
      s = {
        actorKey: actor, user: actingUser(r), userAgent: r.userAgent, namespace: t.namespace, release: t.release,
        driver: r.resource ?? 'secrets', first: r.time, last: r.time, recordOps: [], deletes: [],
        created: new Set(), purges: [], versions: new Set(),
      };
      this.sessions.set(key, s);
      this.sessionAgents.set(r.userAgent, (this.sessionAgents.get(r.userAgent) ?? 0) + 1);
    }
    s.last = Math.max(s.last, r.time);
    if (t.version !== undefined) s.versions.add(t.version);
    if (!pushCapped(s.recordOps, r, this.opts.maxRecordsPerSession)) this.overflow.sessionRecords++;
    // An update after the resource DELETEs is --keep-history marking the release uninstalled.
    if ((r.verb === 'update' || r.verb === 'patch') && ok(r.code) && (s.deletes.length > 0 || r.recordStatus === 'uninstalled')) s.markedUninstalled = r;
    if (r.verb === 'delete' && ok(r.code)) s.purges.push(r);
  }

  /**
   * The session a resource request of this actor belongs to: the one of the release the actor's
   * latest record op touched, while it is still deleting. A purged (or marked uninstalled)
   * release takes no more DELETEs: Helm runs post-delete hooks before the purge, so what the
   * same client deletes afterwards belongs to its next command.
   */
  private sessionFor(r: AuditRecord): Session | undefined {
    const actor = this.actorKey(r);
    const release = this.lastRelease.get(actor);
    if (release === undefined) return undefined;
    const s = this.sessions.get(`${actor}\u0000${release}`);
    if (!s || s.purges.length > 0 || s.markedUninstalled) return undefined;
    // A little slack before the first record op: the log orders events by completion.
    if (r.time - s.last > this.opts.windowMs || r.time < s.first - 1000) return undefined;
    return s;
  }

  private onCreate(r: AuditRecord): void {
    const s = this.sessionFor(r);
    if (!s || !r.resource || !r.name) return;
    if (s.created.size >= this.opts.maxRecordsPerSession) { this.overflow.sessionRecords++; return; }
    s.created.add(objKey(r.resource, r.apiGroup, r.namespace, r.name));
    s.last = Math.max(s.last, r.time);
  }

  private onDelete(r: AuditRecord): void {
    if (r.subresource || !r.resource || !r.name) return;
    const k = objKey(r.resource, r.apiGroup, r.namespace, r.name);
    const owner = r.owner ?? this.owners.get(k);
    if (owner && ok(r.code)) this.owners.delete(k);
    const s = this.sessionFor(r);
    if (!s) return;
    const rec: AuditRecord = owner && !r.owner ? { ...r, owner } : r;
    if (!pushCapped(s.deletes, rec, this.opts.maxRecordsPerSession)) this.overflow.sessionRecords++;
    s.last = Math.max(s.last, r.time);
  }

  private closeSession(s: Session): void {
    const key = `${s.actorKey}\u0000${s.namespace}\u0000${s.release}`;
    if (this.sessions.get(key) !== s) return;
    this.sessions.delete(key);
    const agents = (this.sessionAgents.get(s.userAgent) ?? 1) - 1;
    if (agents > 0) this.sessionAgents.set(s.userAgent, agents); else this.sessionAgents.delete(s.userAgent);
    this.analyzeSession(s);
  }

  private analyzeSession(s: Session): void {
    // Helm's uninstall writes its record (uninstalling, then the purge or the final update) before
    // and after its DELETEs; a client that only read records (a dashboard, a backup tool) uninstalled nothing.
    if (!s.recordOps.some((r) => r.verb === 'update' || r.verb === 'patch' || r.verb === 'delete')) return;
    const relevant = s.deletes.filter((d) => !s.created.has(objKey(d.resource, d.apiGroup, d.namespace, d.name)));
    // Namespaces are cluster-scoped (their objectRef carries their own name as namespace).
    const namespaced = relevant.filter((d) => d.namespace && d.resource !== 'namespaces');
    // Where the release lives, as admission reads it from the payload (src/helm/releaseHome.ts):
    // records in one namespace and objects in another is Flux's shape, a correct release.
    const home = releaseHomeFromOwners(s.release, s.namespace, namespaced.map((d) => d.owner),
      (ns) => this.knownReleases.has(`${ns}\u0000${s.release}`));
    const ownedHere = (d: AuditRecord): boolean => d.owner?.releaseName === s.release && d.owner.releaseNamespace === home;
    const outside = namespaced.filter((d) => d.namespace !== home);
    const inside = namespaced.filter((d) => d.namespace === home);
    // A 404 on an object the log shows this very release owns there (a chart's explicit-namespace
    // object already gone) is a correct uninstall's, not a misdirected one's.
    const notFound = outside.filter((d) => d.code === 404 && !ownedHere(d));
    const client = classifyUserAgent(s.userAgent);
    const actor = { user: s.user, userAgent: s.userAgent, client: client.kind };

    // Successful DELETEs of objects that belong to another release (logged body, or a release of
    // the same name whose records were seen in the target namespace).
    const victims = new Map<string, { owner: HelmOwner; deletes: AuditRecord[]; inferred: boolean }>();
    for (const d of namespaced) {
      if (!ok(d.code)) continue;
      let owner = d.owner;
      let inferred = false;
      if (!owner && d.namespace !== home && this.knownReleases.has(`${d.namespace}\u0000${s.release}`)) {
        owner = { releaseNamespace: d.namespace as string, releaseName: s.release };
        inferred = true;
      }
      if (!owner || (owner.releaseNamespace === home && owner.releaseName === s.release)) continue;
      const vk = `${owner.releaseNamespace}\u0000${owner.releaseName}`;
      const v = victims.get(vk) ?? { owner, deletes: [], inferred: true };
      v.deletes.push(d);
      v.inferred &&= inferred;
      victims.set(vk, v);
    }
    const hitOther = outside.filter((d) => [...victims.values()].some((v) => v.deletes.includes(d)));

    // Misdirection: DELETEs outside the release namespace that found nothing (404) or hit
    // another release's objects. Either way this release's own objects were never deleted.
    if (notFound.length > 0 || hitOther.length > 0) this.reportMisdirected(s, { outside, inside, notFound, hitOther, client, actor, home });

    for (const v of victims.values()) {
      const o = v.owner;
      const refs = v.deletes.map((d) => kubectlRef(d.resource as string, d.apiGroup, d.name as string));
      const how = v.inferred
        ? `release ${o.releaseNamespace}/${o.releaseName} exists (its records were seen in the log) and the deleted objects were in its namespace`
        : `the objects' meta.helm.sh annotations name release ${o.releaseNamespace}/${o.releaseName}`;
      this.emit({
        id: stableId('cross-release-delete', s.actorKey, s.namespace, s.release, o.releaseNamespace, o.releaseName, String(s.first)),
        code: 'cross-release-delete',
        severity: v.inferred ? 'medium' : 'high',
        title: `uninstall of ${s.namespace}/${s.release} deleted ${v.deletes.length} object(s) of release ${o.releaseNamespace}/${o.releaseName}`,
        detail: `While uninstalling release ${s.namespace}/${s.release}, ${s.user} (${s.userAgent}) deleted ${v.deletes.length} object(s) that belong to another release: ${how}. ` +
          `That release's objects are gone while its records still say it is installed.`,
        firstSeen: v.deletes[0]?.timestamp ?? iso(s.first),
        lastSeen: v.deletes[v.deletes.length - 1]?.timestamp ?? iso(s.last),
        namespaces: dedupe([s.namespace, o.releaseNamespace]),
        release: { namespace: s.namespace, name: s.release },
        actor,
        objects: v.deletes.map((d) => ({ resource: d.resource as string, apiGroup: d.apiGroup ?? '', namespace: d.namespace as string, name: d.name as string, state: 'deleted' as const })),
        evidence: v.deletes.slice(0, MAX_EVIDENCE).map((d) => evidenceOf(d, `deleted ${d.namespace}/${d.name} of release ${o.releaseNamespace}/${o.releaseName}`)),
        remedy: [
          `Restore release ${o.releaseNamespace}/${o.releaseName}: helm rollback ${o.releaseName} -n ${o.releaseNamespace} (re-creates the deleted objects from its current revision), or helm upgrade it with the same chart and values.`,
          `Check what else it lost: helm get manifest ${o.releaseName} -n ${o.releaseNamespace} | kubectl get -f - (deleted: ${refs.slice(0, 20).join(' ')})`,
          `Fix the uninstalling program so its kube client uses ${s.namespace}: settings.SetNamespace("${s.namespace}") before cfg.Init (helm/helm#12766).`,
        ],
      });
    }
  }

  private reportMisdirected(s: Session, x: {
    outside: AuditRecord[]; inside: AuditRecord[]; notFound: AuditRecord[]; hitOther: AuditRecord[];
    client: ReturnType<typeof classifyUserAgent>; actor: { user: string; userAgent: string; client: string }; home: string;
  }): void {
    const { outside, inside, notFound, hitOther, client, home } = x;
    const purged = s.purges.length > 0;
    const marked = s.markedUninstalled !== undefined;
    const elsewhere = [...new Set(outside.map((d) => d.namespace as string))].sort();
    const versions = [...s.versions].sort((a, b) => a - b);
    const recordDesc = `${s.driver === 'configmaps' ? 'ConfigMaps' : 'Secrets'} sh.helm.release.v1.${s.release}.v{${versions.join(',') || '?'}}`;
    const clientDesc = client.kind === 'helm-cli' ? `Helm's kube client (${s.userAgent}: the Helm CLI, or a Go program using the Helm SDK)`
      : client.kind === 'helm-sdk' ? `a Go program using the Helm SDK (${s.userAgent}: the SDK's built-in version string)`
      : client.kind === 'client-go' ? `the Go program "${client.program}" (client-go's default user agent ${s.userAgent}), driving the Helm SDK`
      : `${s.userAgent || 'an unknown client'}`;
    const ending = purged ? `then purged the release records (${recordDesc}) in ${s.namespace}`
      : marked ? `then marked the release uninstalled (--keep-history) in ${s.namespace}`
      : `the release records in ${s.namespace} were not purged in the log (the uninstall may have failed or the log ends)`;
    const what = [
      notFound.length > 0 ? `${notFound.length}× 404` : '',
      hitOther.length > 0 ? `${hitOther.length} deleted another release's objects` : '',
    ].filter((t) => t !== '').join(', ');
    const detail = [
      `Release ${s.namespace}/${s.release} was uninstalled by ${s.user} through ${clientDesc} between ${iso(s.first)} and ${iso(s.last)}.`,
      `Its release records live in ${s.namespace}, but ${outside.length} of its DELETEs went to ${elsewhere.join(', ')}` +
        (inside.length > 0 ? ` (and ${inside.length} to ${home})` : ` and none to ${home}`) + '.',
      notFound.length > 0 ? `${notFound.length} were answered 404 Not Found: there was nothing to delete there. Helm ignores NotFound and counts those objects as deleted.` : '',
      hitOther.length > 0 ? `${hitOther.length} succeeded on objects of another release (see the cross-release-delete finding), not on this release's own.` : '',
      `Helm ${ending}.`,
      purged || marked ? `\`helm list -n ${s.namespace}\` no longer shows the release, but its resources are very likely still running in ${home}.` : '',
      `This is the Helm SDK pitfall of helm/helm#12766: action.Configuration.Init(getter, "${s.namespace}", ...) puts release storage in ${s.namespace} while the kube client keeps the getter's namespace (${elsewhere.join(', ')}).`,
    ].filter((t) => t !== '').join(' ');
    const leftovers = [...notFound, ...hitOther].map((d) => ({ resource: d.resource as string, apiGroup: d.apiGroup ?? '', namespace: home, name: d.name as string, state: 'likely-still-present' as const }));
    const refs = dedupe(leftovers.map((o) => kubectlRef(o.resource, o.apiGroup, o.name)));
    const remedy = [
      `Confirm what is still there: kubectl get -n ${home} ${refs.join(' ')}`,
      `List everything of the release: kubectl get all -n ${home} -l app.kubernetes.io/instance=${s.release} (chart convention; objects also carry the annotation meta.helm.sh/release-name=${s.release})`,
      `Either delete the leftovers: kubectl delete -n ${home} ${refs.join(' ')}`,
      `or re-create the release so Helm owns them again (they still carry its annotations), then uninstall it correctly: helm install ${s.release} CHART -n ${s.namespace} && helm uninstall ${s.release} -n ${s.namespace}`,
      `Fix the program that uninstalled it: call settings.SetNamespace("${s.namespace}") before cfg.Init(settings.RESTClientGetter(), "${s.namespace}", ...) so release storage and the kube client agree (helm/helm#12766).` +
        (client.kind === 'helm-cli' ? ' If it was the Helm CLI itself, check how it was invoked (kube context, --namespace, HELM_NAMESPACE).' : ''),
    ];
    this.emit({
      id: stableId('misdirected-uninstall', s.actorKey, s.namespace, s.release, String(s.first)),
      code: 'misdirected-uninstall',
      severity: (purged || marked) && inside.length === 0 ? 'high' : 'medium',
      title: `misdirected uninstall: release ${s.namespace}/${s.release} ${purged ? 'purged' : marked ? 'marked uninstalled' : 'uninstalled'} while its DELETEs went to ${elsewhere.join(', ')} (${what}): resources likely still running`,
      detail,
      firstSeen: iso(s.first),
      lastSeen: iso(s.last),
      namespaces: dedupe([s.namespace, ...elsewhere]),
      release: { namespace: s.namespace, name: s.release },
      actor: x.actor,
      objects: [...leftovers, ...outside.filter((d) => ok(d.code)).map((d) => ({ resource: d.resource as string, apiGroup: d.apiGroup ?? '', namespace: d.namespace as string, name: d.name as string, state: 'deleted' as const }))],
      evidence: this.sessionEvidence(s, outside, inside),
      remedy,
    });
  }

  private sessionEvidence(s: Session, outside: AuditRecord[], inside: AuditRecord[]): Evidence[] {
    const ev: Array<{ t: number; e: Evidence }> = [];
    for (const r of s.recordOps) {
      const what = r.verb === 'delete' ? (ok(r.code) ? 'purge of a release record' : 'release record delete failed')
        : r.verb === 'update' || r.verb === 'patch' ? (r === s.markedUninstalled ? 'release record marked uninstalled' : 'release record updated (uninstalling)')
        : 'release record read';
      ev.push({ t: r.time, e: evidenceOf(r, what) });
    }
    for (const d of outside) {
      ev.push({ t: d.time, e: evidenceOf(d, d.code === 404 ? `404: nothing in ${d.namespace}, ${s.namespace}/${d.name} never deleted` : ok(d.code) ? `deleted ${d.namespace}/${d.name}, outside the release namespace` : `failed (${d.code})`) });
    }
    for (const d of inside) ev.push({ t: d.time, e: evidenceOf(d, 'DELETE in the release namespace') });
    ev.sort((a, b) => a.t - b.t);
    const out = ev.map((x) => x.e);
    if (out.length <= MAX_EVIDENCE) return out;
    // Keep the first record reads, all DELETE 404s that fit, and the purge at the end.
    return [...out.slice(0, MAX_EVIDENCE - 10), ...out.slice(-10)];
  }

  // ---- Namespaces ----------------------------------------------------------------------------

  private onNamespaceActivity(r: AuditRecord): void {
    // The olm-operator controller, and its removal.
    if (r.resource === 'deployments' && r.apiGroup === 'apps' && r.name === OLM_OPERATOR_DEPLOYMENT && r.namespace) {
      this.olmNamespaces.add(r.namespace);
      if (r.verb === 'delete' && ok(r.code) && !r.subresource) {
        this.controllerRemoved({ rec: r, what: `Deployment ${r.namespace}/${OLM_OPERATOR_DEPLOYMENT} (OLM's olm-operator) was deleted`, namespace: r.namespace });
      }
    }
    if (r.resource === 'clusterserviceversions' && r.apiGroup === 'operators.coreos.com' && r.namespace) {
      this.csvNamespaces.set(r.namespace, true);
      const p = this.pendingNs.get(r.namespace);
      if (p && !p.completedBy && ok(r.code) && NAMESPACE_CONTROLLER_USERS.has(actingUser(r)) && (r.verb === 'delete' || r.verb === 'deletecollection') && !p.notes.some((n) => n.rec.verb === r.verb)) {
        p.notes.push({ rec: r, note: `namespace controller deleted ${r.name ? `ClusterServiceVersion ${r.name}` : 'the ClusterServiceVersions'}; only olm-operator removes their ${CSV_CLEANUP_FINALIZER} finalizer` });
      }
    }
    if (r.finalizing && r.namespace && ok(r.code)) {
      const p = this.pendingNs.get(r.namespace);
      if (p && !p.completedBy) {
        for (const f of r.finalizing) {
          const key = `${r.resource ?? ''}/${f.name}`;
          const first = !p.held.has(key);
          p.held.set(key, { resource: r.resource ?? '', apiGroup: r.apiGroup ?? '', name: f.name, finalizers: f.finalizers });
          if (first && p.notes.length < 20) p.notes.push({ rec: r, note: `${r.resource ?? 'object'} ${f.name} is being deleted but still held by finalizer(s) ${f.finalizers.join(', ')}` });
        }
      }
    }
    if (r.resource === 'namespaces' && !r.apiGroup) {
      this.onNamespaceRequest(r);
      return;
    }
    // Any other successful request inside a namespace whose deletion is pending shows it still exists.
    if (r.namespace && this.pendingNs.size > 0) {
      const p = this.pendingNs.get(r.namespace);
      if (p && !p.completedBy && r.time >= p.deletedBy.time && (ok(r.code) || r.code === 409)) p.lastAlive = r;
    }
  }

  private onNamespaceRequest(r: AuditRecord): void {
    const ns = r.name ?? r.namespace;
    if (!ns) return;
    const p = this.pendingNs.get(ns);
    const user = actingUser(r);
    if (r.verb === 'delete' && !r.subresource) {
      if (p && !p.completedBy) {
        if (NAMESPACE_CONTROLLER_USERS.has(user) && (ok(r.code) || r.code === 404)) { p.completedBy = r; return; }
        if (r.code === 404) { p.completedBy = r; return; }
        if (r.code === 409 || ok(r.code)) {
          p.lastAlive = r;
          if (p.notes.length < 20) p.notes.push({ rec: r, note: 'namespace still Terminating (DELETE repeated)' });
        }
        return;
      }
      if (!ok(r.code) || NAMESPACE_CONTROLLER_USERS.has(user)) return;
      if (this.pendingNs.size >= this.opts.maxPendingNamespaces) { this.dropCompletedNamespaces(); }
      if (this.pendingNs.size >= this.opts.maxPendingNamespaces) { this.overflow.namespaces++; return; }
      const d: NamespaceDeletion = { namespace: ns, deletedBy: r, notes: [], held: new Map(), reported: false };
      this.pendingNs.delete(ns);
      this.pendingNs.set(ns, d);
      // Namespace deleted after (or while) its finalizers' controller went away.
      const race = this.controllerRemovals.find((c) => c.namespace !== ns && Math.abs(r.time - c.rec.time) <= this.opts.windowMs);
      if (race) d.race = { rec: race.rec, what: race.what };
      if (this.olmNamespaces.has(ns)) {
        this.controllerRemoved({ rec: r, what: `namespace ${ns}, home of OLM's olm-operator, was deleted`, namespace: ns });
      }
      return;
    }
    if (!p || p.completedBy || r.time < p.deletedBy.time) return;
    if (r.verb === 'get' && r.code === 404 && !r.subresource) { p.completedBy = r; return; }
    if (r.verb === 'create' && ok(r.code)) { p.completedBy = r; return; }
    if (r.verb === 'update' && r.subresource === 'finalize' && ok(r.code)) { p.completedBy = r; return; }
    if (ok(r.code)) {
      p.lastAlive = r;
      if (r.subresource === 'status' && NAMESPACE_CONTROLLER_USERS.has(user) && p.notes.length < 20) {
        p.notes.push({ rec: r, note: 'namespace controller updated the namespace status (content or finalizers remaining)' });
      }
    }
  }

  private controllerRemoved(c: ControllerRemoval): void {
    this.controllerRemovals.push(c);
    // Namespaces deleted shortly before the controller went away raced it too.
    for (const p of this.pendingNs.values()) {
      if (p.completedBy || p.race || p.namespace === c.namespace) continue;
      if (Math.abs(p.deletedBy.time - c.rec.time) <= this.opts.windowMs) p.race = { rec: c.rec, what: c.what };
    }
  }

  private dropCompletedNamespaces(): void {
    for (const [k, p] of this.pendingNs) {
      if (p.completedBy) this.decideNamespace(p, false);
      if (p.completedBy || p.reported) this.pendingNs.delete(k);
    }
  }

  /**
   * Reports a namespace deletion that did not complete, or completed only after hanging (race).
   * `atEnd`: the input is over (or, live, waited long enough), so "not seen completing" counts.
   */
  private decideNamespace(p: NamespaceDeletion, atEnd: boolean): void {
    if (p.reported) return;
    const grace = this.opts.windowMs;
    const completedAfter = p.completedBy ? p.completedBy.time - p.deletedBy.time : undefined;
    const lingered = p.lastAlive ? p.lastAlive.time - p.deletedBy.time : 0;
    const stuck = completedAfter === undefined && lingered >= grace;
    const hung = completedAfter !== undefined && completedAfter >= grace;
    // A race matters where the controller's finalizers plausibly were: CSVs seen in the namespace,
    // objects seen held, or the namespace visibly hanging.
    const plausible = this.csvNamespaces.has(p.namespace) || p.held.size > 0 || stuck || hung;
    if (p.race && plausible) { if (!stuck && !hung && !(atEnd && completedAfter === undefined)) return; }
    else if (!stuck) return;
    p.reported = true;
    const ns = p.namespace;
    const evidence: Evidence[] = [];
    if (p.race) evidence.push(evidenceOf(p.race.rec, p.race.what));
    evidence.push(evidenceOf(p.deletedBy, `namespace ${ns} deleted`));
    for (const n of p.notes) evidence.push(evidenceOf(n.rec, n.note));
    if (p.lastAlive && !p.notes.some((n) => n.rec === p.lastAlive)) evidence.push(evidenceOf(p.lastAlive, `namespace ${ns} still exists ${Math.round(lingered / 1000)}s after its deletion`));
    if (hung && p.completedBy) evidence.push(evidenceOf(p.completedBy, `namespace ${ns} finally removed`));
    evidence.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    const csv = this.csvNamespaces.has(ns);
    const held = [...p.held.values()];
    const heldCsvs = held.filter((h) => h.resource === 'clusterserviceversions').map((h) => h.name);
    const csvNames = heldCsvs.length > 0 ? heldCsvs : ['NAME'];
    const remedy = [
      `See what holds it: kubectl get namespace ${ns} -o jsonpath='{.status.conditions}' (NamespaceFinalizersRemaining / NamespaceContentRemaining name the finalizers)`,
      `List what is left: kubectl api-resources --verbs=list --namespaced -o name | xargs -n1 kubectl get -n ${ns} --ignore-not-found --show-kind`,
      `If ClusterServiceVersions remain: bring olm-operator back (reinstall OLM or scale its Deployment up) and it finishes the cleanup; or remove the finalizer by hand: ${csvNames.map((n) => `kubectl patch csv ${n} -n ${ns} --type=merge -p '{"metadata":{"finalizers":null}}'`).join('; ')}`,
      `then delete what OLM would have cleaned up: ${csvNames.map((n) => `kubectl delete clusterrole,clusterrolebinding,mutatingwebhookconfiguration,validatingwebhookconfiguration -l ${olmOwnerSelector(ns, n)}`).join('; ')}`,
      `Next time: delete the operator's namespace while olm-operator is still running (e.g. a pre-delete hook, as Pixie's fix does), and keep teardown-guard's olm-orphaned-finalizers policy in enforce mode.`,
    ];
    const heldText = held.length > 0
      ? ` Still held when last seen: ${held.slice(0, 10).map((h) => `${h.resource} ${h.name} (${h.finalizers.join(', ')})`).join('; ')}.`
      : '';
    const objects: FindingObject[] = [
      { resource: 'namespaces', apiGroup: '', name: ns, state: 'deletion-stuck' },
      ...held.map((h) => ({ resource: h.resource, apiGroup: h.apiGroup, namespace: ns, name: h.name, state: 'deletion-stuck' as const })),
    ];
    const stuckText = hung && p.completedBy
      ? `It hung in Terminating for ${Math.round((completedAfter ?? 0) / 1000)}s until ${p.completedBy.timestamp}.`
      : stuck
        ? `It still existed ${Math.round(lingered / 1000)}s later (${p.lastAlive?.timestamp}) and the log shows no sign that its deletion completed.`
        : `The log does not show its deletion completing${p.lastAlive ? ` (last seen ${p.lastAlive.timestamp})` : ''}.`;
    if (p.race && plausible) {
      this.emit({
        id: stableId('namespace-finalizer-race', ns, p.deletedBy.timestamp),
        code: 'namespace-finalizer-race',
        severity: stuck || hung ? 'high' : 'medium',
        title: `namespace ${ns} deleted ${describeGap(p.deletedBy.time - p.race.rec.time)} ${p.race.what.replace(/ was deleted$/, '')} was removed: its finalizers have no controller`,
        detail: `${p.race.what} at ${p.race.rec.timestamp}; ${actingUser(p.deletedBy)} deleted namespace ${ns} at ${p.deletedBy.timestamp}. ` +
          `Objects in ${ns} whose finalizers only that controller removes (${csv ? 'ClusterServiceVersions were seen there; ' : ''}${CSV_CLEANUP_FINALIZER} on every non-copied CSV since OLM v0.27.0) cannot be finalized, so the namespace hangs in Terminating. ${stuckText}${heldText}`,
        firstSeen: evidence[0]?.time ?? p.deletedBy.timestamp,
        lastSeen: evidence[evidence.length - 1]?.time ?? p.deletedBy.timestamp,
        namespaces: dedupe([ns, p.race.rec.namespace ?? '']).filter((x) => x !== ''),
        actor: { user: actingUser(p.deletedBy), userAgent: p.deletedBy.userAgent, client: classifyUserAgent(p.deletedBy.userAgent).kind },
        objects,
        evidence,
        remedy,
      });
      return;
    }
    this.emit({
      id: stableId('namespace-deletion-incomplete', ns, p.deletedBy.timestamp),
      code: 'namespace-deletion-incomplete',
      severity: csv || held.length > 0 ? 'high' : 'medium',
      title: `namespace ${ns} deleted at ${p.deletedBy.timestamp} never finished terminating in the log`,
      detail: `${actingUser(p.deletedBy)} deleted namespace ${ns} at ${p.deletedBy.timestamp}. ${stuckText}${heldText} ` +
        (csv ? `ClusterServiceVersions were seen in ${ns}: their ${CSV_CLEANUP_FINALIZER} finalizer needs a running olm-operator.` : 'Some object in it keeps a finalizer that nothing removes.'),
      firstSeen: evidence[0]?.time ?? p.deletedBy.timestamp,
      lastSeen: evidence[evidence.length - 1]?.time ?? p.deletedBy.timestamp,
      namespaces: [ns],
      actor: { user: actingUser(p.deletedBy), userAgent: p.deletedBy.userAgent, client: classifyUserAgent(p.deletedBy.userAgent).kind },
      objects,
      evidence,
      remedy,
    });
  }

  // ---- The guard's own annotations ------------------------------------------------------------

  /**
   * The guard's verdicts, as the API server records a webhook's auditAnnotations: key
   * `<webhook name>/<policy>` with the JSON value `{"verdict":"deny|warn|audit|undecided|break-glass",
   * "mode":..., "findings":[{"code","severity","summary","objects"}], "reason"?}`, plus
   * `<webhook name>/break-glass` = `{"reason","user"}`. Fail-open: the API server's
   * `failed-open.validating.webhook.admission.k8s.io/round_N_index_M` = `<webhook name>`.
   */
  private onAnnotations(r: AuditRecord): void {
    const ann = r.annotations as Record<string, string>;
    const guard = this.opts.guardName;
    let breakGlass: string | undefined;
    let breakGlassHook: string | undefined;
    const verdicts: Array<{ webhook: string; policy: string; verdict: string; message?: string }> = [];
    for (const [k, v] of Object.entries(ann)) {
      if (typeof v !== 'string') continue;
      if (FAILED_OPEN_PREFIXES.some((p) => k.startsWith(p))) {
        if (v.includes(guard)) this.addGuard('guard-bypassed', r, v, undefined, undefined);
        continue;
      }
      if (!k.includes(guard)) continue;
      const slash = k.lastIndexOf('/');
      if (slash < 0) continue;
      const webhook = k.slice(0, slash);
      const field = k.slice(slash + 1);
      const value = parseJsonObject(v);
      if (field === 'break-glass') {
        breakGlass = typeof value?.['reason'] === 'string' ? value['reason'] : v;
        breakGlassHook = webhook;
        continue;
      }
      if (value && typeof value['verdict'] === 'string') {
        const msgs: string[] = [];
        if (Array.isArray(value['findings'])) {
          for (const f of value['findings'] as unknown[]) {
            if (typeof f === 'object' && f !== null && typeof (f as Record<string, unknown>)['summary'] === 'string') msgs.push((f as Record<string, string>)['summary'] as string);
          }
        }
        if (typeof value['reason'] === 'string') msgs.push(value['reason']);
        const item: { webhook: string; policy: string; verdict: string; message?: string } = { webhook, policy: field, verdict: value['verdict'].toLowerCase() };
        if (msgs.length > 0) item.message = msgs.join(' / ');
        verdicts.push(item);
      }
    }
    for (const v of verdicts) {
      const code: AuditFindingCode | undefined = v.verdict === 'deny' ? 'guard-denied'
        : v.verdict === 'warn' || v.verdict === 'audit' ? 'guard-warned'
        : v.verdict === 'undecided' ? 'guard-undecided'
        : v.verdict === 'break-glass' ? 'guard-break-glass'
        : undefined;
      if (!code) continue;
      this.addGuard(code, r, v.webhook, v.policy, code === 'guard-break-glass' ? (breakGlass ?? v.message) : v.message);
    }
    if (breakGlass !== undefined && breakGlassHook !== undefined && !verdicts.some((v) => v.verdict === 'break-glass')) {
      this.addGuard('guard-break-glass', r, breakGlassHook, undefined, breakGlass);
    }
  }

  private addGuard(code: AuditFindingCode, r: AuditRecord, webhook: string, policy: string | undefined, message: string | undefined): void {
    const object = `${r.resource ?? ''}/${r.namespace ?? ''}/${r.name ?? ''}`;
    const key = `${code}\u0000${webhook}\u0000${actingUser(r)}\u0000${code === 'guard-bypassed' ? '' : object}`;
    let g = this.guardAggs.get(key);
    if (g && r.time - g.last.time > this.opts.windowMs) { this.emitGuard(g); g = undefined; }
    if (!g) {
      g = { code, key, first: r, last: r, count: 0, evidence: [], webhook, policies: new Set(), messages: new Set(), objects: new Map() };
      this.guardAggs.set(key, g);
    }
    g.count++;
    if (r.time >= g.last.time) g.last = r;
    if (policy) g.policies.add(policy);
    if (message && g.messages.size < 10) g.messages.add(message);
    const note = code === 'guard-bypassed' ? `webhook ${webhook} failed open: request admitted without the guard`
      : code === 'guard-break-glass' ? `break-glass used${message ? `: ${message}` : ''}`
      : `${code.replace('guard-', '')}${policy ? ` by ${policy}` : ''}${message ? `: ${message}` : ''}`;
    if (g.evidence.length < MAX_EVIDENCE) g.evidence.push(evidenceOf(r, note));
    if (r.resource && r.name && g.objects.size < MAX_EVIDENCE) {
      const state = code === 'guard-denied' ? 'denied' as const : code === 'guard-bypassed' || code === 'guard-break-glass' || code === 'guard-warned' ? (r.verb === 'delete' && ok(r.code) ? 'deleted' as const : 'admitted' as const) : 'admitted' as const;
      const o: FindingObject = { resource: r.resource, apiGroup: r.apiGroup ?? '', name: r.name, state };
      if (r.namespace && r.resource !== 'namespaces') o.namespace = r.namespace;
      g.objects.set(object, o);
    }
  }

  private emitGuard(g: GuardAggregate): void {
    this.guardAggs.delete(g.key);
    const r = g.first;
    const user = actingUser(r);
    const what = `${r.verb} ${r.resource ?? r.requestURI}${r.name ? ` ${r.namespace && r.resource !== 'namespaces' ? `${r.namespace}/` : ''}${r.name}` : ''}`;
    const times = g.count > 1 ? ` (${g.count} requests)` : '';
    const policies = [...g.policies].join(', ');
    const messages = [...g.messages];
    const severity: Record<string, AuditSeverity> = {
      'guard-denied': 'low', 'guard-warned': 'medium', 'guard-undecided': 'medium', 'guard-break-glass': 'medium', 'guard-bypassed': 'high',
    };
    const titles: Record<string, string> = {
      'guard-denied': `teardown-guard denied ${what} by ${user}${times}`,
      'guard-warned': `teardown-guard warned on ${what} by ${user}${times}; it went ahead`,
      'guard-undecided': `teardown-guard could not decide on ${what} by ${user}${times}`,
      'guard-break-glass': `break-glass override: ${user} bypassed teardown-guard for ${what}${times}`,
      'guard-bypassed': `teardown-guard was bypassed: webhook ${g.webhook} failed open for ${g.count} request(s) by ${user}`,
    };
    const details: Record<string, string> = {
      'guard-denied': `The guard refused the request${policies ? ` (${policies})` : ''}; nothing was deleted. ${messages.join(' ')}`,
      'guard-warned': `The guard flagged the request${policies ? ` (${policies})` : ''} but its mode let it through. ${messages.join(' ')}`,
      'guard-undecided': `The guard could not decide${policies ? ` (${policies})` : ''}: its cluster view could not answer. ${r.code === 403 ? 'It is configured to deny when undecided, so the request was refused.' : 'It is configured to allow when undecided, so the request went ahead unchecked.'} ${messages.join(' ')}`,
      'guard-break-glass': `The object carried the break-glass annotation, so the guard let the deletion proceed. Reason given: ${messages.join(' ') || '(none)'}`,
      'guard-bypassed': `The API server could not reach webhook ${g.webhook} (timeout, TLS or connection error) and its failurePolicy is Ignore, so these requests were admitted without any check.`,
    };
    const remedies: Record<string, string[]> = {
      'guard-denied': ['Read the denial message (kubectl prints it) and follow its fix; re-run the deletion afterwards.'],
      'guard-warned': ['Check the warning: the deletion it describes may have left resources behind or stranded finalizers (see other findings in this report).', 'Switch the policy to enforce mode if such deletions should be refused.'],
      'guard-undecided': ['Check the guard\'s readiness and cluster-view sync (/readyz, teardown_guard metrics) around these times.', 'Re-check the affected objects by hand (kubectl get) — the guard did not.'],
      'guard-break-glass': ['Confirm the override was intended and the reason is acceptable; check the object\'s namespace for stranded finalizers or leftovers.'],
      'guard-bypassed': [
        'Check the guard\'s availability at these times (pods, endpoints, certificate expiry): kubectl get validatingwebhookconfiguration -o yaml; kubectl -n <guard-namespace> get pods',
        'Review every request listed here by hand: they were admitted unchecked.',
        'If a bypass must never happen, set the webhook\'s failurePolicy to Fail (and exempt the guard\'s own namespace).',
      ],
    };
    const namespaces = dedupe(g.evidence.map((e) => namespaceOfUri(e.requestURI)).filter((x): x is string => x !== undefined));
    this.emit({
      id: stableId(g.code, g.key, r.timestamp),
      code: g.code,
      severity: severity[g.code] ?? 'medium',
      title: titles[g.code] ?? g.code,
      detail: (details[g.code] ?? '').trim(),
      firstSeen: r.timestamp,
      lastSeen: g.last.timestamp,
      namespaces,
      actor: { user, userAgent: r.userAgent, client: classifyUserAgent(r.userAgent).kind },
      objects: [...g.objects.values()],
      evidence: g.evidence,
      remedy: remedies[g.code] ?? [],
    });
  }

  // ---- Housekeeping ---------------------------------------------------------------------------

  private maybeSweep(): void {
    if (this.now - this.lastSweep < 1000) return;
    this.lastSweep = this.now;
    const horizon = this.now - this.opts.windowMs;
    for (const s of [...this.sessions.values()]) if (s.last < horizon) this.closeSession(s);
    for (const g of [...this.guardAggs.values()]) if (g.last.time < horizon) this.emitGuard(g);
    if (this.controllerRemovals.length > 0) this.controllerRemovals = this.controllerRemovals.filter((c) => c.rec.time >= horizon);
    const stuckAfter = this.opts.reportStuckNamespacesAfterMs;
    for (const [k, p] of this.pendingNs) {
      if (p.completedBy) {
        if (p.completedBy.time < horizon) { this.decideNamespace(p, false); this.pendingNs.delete(k); }
        continue;
      }
      if (stuckAfter !== undefined && this.now - p.deletedBy.time >= stuckAfter) {
        // Live mode: waited long enough; report what is known, then forget it.
        this.decideNamespace(p, true);
        this.pendingNs.delete(k);
      }
    }
  }

  private emit(f: AuditFinding): void {
    this.findings++;
    this.opts.onFinding(f);
  }
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function iso(ms: number): string { return new Date(ms).toISOString(); }

function dedupe<T>(xs: T[]): T[] { return [...new Set(xs)]; }

function describeGap(ms: number): string {
  const abs = Math.abs(ms);
  const s = abs < 1000 ? `${Math.round(abs)}ms` : abs < 10_000 ? `${(abs / 1000).toFixed(1)}s` : `${Math.round(abs / 1000)}s`;
  return ms >= 0 ? `${s} after` : `${s} before`;
}

function namespaceOfUri(uri: string): string | undefined {
  const m = /\/namespaces\/([^/?]+)/.exec(uri);
  return m?.[1];
}
