// Detector: namespace deletions that raced the removal of their finalizers' controller
// (namespace-finalizer-race) and deletions that never completed (namespace-deletion-incomplete).
// Which finalizers and controllers count comes from the same registry admission reads.
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { matchesLabelSelector, parseLabelSelector, type Requirement } from '../k8s/labelSelector.ts';
import { OLM_CSV_CLEANUP_GUARD, OLM_DEFAULT_NAMESPACES } from '../olm/finalizerGuards.ts';
import type { AuditRecord } from './event.ts';
import { actingUser, classifyUserAgent } from './event.ts';
import type { Evidence, FindingObject } from './findings.ts';
import { evidenceOf } from './findings.ts';
import { BoundedMap, dedupe, describeGap, NAMESPACE_CONTROLLER_USERS, ok, stableId, type DetectorContext } from './correlation.ts';

/** A namespace deletion still in progress when the input ended (not a finding). */
export interface PendingNamespaceDeletion {
  namespace: string;
  deletedAt: string;
  user: string;
  lastSeenAt?: string;
}

interface NamespaceDeletion {
  namespace: string;
  deletedBy: AuditRecord;
  completedBy?: AuditRecord;
  /** Latest request showing the namespace still exists. */
  lastAlive?: AuditRecord;
  /** Retries answered 409 and other telling events (capped). */
  notes: Array<{ rec: AuditRecord; note: string }>;
  race?: { rec: AuditRecord; what: string; guard: FinalizerGuard };
  /** Objects in it seen being deleted but held by finalizers (from logged list/get responses). */
  held: Map<string, { resource: string; apiGroup: string; name: string; finalizers: string[] }>;
  reported: boolean;
}

interface ControllerRemoval {
  rec: AuditRecord;
  what: string;
  namespace: string;
  guard: FinalizerGuard;
}

export class NamespaceDeletionDetector {
  private readonly ctx: DetectorContext;
  /** Namespace deletions seen and not yet decided (the reader's fast path must keep their lines). */
  readonly pendingNs = new Map<string, NamespaceDeletion>();
  /** Namespaces a guarded finalizer's controller was seen running in (its Deployment), and which guard. */
  private readonly controllerNamespaces = new Map<string, FinalizerGuard>();
  /** Namespaces objects of a guarded kind were seen in, and which guard. */
  private readonly guardedNamespaces: BoundedMap<string, FinalizerGuard>;
  private controllerRemovals: ControllerRemoval[] = [];
  private readonly selectors: Array<{ guard: FinalizerGuard; selector: Requirement[]; conventionalName?: string }>;

  constructor(ctx: DetectorContext) {
    this.ctx = ctx;
    this.guardedNamespaces = new BoundedMap(ctx.opts.maxKnownReleases);
    this.selectors = ctx.opts.finalizerGuards.map((guard) => {
      const selector = parseLabelSelector(guard.controller.deploymentSelector);
      // Logs at Metadata level show no labels: `app=NAME` selectors also match a Deployment named NAME.
      const only = selector.length === 1 ? selector[0] : undefined;
      const conventionalName = only && only.key === 'app' && only.op === 'in' && only.values.length === 1 ? only.values[0] : undefined;
      return conventionalName ? { guard, selector, conventionalName } : { guard, selector };
    });
    for (const ns of OLM_DEFAULT_NAMESPACES) {
      if (ctx.opts.finalizerGuards.includes(OLM_CSV_CLEANUP_GUARD)) this.controllerNamespaces.set(ns, OLM_CSV_CLEANUP_GUARD);
    }
  }

  /** The guard whose controller this Deployment request concerns, by its logged labels or its conventional name. */
  private controllerGuard(r: AuditRecord): FinalizerGuard | undefined {
    if (r.resource !== 'deployments' || r.apiGroup !== 'apps' || !r.namespace || !r.name) return undefined;
    for (const s of this.selectors) {
      if (r.labels ? matchesLabelSelector(s.selector, r.labels) : s.conventionalName === r.name) return s.guard;
    }
    return undefined;
  }

  private guardOfObject(r: AuditRecord): FinalizerGuard | undefined {
    return this.ctx.opts.finalizerGuards.find((g) => g.resource.resource === r.resource && g.resource.group === (r.apiGroup ?? ''));
  }

