// Proof that the guard was in the request path of a scenario "with the guard". The shipped
// webhooks use failurePolicy: Ignore, so a guard that crashed, was never registered or never came
// back after a restart allows everything, and a scenario that asserts only that nothing happened
// (no denial, no warning) passes just as well without it. At the end of such a scenario:
//   - every request the scenario made that the guard's webhooks intercept has the guard's
//     decision line (matched by operation, user and object, as often as the request was made);
//   - no request since the mark carries kube-apiserver's fail-open annotation for one of the
//     guard's webhooks;
//   - the scenario made at least one such request, so the proof is never vacuous.
// Which requests the webhooks intercept is read from the API server's own audit log with the
// rules of manifests/base/validatingwebhookconfiguration.yaml that an audit event shows (kind,
// name, user, answer); requests it cannot tell (a Helm-owned object's DELETE: its labels are not
// in a Metadata-level event) are left out, so the set is a lower bound, never a guess.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { repoRoot } from '../cluster/paths.ts';
import { sleep } from '../cluster/proc.ts';
import { auditEventsSince, auditOffset, type AuditEvent } from './harness.ts';

/**
 * The key kube-apiserver puts on a request's audit event when a validating webhook with
 * failurePolicy Ignore could not be called: `failed-open.validating.webhook.admission.k8s.io/
 * round_0_index_N`, the value being the webhook's name (k8s.io/apiserver
 * pkg/admission/plugin/webhook/validating/dispatcher.go, ValidatingAuditAnnotationFailedOpenKeyPrefix).
 */
export const FAILED_OPEN_PREFIX = 'failed-open.validating.webhook.admission.k8s.io/';

/** A decision line of the guard's log (src/log.ts logDecision; fields of admission/engine.ts Decision). */
export interface GuardDecision {
  uid: string;
  policy: string;
  verdict: string;
  object: string;
  operation: string;
  user: string;
  reason?: string;
  latencyMs?: number;
}

/** Where a guard's decision lines are read, wherever it runs (host process or Pods). */
export interface DecisionLog {
  decisions(): Promise<GuardDecision[]>;
}

/** Parses the decision lines out of log text (JSON lines; `kubectl logs --prefix` puts a prefix before each). */
export function decisionsIn(lines: Iterable<string>): GuardDecision[] {
  const out: GuardDecision[] = [];
  for (const line of lines) {
    if (!line.includes('"msg":"decision"')) continue;
    const json = line.slice(line.indexOf('{'));
    try {
      out.push(JSON.parse(json) as GuardDecision);
    } catch {
      // A line cut by a restart is not a decision.
    }
  }
  return out;
}

/** The names of the guard's webhooks (the values of its fail-open annotations). */
export function guardWebhookNames(): string[] {
  const manifest = join(repoRoot, 'manifests', 'base', 'validatingwebhookconfiguration.yaml');
  const doc = parseYaml(readFileSync(manifest, 'utf8')) as { webhooks?: Array<{ name: string }> };
  return (doc.webhooks ?? []).map((w) => w.name);
}

// matchConditions of every webhook: the namespace controller and the garbage collector are never sent.
const NEVER_SENT_USERS = new Set(['system:serviceaccount:kube-system:namespace-controller', 'system:serviceaccount:kube-system:generic-garbage-collector']);
// namespaceSelectors: kube-system (namespaces webhook) and the guard's own namespace are never sent.
const NEVER_SENT_NAMESPACES = new Set(['kube-system', 'teardown-guard']);
const KINDS: Record<string, string> = {
  namespaces: 'Namespace',
  secrets: 'Secret',
  configmaps: 'ConfigMap',
  clusterroles: 'ClusterRole',
  clusterrolebindings: 'ClusterRoleBinding',
};

interface NamespaceBody {
  metadata?: { uid?: string; deletionTimestamp?: string };
}

const isDryRun = (e: AuditEvent & { requestURI?: string }) => /[?&]dryRun=/.test(e.requestURI ?? '');

/**
 * Whether admission ran for this DELETE: it was answered 200/202, or refused by an admission
 * webhook. A 404 (nothing to delete), an RBAC 403 or a conflict never reach a webhook.
 */
function admitted(e: AuditEvent & { responseStatus?: { code?: number; message?: string } }): boolean {
  const code = e.responseStatus?.code;
  if (code === 200 || code === 202) return true;
  return code === 403 && /admission webhook .* denied the request/.test(e.responseStatus?.message ?? '');
}

/** A request of `events` the guard's webhooks intercept, as the key its decision line carries. */
export interface InterceptedRequest {
  key: string;
  at: string;
}

/**
 * The DELETEs of `events` that the guard's webhooks certainly intercept (see the file header).
 * A Namespace already Terminating is not sent again: kube-apiserver answers a second DELETE
 * without admission (pkg/registry/core/namespace/storage REST.Delete), so only the DELETE that
 * set its deletionTimestamp (or a dry run) counts.
 */
