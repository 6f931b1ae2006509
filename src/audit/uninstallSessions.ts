// Detector: Helm uninstall sessions whose DELETEs went to another namespace than the one the
// release lives in (misdirected-uninstall), and the other releases' objects they destroyed
// (cross-release-delete). See src/audit/README.md, "Uninstall sessions".
import { parseReleaseRecordName } from '../helm/recordName.ts';
import { releaseHomeFromOwners } from '../helm/releaseHome.ts';
import { parseLabelSelector } from '../k8s/labelSelector.ts';
import type { AuditRecord, HelmOwner } from './event.ts';
import { actingUser, classifyUserAgent } from './event.ts';
import type { Evidence } from './findings.ts';
import { MAX_EVIDENCE, evidenceOf } from './findings.ts';
import { BoundedMap, dedupe, iso, kubectlRef, objKey, ok, pushCapped, stableId, type DetectorContext } from './correlation.ts';
import { HelmReleaseWriters, isHelmReleaseWrite } from './helmReleaseWriters.ts';
import { correctUninstallSign, unconfirmedUninstallText, type CorrectUninstallSign } from './likelyCorrectUninstall.ts';

const RECORD_RESOURCES = new Set(['secrets', 'configmaps']);

/** What release (if any) a request touches through Helm's storage: records by name, or list by labels. */
function releaseRecordTarget(r: AuditRecord): { namespace: string; release: string; version?: number } | undefined {
  if (!r.resource || !RECORD_RESOURCES.has(r.resource) || r.apiGroup || !r.namespace || r.subresource) return undefined;
  if (r.name) {
    const rec = parseReleaseRecordName(r.name);
    return rec ? { namespace: r.namespace, release: rec.release, version: rec.version } : undefined;
  }
  if ((r.verb === 'list' || r.verb === 'watch') && r.labelSelector) {
    let reqs: ReturnType<typeof parseLabelSelector>;
    try {
      reqs = parseLabelSelector(r.labelSelector);
    } catch {
      return undefined;
    }
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
  /** The acting user (the impersonated one when impersonating). */
  user: string;
  /** The authenticated user: a controller that impersonates for Helm writes its own objects as itself. */
  authUser: string;
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
  /**
   * Opened by a record update of a release its actor has just installed, with no `list` seen since
   * (a log without reads or query strings: GKE's Admin Activity). It is the install's own update
   * unless DELETEs follow; a `list` closes it, as it starts a command.
   */
  afterInstall?: boolean;
}

export class UninstallSessionDetector {
  private readonly ctx: DetectorContext;
  /** Open sessions by release (`actor\0ns\0release`). */
  private readonly sessions = new Map<string, Session>();
  /** The same open sessions by actor: one client may run several commands at once. */
  private readonly byActor = new Map<string, Set<Session>>();
  /** Per actor (user + user agent): the release (`ns\0name`) its latest record op touched. */
  private readonly lastRelease: BoundedMap<string, string>;
  /** Releases an actor just created a record for (install, upgrade, rollback) until its next list. */
  private readonly installing: BoundedMap<string, true>;
  /**
   * When each actor last wrote a record of an install, upgrade or rollback, by namespace
   * (`actor\0ns`): that command's own DELETEs (hooks' before-hook-creation, objects an upgrade
   * drops) go to that namespace, and are no uninstall's running elsewhere at the same time.
   */
  private readonly installingIn: BoundedMap<string, number>;
  /** Helm ownership of objects, learned from logged bodies. */
  private readonly owners: BoundedMap<string, HelmOwner>;
  /** Releases whose records were seen (`ns\0name`). */
  private readonly knownReleases: BoundedMap<string, true>;
  /** Clients that wrote Flux HelmReleases: a sign the uninstall was helm-controller's (likelyCorrectUninstall.ts). */
  private readonly helmReleaseWriters: HelmReleaseWriters;
  /** User agents of open sessions, with how many sessions use each (the reader's fast path must keep their lines). */
  readonly sessionAgents = new Map<string, number>();

  constructor(ctx: DetectorContext) {
    this.ctx = ctx;
    this.owners = new BoundedMap(ctx.opts.maxOwners);
    this.lastRelease = new BoundedMap(ctx.opts.maxSessions);
    this.installing = new BoundedMap(ctx.opts.maxSessions);
    this.installingIn = new BoundedMap(ctx.opts.maxSessions);
    this.knownReleases = new BoundedMap(ctx.opts.maxKnownReleases);
    this.helmReleaseWriters = new HelmReleaseWriters(ctx.opts.maxSessions);
  }

  openSessions(): number {
    return this.sessions.size;
  }

  push(r: AuditRecord): void {
    if (isHelmReleaseWrite(r)) this.helmReleaseWriters.record(r);
    if (r.owner && r.name && r.resource && !(r.verb === 'delete' && ok(r.code))) {
      this.owners.set(objKey(r.resource, r.apiGroup, r.namespace, r.name), r.owner);
    }
    const target = releaseRecordTarget(r);
    if (target) this.onRecordOp(r, target);
    else if (r.verb === 'delete') this.onDelete(r);
    else if (r.verb === 'create' && ok(r.code)) this.onCreate(r);
  }

  /** Closes the sessions quiet since before `horizonMs`. */
  sweep(horizonMs: number): void {
    for (const s of [...this.sessions.values()]) if (s.last < horizonMs) this.closeSession(s);
  }

  flush(): void {
    for (const s of [...this.sessions.values()]) this.closeSession(s);
  }

  private actorKey(r: AuditRecord): string {
    return `${actingUser(r)}\u0000${r.userAgent}`;
  }

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
    if (s && r.time - s.last > this.ctx.opts.windowMs) {
      this.closeSession(s);
      s = undefined;
    }
    if (r.verb === 'create') {
      if (s) this.closeSession(s);
      if (ok(r.code)) {
        this.installing.set(key, true);
        this.installingIn.set(`${actor}\u0000${t.namespace}`, r.time);
      }
      return;
    }
    if (r.verb === 'list' || r.verb === 'watch') {
      // A list starts a command; after a finished uninstall it is a new one (the same program
      // uninstalling a re-installed release of the same name).
      this.installing.delete(key);
      if (s && (s.purges.length > 0 || s.markedUninstalled || s.afterInstall)) {
        this.closeSession(s);
        s = undefined;
      }
    }
    // The install's (upgrade's, rollback's) own record writes: its namespace's DELETEs are its own.
    if (r.verb !== 'list' && r.verb !== 'watch' && this.installing.has(key)) this.installingIn.set(`${actor}\u0000${t.namespace}`, r.time);
    // After its own install, an actor's record writes are the install's, until a `list` starts its
    // next command. A log with no reads shows no `list`: then an uninstall is told from the
    // install's updates by what follows (DELETEs, a purge), so the session is opened, marked.
    const afterInstall = r.verb !== 'list' && r.verb !== 'watch' && this.installing.has(key);
    if (!s) {
      if (this.sessions.size >= this.ctx.opts.maxSessions) {
        this.ctx.overflow.sessions++;
        return;
      }
      s = {
        actorKey: actor,
        user: actingUser(r),
        authUser: r.user,
        userAgent: r.userAgent,
        namespace: t.namespace,
        release: t.release,
        driver: r.resource ?? 'secrets',
        first: r.time,
        last: r.time,
        recordOps: [],
        deletes: [],
        created: new Set(),
        purges: [],
        versions: new Set(),
        ...(afterInstall ? { afterInstall: true } : {}),
      };
      this.sessions.set(key, s);
      const mine = this.byActor.get(actor) ?? new Set<Session>();
      mine.add(s);
      this.byActor.set(actor, mine);
      this.sessionAgents.set(r.userAgent, (this.sessionAgents.get(r.userAgent) ?? 0) + 1);
    }
    s.last = Math.max(s.last, r.time);
    if (t.version !== undefined) s.versions.add(t.version);
    if (!pushCapped(s.recordOps, r, this.ctx.opts.maxRecordsPerSession)) this.ctx.overflow.sessionRecords++;
    // An update after the resource DELETEs is --keep-history marking the release uninstalled.
    if ((r.verb === 'update' || r.verb === 'patch') && ok(r.code) && (s.deletes.length > 0 || r.recordStatus === 'uninstalled')) s.markedUninstalled = r;
    if (r.verb === 'delete' && ok(r.code)) s.purges.push(r);
  }

  /**
   * The session a resource request of this actor belongs to, while it is still deleting: the one
   * whose records live in the request's namespace, when the actor has such an uninstall open (one
   * client running several uninstalls at once, a teardown script or CI job with one set of
   * credentials and one Helm version: their record ops interleave, and each release's own DELETEs
   * are best explained by its own session); none when the actor is installing, upgrading or
   * rolling back a release in that namespace (within the window of that command's last record
   * write); otherwise the one of the release the actor's latest record op touched (an uninstall
   * whose DELETEs go to another namespace). A purged (or marked uninstalled) release takes no
   * more DELETEs: Helm runs post-delete hooks before the purge, so what the same client deletes
   * afterwards belongs to its next command.
   */
  private sessionFor(r: AuditRecord): Session | undefined {
    const actor = this.actorKey(r);
    const current = (s: Session | undefined): s is Session =>
      // A little slack before the first record op: the log orders events by completion.
      s !== undefined && r.time - s.last <= this.ctx.opts.windowMs && r.time >= s.first - 1000;
    // Only a session that wrote its record is uninstalling (Helm marks it `uninstalling` before
    // any DELETE); one that only read records started nothing.
    const uninstalling = (s: Session) => s.recordOps.some((o) => o.verb === 'update' || o.verb === 'patch');
    const here = [...(this.byActor.get(actor) ?? [])].filter((s) => s.namespace === r.namespace && current(s) && uninstalling(s));
    if (here.length > 0) {
      const open = here.filter((s) => s.purges.length === 0 && !s.markedUninstalled);
      // Of several releases uninstalled in one namespace at once, the one the actor touched last.
      const latest = this.sessions.get(`${actor}\u0000${this.lastRelease.get(actor) ?? ''}`);
      return open.find((s) => s === latest) ?? (open.length === 1 ? open[0] : undefined);
    }
    // The same client installing, upgrading or rolling back a release in this namespace right
    // now: the DELETE is that command's.
    const installed = this.installingIn.get(`${actor}\u0000${r.namespace ?? ''}`);
    if (installed !== undefined && r.time - installed <= this.ctx.opts.windowMs && r.time >= installed - 1000) return undefined;
    const release = this.lastRelease.get(actor);
    if (release === undefined) return undefined;
    const s = this.sessions.get(`${actor}\u0000${release}`);
    if (!current(s) || s.purges.length > 0 || s.markedUninstalled) return undefined;
    return s;
  }

  private onCreate(r: AuditRecord): void {
    const s = this.sessionFor(r);
    if (!s || !r.resource || !r.name) return;
    if (s.created.size >= this.ctx.opts.maxRecordsPerSession) {
      this.ctx.overflow.sessionRecords++;
      return;
    }
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
    if (!pushCapped(s.deletes, rec, this.ctx.opts.maxRecordsPerSession)) this.ctx.overflow.sessionRecords++;
    s.last = Math.max(s.last, r.time);
  }

  private closeSession(s: Session): void {
    const key = `${s.actorKey}\u0000${s.namespace}\u0000${s.release}`;
    if (this.sessions.get(key) !== s) return;
    this.sessions.delete(key);
    const mine = this.byActor.get(s.actorKey);
    mine?.delete(s);
    if (mine?.size === 0) this.byActor.delete(s.actorKey);
    const agents = (this.sessionAgents.get(s.userAgent) ?? 1) - 1;
    if (agents > 0) this.sessionAgents.set(s.userAgent, agents);
    else this.sessionAgents.delete(s.userAgent);
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
    const home = releaseHomeFromOwners(
      s.release,
      s.namespace,
      namespaced.map((d) => d.owner),
      (ns) => this.knownReleases.has(`${ns}\u0000${s.release}`),
    );
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
    // 404s, and no other release's object hit, from a client that deletes outside its records'
    // namespace by design (the Helm CLI for a chart's explicit namespaces, Flux's helm-controller
    // for its targetNamespace): most likely objects already gone, which a log without bodies
    // cannot show (low, likelyCorrectUninstall.ts).
    const window = this.ctx.opts.windowMs;
    const sign =
      notFound.length > 0 && hitOther.length === 0
        ? correctUninstallSign(s.userAgent, this.helmReleaseWriters.between(s.authUser, s.userAgent, s.first - window, s.last + window))
        : undefined;
    if (sign) this.reportUnconfirmed(s, sign, { outside, inside, actor, home });
    else if (notFound.length > 0 || hitOther.length > 0) this.reportMisdirected(s, { outside, inside, notFound, hitOther, client, actor, home });

    for (const v of victims.values()) {
      const o = v.owner;
      const refs = v.deletes.map((d) => kubectlRef(d.resource as string, d.apiGroup, d.name as string));
      const how = v.inferred
        ? `release ${o.releaseNamespace}/${o.releaseName} exists (its records were seen in the log) and the deleted objects were in its namespace`
        : `the objects' meta.helm.sh annotations name release ${o.releaseNamespace}/${o.releaseName}`;
      this.ctx.emit({
        id: stableId('cross-release-delete', s.actorKey, s.namespace, s.release, o.releaseNamespace, o.releaseName, String(s.first)),
        code: 'cross-release-delete',
        severity: v.inferred ? 'medium' : 'high',
        title: `uninstall of ${s.namespace}/${s.release} deleted ${v.deletes.length} object(s) of release ${o.releaseNamespace}/${o.releaseName}`,
        detail:
          `While uninstalling release ${s.namespace}/${s.release}, ${s.user} (${s.userAgent}) deleted ${v.deletes.length} object(s) that belong to another release: ${how}. ` +
          `That release's objects are gone while its records still say it is installed.`,
        firstSeen: v.deletes[0]?.timestamp ?? iso(s.first),
        lastSeen: v.deletes[v.deletes.length - 1]?.timestamp ?? iso(s.last),
        namespaces: dedupe([s.namespace, o.releaseNamespace]),
        release: { namespace: s.namespace, name: s.release },
        actor,
        objects: v.deletes.map((d) => ({
          resource: d.resource as string,
          apiGroup: d.apiGroup ?? '',
          namespace: d.namespace as string,
          name: d.name as string,
          state: 'deleted' as const,
        })),
        evidence: v.deletes
          .slice(0, MAX_EVIDENCE)
          .map((d) => evidenceOf(d, `deleted ${d.namespace}/${d.name} of release ${o.releaseNamespace}/${o.releaseName}`)),
        remedy: [
          `Restore release ${o.releaseNamespace}/${o.releaseName}: helm rollback ${o.releaseName} -n ${o.releaseNamespace} (re-creates the deleted objects from its current revision), or helm upgrade it with the same chart and values.`,
          `Check what else it lost: helm get manifest ${o.releaseName} -n ${o.releaseNamespace} | kubectl get -f - (deleted: ${refs.slice(0, 20).join(' ')})`,
          `Fix the uninstalling program so its kube client uses ${s.namespace}: settings.SetNamespace("${s.namespace}") before cfg.Init (helm/helm#12766).`,
        ],
      });
    }
  }

  private reportMisdirected(
    s: Session,
    x: {
      outside: AuditRecord[];
      inside: AuditRecord[];
      notFound: AuditRecord[];
      hitOther: AuditRecord[];
      client: ReturnType<typeof classifyUserAgent>;
      actor: { user: string; userAgent: string; client: string };
      home: string;
    },
  ): void {
    const { outside, inside, notFound, hitOther, client, home } = x;
    const purged = s.purges.length > 0;
    const marked = s.markedUninstalled !== undefined;
    const elsewhere = [...new Set(outside.map((d) => d.namespace as string))].sort();
    const recordDesc = this.recordDesc(s);
    const clientDesc =
      client.kind === 'helm-cli'
        ? `Helm's kube client (${s.userAgent}: the Helm CLI, or a Go program using the Helm SDK)`
        : client.kind === 'helm-sdk'
          ? `a Go program using the Helm SDK (${s.userAgent}: the SDK's built-in version string)`
          : client.kind === 'client-go'
            ? `the Go program "${client.program}" (client-go's default user agent ${s.userAgent}), driving the Helm SDK`
            : `${s.userAgent || 'an unknown client'}`;
    const ending = purged
      ? `then purged the release records (${recordDesc}) in ${s.namespace}`
      : marked
        ? `then marked the release uninstalled (--keep-history) in ${s.namespace}`
        : `the release records in ${s.namespace} were not purged in the log (the uninstall may have failed or the log ends)`;
    const what = [notFound.length > 0 ? `${notFound.length}× 404` : '', hitOther.length > 0 ? `${hitOther.length} deleted another release's objects` : '']
      .filter((t) => t !== '')
      .join(', ');
    const detail = [
      `Release ${s.namespace}/${s.release} was uninstalled by ${s.user} through ${clientDesc} between ${iso(s.first)} and ${iso(s.last)}.`,
      `Its release records live in ${s.namespace}, but ${outside.length} of its DELETEs went to ${elsewhere.join(', ')}` +
        (inside.length > 0 ? ` (and ${inside.length} to ${home})` : ` and none to ${home}`) +
        '.',
      notFound.length > 0
        ? `${notFound.length} were answered 404 Not Found: there was nothing to delete there. Helm ignores NotFound and counts those objects as deleted.`
        : '',
      hitOther.length > 0
        ? `${hitOther.length} succeeded on objects of another release (see the cross-release-delete finding), not on this release's own.`
        : '',
      `Helm ${ending}.`,
      purged || marked ? `\`helm list -n ${s.namespace}\` no longer shows the release, but its resources are very likely still running in ${home}.` : '',
      `This is the Helm SDK pitfall of helm/helm#12766: action.Configuration.Init(getter, "${s.namespace}", ...) puts release storage in ${s.namespace} while the kube client keeps the getter's namespace (${elsewhere.join(', ')}).`,
    ]
      .filter((t) => t !== '')
      .join(' ');
    const leftovers = [...notFound, ...hitOther].map((d) => ({
      resource: d.resource as string,
      apiGroup: d.apiGroup ?? '',
      namespace: home,
      name: d.name as string,
      state: 'likely-still-present' as const,
    }));
    const refs = dedupe(leftovers.map((o) => kubectlRef(o.resource, o.apiGroup, o.name)));
    const remedy = [
      `Confirm what is still there: kubectl get -n ${home} ${refs.join(' ')}`,
      `List everything of the release: kubectl get all -n ${home} -l app.kubernetes.io/instance=${s.release} (chart convention; objects also carry the annotation meta.helm.sh/release-name=${s.release})`,
      `Either delete the leftovers: kubectl delete -n ${home} ${refs.join(' ')}`,
      `or re-create the release so Helm owns them again (they still carry its annotations), then uninstall it correctly: helm install ${s.release} CHART -n ${s.namespace} && helm uninstall ${s.release} -n ${s.namespace}`,
      `Fix the program that uninstalled it: call settings.SetNamespace("${s.namespace}") before cfg.Init(settings.RESTClientGetter(), "${s.namespace}", ...) so release storage and the kube client agree (helm/helm#12766).` +
        (client.kind === 'helm-cli' ? ' If it was the Helm CLI itself, check how it was invoked (kube context, --namespace, HELM_NAMESPACE).' : ''),
    ];
    this.ctx.emit({
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
      objects: [
        ...leftovers,
        ...outside
          .filter((d) => ok(d.code))
          .map((d) => ({
            resource: d.resource as string,
            apiGroup: d.apiGroup ?? '',
            namespace: d.namespace as string,
            name: d.name as string,
            state: 'deleted' as const,
          })),
      ],
      evidence: this.sessionEvidence(s, outside, inside),
      remedy,
    });
  }

  private reportUnconfirmed(
    s: Session,
    sign: CorrectUninstallSign,
    x: { outside: AuditRecord[]; inside: AuditRecord[]; actor: { user: string; userAgent: string; client: string }; home: string },
  ): void {
    const asDelete = (d: AuditRecord) => ({
      namespace: d.namespace as string,
      ref: kubectlRef(d.resource as string, d.apiGroup, d.name as string),
      code: d.code,
    });
    const versions = [...s.versions].sort((a, b) => a - b);
    const latest = versions[versions.length - 1];
    const text = unconfirmedUninstallText({
      sign,
      releaseNamespace: s.namespace,
      home: x.home,
      release: s.release,
      user: s.user,
      userAgent: s.userAgent,
      first: s.first,
      last: s.last,
      ending: s.purges.length > 0 ? 'purged' : s.markedUninstalled ? 'marked' : 'open',
      recordDesc: this.recordDesc(s),
      latestRecord: latest === undefined ? undefined : `${s.driver}/sh.helm.release.v1.${s.release}.v${latest}`,
      outside: x.outside.map(asDelete),
      inside: x.inside.map(asDelete),
    });
    this.ctx.emit({
      id: stableId('misdirected-uninstall', s.actorKey, s.namespace, s.release, String(s.first)),
      code: 'misdirected-uninstall',
      severity: 'low',
      title: text.title,
      detail: text.detail,
      firstSeen: iso(s.first),
      lastSeen: iso(s.last),
      namespaces: dedupe([s.namespace, x.home, ...x.outside.map((d) => d.namespace as string)]),
      release: { namespace: s.namespace, name: s.release },
      actor: x.actor,
      // Nothing is known to be left anywhere: the objects are named in the remedy's look-ups.
      objects: [],
      evidence: this.sessionEvidence(s, x.outside, x.inside, 'unconfirmed'),
      remedy: text.remedy,
    });
  }

  private recordDesc(s: Session): string {
    const versions = [...s.versions].sort((a, b) => a - b);
    return `${s.driver === 'configmaps' ? 'ConfigMaps' : 'Secrets'} sh.helm.release.v1.${s.release}.v{${versions.join(',') || '?'}}`;
  }

  private sessionEvidence(s: Session, outside: AuditRecord[], inside: AuditRecord[], reading: 'misdirected' | 'unconfirmed' = 'misdirected'): Evidence[] {
    const ev: Array<{ t: number; e: Evidence }> = [];
    for (const r of s.recordOps) {
      const what =
        r.verb === 'delete'
          ? ok(r.code)
            ? 'purge of a release record'
            : 'release record delete failed'
          : r.verb === 'update' || r.verb === 'patch'
            ? r === s.markedUninstalled
              ? 'release record marked uninstalled'
              : 'release record updated (uninstalling)'
            : 'release record read';
      ev.push({ t: r.time, e: evidenceOf(r, what) });
    }
    for (const d of outside) {
      ev.push({
        t: d.time,
        e: evidenceOf(
          d,
          d.code === 404
            ? reading === 'unconfirmed'
              ? `404: nothing in ${d.namespace} (already gone, or never there)`
              : `404: nothing in ${d.namespace}, ${s.namespace}/${d.name} never deleted`
            : ok(d.code)
              ? `deleted ${d.namespace}/${d.name}, outside the release namespace`
              : `failed (${d.code})`,
        ),
      });
    }
    for (const d of inside) ev.push({ t: d.time, e: evidenceOf(d, 'DELETE in the release namespace') });
    ev.sort((a, b) => a.t - b.t);
    const out = ev.map((x) => x.e);
    if (out.length <= MAX_EVIDENCE) return out;
    // Keep the first record reads, all DELETE 404s that fit, and the purge at the end.
    return [...out.slice(0, MAX_EVIDENCE - 10), ...out.slice(-10)];
  }
}