  push(r: AuditRecord): void {
    this.onNamespaceActivity(r);
  }

  /** Forgets controller removals and completed deletions older than `horizonMs`; in live mode reports what waited long enough. */
  sweep(nowMs: number, horizonMs: number): void {
    if (this.controllerRemovals.length > 0) this.controllerRemovals = this.controllerRemovals.filter((c) => c.rec.time >= horizonMs);
    const stuckAfter = this.ctx.opts.reportStuckNamespacesAfterMs;
    for (const [k, p] of this.pendingNs) {
      if (p.completedBy) {
        if (p.completedBy.time < horizonMs) {
          this.decideNamespace(p, false);
          this.pendingNs.delete(k);
        }
        continue;
      }
      if (stuckAfter !== undefined && nowMs - p.deletedBy.time >= stuckAfter) {
        // Live mode: waited long enough; report what is known, then forget it.
        this.decideNamespace(p, true);
        this.pendingNs.delete(k);
      }
    }
  }

  flush(decideNamespaces: boolean): void {
    for (const p of this.pendingNs.values()) this.decideNamespace(p, decideNamespaces);
  }

  /** Deletions neither completed nor reported. */
  pending(): PendingNamespaceDeletion[] {
    const out: PendingNamespaceDeletion[] = [];
    for (const p of this.pendingNs.values()) {
      if (p.completedBy || p.reported) continue;
      const item: PendingNamespaceDeletion = { namespace: p.namespace, deletedAt: p.deletedBy.timestamp, user: actingUser(p.deletedBy) };
      if (p.lastAlive) item.lastSeenAt = p.lastAlive.timestamp;
      out.push(item);
    }
    return out;
  }

  /** Deletions not yet completed nor reported (for stats). */
  openCount(): number {
    return [...this.pendingNs.values()].filter((p) => !p.completedBy && !p.reported).length;
  }