export function interceptedRequests(events: AuditEvent[]): InterceptedRequest[] {
  const out: InterceptedRequest[] = [];
  const terminating = new Set<string>();
  for (const raw of events) {
    const e = raw as AuditEvent & { requestURI?: string; responseObject?: NamespaceBody; responseStatus?: { code?: number; message?: string } };
    if (e.stage !== 'ResponseComplete' || e.verb !== 'delete') continue;
    const user = e.user?.username ?? '';
    const ref = e.objectRef;
    const kind = KINDS[ref?.resource ?? ''];
    if (!ref?.name || !kind) continue;
    if (NEVER_SENT_USERS.has(user) || !admitted(e)) continue;
    const group = ref.apiGroup ?? '';
    let object: string | undefined;
    if (kind === 'Namespace' && group === '') {
      if (NEVER_SENT_NAMESPACES.has(ref.name)) continue;
      if (!isDryRun(e) && e.responseStatus?.code !== 403) {
        const uid = e.responseObject?.metadata?.uid ?? ref.name;
        const since = e.responseObject?.metadata?.deletionTimestamp;
        const received = Date.parse(e.requestReceivedTimestamp ?? '');
        // The deletionTimestamp has whole seconds: this request set it if it is not older than the second it came in.
        if (terminating.has(uid) || (since && Date.parse(since) < Math.floor(received / 1000) * 1000)) continue;
        terminating.add(uid);
      }
      object = `Namespace ${ref.name}`;
    } else if ((kind === 'Secret' || kind === 'ConfigMap') && group === '' && ref.namespace) {
      // Helm's release records (label owner=helm, name sh.helm.release.v1.R.vN): the release-records webhook.
      if (!ref.name.startsWith('sh.helm.release.v1.') || ref.namespace === 'teardown-guard') continue;
      object = `${kind} ${ref.namespace}/${ref.name}`;
    } else if ((kind === 'ClusterRole' || kind === 'ClusterRoleBinding') && group === 'rbac.authorization.k8s.io') {
      // The controller-rbac webhook: every ClusterRole/Binding DELETE.
      object = `${kind} ${ref.name}`;
    }
    if (object) out.push({ key: `DELETE ${user} ${object}`, at: e.requestReceivedTimestamp ?? '' });
  }
  return out;
}

export interface GuardPathReport {
  /** Intercepted requests the scenario made. */
  intercepted: number;
  /** Decisions the guard logged since the mark (one per policy per request). */
  decisions: number;
}

export interface GuardPathMark {
  /**
   * Checks everything since the mark (the file header), retrying for a few seconds while the
   * audit log and the guard's log catch up; throws naming what is missing.
   */
  verify(o?: { timeoutMs?: number }): Promise<GuardPathReport>;
}

/** Marks the start of a scenario's with-guard part: its audit-log offset and the decisions already logged. */
export async function markGuardPath(cp: ControlPlane, log: DecisionLog): Promise<GuardPathMark> {
  const from = auditOffset(cp);
  const before = new Set((await log.decisions()).map((d) => d.uid));
  const webhooks = new Set(guardWebhookNames());
  return {
    async verify(o = {}) {
      const deadline = Date.now() + (o.timeoutMs ?? 10_000);
      for (;;) {
        const events = auditEventsSince(cp, from);
        const decisions = (await log.decisions()).filter((d) => !before.has(d.uid));
        const problems = guardPathProblems(events, decisions, webhooks);
        if (!problems.length) {
          return { intercepted: interceptedRequests(events).length, decisions: decisions.length };
        }
        if (Date.now() > deadline) {
          throw new Error(`the guard was not in the path of every request of this scenario:\n  ${problems.join('\n  ')}`);
        }
        await sleep(500);
      }
    },
  };
}

/** What breaks the proof for these audit events and these (new) decisions; empty when it holds. */
export function guardPathProblems(events: AuditEvent[], decisions: GuardDecision[], webhooks: Set<string>): string[] {
  const problems: string[] = [];
  const failedOpen = events.filter((e) => Object.entries(e.annotations ?? {}).some(([k, v]) => k.startsWith(FAILED_OPEN_PREFIX) && webhooks.has(v)));
  for (const e of failedOpen) {
    problems.push(
      `failed open (the API server could not call the guard): ${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace ?? ''}/${e.objectRef?.name ?? ''}`,
    );
  }
  const intercepted = interceptedRequests(events);
  if (intercepted.length === 0) problems.push('the scenario made no request the guard intercepts: nothing shows the guard was asked');
  // One decision line per policy per request: count requests by uid.
  const answered = new Map<string, Set<string>>();
  for (const d of decisions) {
    const key = `${d.operation} ${d.user} ${d.object}`;
    const uids = answered.get(key) ?? new Set<string>();
    uids.add(d.uid);
    answered.set(key, uids);
  }
  const wanted = new Map<string, number>();
  for (const r of intercepted) wanted.set(r.key, (wanted.get(r.key) ?? 0) + 1);
  for (const [key, n] of wanted) {
    const got = answered.get(key)?.size ?? 0;
    if (got < n) problems.push(`no decision of the guard for ${n - got} of ${n} request(s) ${key}`);
  }
  return problems;
}