  private onNamespaceActivity(r: AuditRecord): void {
    // A guarded finalizer's controller, and its removal.
    const controller = this.controllerGuard(r);
    if (controller && r.namespace) {
      this.controllerNamespaces.set(r.namespace, controller);
      if (r.verb === 'delete' && ok(r.code) && !r.subresource) {
        this.controllerRemoved({
          rec: r,
          what: `Deployment ${r.namespace}/${r.name ?? ''} (${controller.controller.displayName}) was deleted`,
          namespace: r.namespace,
          guard: controller,
        });
      }
    }
    const guarded = r.namespace ? this.guardOfObject(r) : undefined;
    if (guarded && r.namespace) {
      this.guardedNamespaces.set(r.namespace, guarded);
      const p = this.pendingNs.get(r.namespace);
      if (
        p &&
        !p.completedBy &&
        ok(r.code) &&
        NAMESPACE_CONTROLLER_USERS.has(actingUser(r)) &&
        (r.verb === 'delete' || r.verb === 'deletecollection') &&
        !p.notes.some((n) => n.rec.verb === r.verb)
      ) {
        const kind = guarded.resource.kind;
        p.notes.push({
          rec: r,
          note: `namespace controller deleted ${r.name ? `${kind} ${r.name}` : `the ${kind}s`}; only ${guarded.controller.displayName} removes their ${guarded.finalizer} finalizer`,
        });
      }
    }
    if (r.finalizing && r.namespace && ok(r.code)) {
      const p = this.pendingNs.get(r.namespace);
      if (p && !p.completedBy) {
        for (const f of r.finalizing) {
          const key = `${r.resource ?? ''}/${f.name}`;
          const first = !p.held.has(key);
          p.held.set(key, { resource: r.resource ?? '', apiGroup: r.apiGroup ?? '', name: f.name, finalizers: f.finalizers });
          if (first && p.notes.length < 20)
            p.notes.push({ rec: r, note: `${r.resource ?? 'object'} ${f.name} is being deleted but still held by finalizer(s) ${f.finalizers.join(', ')}` });
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
        if (NAMESPACE_CONTROLLER_USERS.has(user) && (ok(r.code) || r.code === 404)) {
          p.completedBy = r;
          return;
        }
        if (r.code === 404) {
          p.completedBy = r;
          return;
        }
        if (r.code === 409 || ok(r.code)) {
          p.lastAlive = r;
          if (p.notes.length < 20) p.notes.push({ rec: r, note: 'namespace still Terminating (DELETE repeated)' });
        }
        return;
      }
      if (!ok(r.code) || NAMESPACE_CONTROLLER_USERS.has(user)) return;
      if (this.pendingNs.size >= this.ctx.opts.maxPendingNamespaces) {
        this.dropCompletedNamespaces();
      }
      if (this.pendingNs.size >= this.ctx.opts.maxPendingNamespaces) {
        this.ctx.overflow.namespaces++;
        return;
      }
      const d: NamespaceDeletion = { namespace: ns, deletedBy: r, notes: [], held: new Map(), reported: false };
      this.pendingNs.delete(ns);
      this.pendingNs.set(ns, d);
      // Namespace deleted after (or while) its finalizers' controller went away.
      const race = this.controllerRemovals.find((c) => c.namespace !== ns && Math.abs(r.time - c.rec.time) <= this.ctx.opts.windowMs);
      if (race) d.race = { rec: race.rec, what: race.what, guard: race.guard };
      const hosted = this.controllerNamespaces.get(ns);
      if (hosted) {
        this.controllerRemoved({ rec: r, what: `namespace ${ns}, home of ${hosted.controller.displayName}, was deleted`, namespace: ns, guard: hosted });
      }
      return;
    }
    if (!p || p.completedBy || r.time < p.deletedBy.time) return;
    if (r.verb === 'get' && r.code === 404 && !r.subresource) {
      p.completedBy = r;
      return;
    }
    if (r.verb === 'create' && ok(r.code)) {
      p.completedBy = r;
      return;
    }
    if (r.verb === 'update' && r.subresource === 'finalize' && ok(r.code)) {
      p.completedBy = r;
      return;
    }
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
      if (Math.abs(p.deletedBy.time - c.rec.time) <= this.ctx.opts.windowMs) p.race = { rec: c.rec, what: c.what, guard: c.guard };
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
    const grace = this.ctx.opts.windowMs;
    const completedAfter = p.completedBy ? p.completedBy.time - p.deletedBy.time : undefined;
    const lingered = p.lastAlive ? p.lastAlive.time - p.deletedBy.time : 0;
    const stuck = completedAfter === undefined && lingered >= grace;
    const hung = completedAfter !== undefined && completedAfter >= grace;
    // A race matters where the controller's finalizers plausibly were: guarded objects seen in the
    // namespace, objects seen held, or the namespace visibly hanging.
    const plausible = this.guardedNamespaces.has(p.namespace) || p.held.size > 0 || stuck || hung;
    if (p.race && plausible) {
      if (!stuck && !hung && !(atEnd && completedAfter === undefined)) return;
    } else if (!stuck) return;
    p.reported = true;
    const ns = p.namespace;
    const evidence: Evidence[] = [];
    if (p.race) evidence.push(evidenceOf(p.race.rec, p.race.what));
    evidence.push(evidenceOf(p.deletedBy, `namespace ${ns} deleted`));
    for (const n of p.notes) evidence.push(evidenceOf(n.rec, n.note));
    if (p.lastAlive && !p.notes.some((n) => n.rec === p.lastAlive))
      evidence.push(evidenceOf(p.lastAlive, `namespace ${ns} still exists ${Math.round(lingered / 1000)}s after its deletion`));
    if (hung && p.completedBy) evidence.push(evidenceOf(p.completedBy, `namespace ${ns} finally removed`));
    evidence.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    const seenGuard = this.guardedNamespaces.get(ns);
    const guard = p.race?.guard ?? seenGuard ?? this.ctx.opts.finalizerGuards[0] ?? OLM_CSV_CLEANUP_GUARD;
    const kinds = `${guard.resource.kind}s`;
    const held = [...p.held.values()];
    const heldGuarded = held.filter((h) => h.resource === guard.resource.resource).map((h) => h.name);
    const names = heldGuarded.length > 0 ? heldGuarded : ['NAME'];
    const remedy = [
      `See what holds it: kubectl get namespace ${ns} -o jsonpath='{.status.conditions}' (NamespaceFinalizersRemaining / NamespaceContentRemaining name the finalizers)`,
      `List what is left: kubectl api-resources --verbs=list --namespaced -o name | xargs -n1 kubectl get -n ${ns} --ignore-not-found --show-kind`,
      `If ${kinds} remain: bring ${guard.controller.displayName} back (reinstall it or scale its Deployment up) and it finishes the cleanup; or remove the finalizer by hand: ${names.map((n) => `kubectl patch ${guard.resource.resource}.${guard.resource.group} ${n} -n ${ns} --type=merge -p '{"metadata":{"finalizers":null}}'`).join('; ')}`,
      ...(guard.cleanupHint
        ? [`then delete what ${guard.controller.displayName} would have cleaned up: ${names.flatMap((n) => guard.cleanupHint?.(ns, n) ?? []).join('; ')}`]
        : []),
      `Next time: delete the operator's namespace while ${guard.controller.displayName} is still running (e.g. a pre-delete hook, as Pixie's fix does), and keep teardown-guard's olm-orphaned-finalizers policy in enforce mode.`,
    ];
    const heldText =
      held.length > 0
        ? ` Still held when last seen: ${held
            .slice(0, 10)
            .map((h) => `${h.resource} ${h.name} (${h.finalizers.join(', ')})`)
            .join('; ')}.`
        : '';
    const objects: FindingObject[] = [
      { resource: 'namespaces', apiGroup: '', name: ns, state: 'deletion-stuck' },
      ...held.map((h) => ({ resource: h.resource, apiGroup: h.apiGroup, namespace: ns, name: h.name, state: 'deletion-stuck' as const })),
    ];
    const stuckText =
      hung && p.completedBy
        ? `It hung in Terminating for ${Math.round((completedAfter ?? 0) / 1000)}s until ${p.completedBy.timestamp}.`
        : stuck
          ? `It still existed ${Math.round(lingered / 1000)}s later (${p.lastAlive?.timestamp}) and the log shows no sign that its deletion completed.`
          : `The log does not show its deletion completing${p.lastAlive ? ` (last seen ${p.lastAlive.timestamp})` : ''}.`;
    if (p.race && plausible) {
      this.ctx.emit({
        id: stableId('namespace-finalizer-race', ns, p.deletedBy.timestamp),
        code: 'namespace-finalizer-race',
        severity: stuck || hung ? 'high' : 'medium',
        title: `namespace ${ns} deleted ${describeGap(p.deletedBy.time - p.race.rec.time)} ${p.race.what.replace(/ was deleted$/, '')} was removed: its finalizers have no controller`,
        detail:
          `${p.race.what} at ${p.race.rec.timestamp}; ${actingUser(p.deletedBy)} deleted namespace ${ns} at ${p.deletedBy.timestamp}. ` +
          `Objects in ${ns} whose finalizers only that controller removes (${seenGuard ? `${kinds} were seen there; ` : ''}${guard.finalizer}) cannot be finalized, so the namespace hangs in Terminating. ${stuckText}${heldText}`,
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
    this.ctx.emit({
      id: stableId('namespace-deletion-incomplete', ns, p.deletedBy.timestamp),
      code: 'namespace-deletion-incomplete',
      severity: seenGuard || held.length > 0 ? 'high' : 'medium',
      title: `namespace ${ns} deleted at ${p.deletedBy.timestamp} never finished terminating in the log`,
      detail:
        `${actingUser(p.deletedBy)} deleted namespace ${ns} at ${p.deletedBy.timestamp}. ${stuckText}${heldText} ` +
        (seenGuard
          ? `${kinds} were seen in ${ns}: their ${guard.finalizer} finalizer needs a running ${guard.controller.displayName}.`
          : 'Some object in it keeps a finalizer that nothing removes.'),
      firstSeen: evidence[0]?.time ?? p.deletedBy.timestamp,
      lastSeen: evidence[evidence.length - 1]?.time ?? p.deletedBy.timestamp,
      namespaces: [ns],
      actor: { user: actingUser(p.deletedBy), userAgent: p.deletedBy.userAgent, client: classifyUserAgent(p.deletedBy.userAgent).kind },
      objects,
      evidence,
      remedy,
    });
  }
}
