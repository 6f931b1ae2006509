// The storm section's bookkeeping (test/bench/storm.ts), kept free of I/O so it can be checked on
// fixtures: which namespaces a storm plants, what each DELETE's answer means, and what the guard's
// /metrics text says. A storm passes when the guard denied exactly the planted namespaces, and
// every other DELETE was allowed with the guard's own answer (not by kube-apiserver failing open).

/** One namespace of a storm: plain (ConfigMaps) or planted to hang (a CSV with csv-cleanup, no OLM). */
export interface StormNamespace {
  name: string;
  wouldHang: boolean;
  configMaps: number;
}

/** Every how-many-th namespace is planted to hang: 5 %, a few per client at 50 clients. */
export const WOULD_HANG_EVERY = 20;

/** The storm's namespaces: `count` names under `prefix`, every WOULD_HANG_EVERY-th planted, one or two ConfigMaps each. */
export function planStorm(prefix: string, count: number): StormNamespace[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}${String(i).padStart(4, '0')}`,
    // Offset so a planted namespace is neither the first nor the last of a client's share.
    wouldHang: i % WOULD_HANG_EVERY === WOULD_HANG_EVERY / 2,
    configMaps: 1 + (i % 2),
  }));
}

/** Client `c` of `clients` takes every clients-th namespace from its index on, so each loop holds planted ones alike. */
export function shareOf<T>(items: readonly T[], c: number, clients: number): T[] {
  return items.filter((_, i) => i % clients === c);
}

/** What a client saw for one DELETE. */
export interface DeleteOutcome {
  name: string;
  /** HTTP status; 0 when no answer came (timeout, connection error). */
  status: number;
  ms: number;
  /** The answer's message (a denial's reason), shortened. */
  message: string;
}

/** The webhook of the guard that namespace DELETEs go to (manifests/base/validatingwebhookconfiguration.yaml). */
export const NAMESPACE_WEBHOOK = 'namespaces.teardown-guard.io';

/** kube-apiserver's answer when a validating webhook denied: `admission webhook "<name>" denied the request: ...`. */
export function deniedByGuard(o: DeleteOutcome): boolean {
  return o.status === 403 && o.message.includes(`admission webhook "${NAMESPACE_WEBHOOK}" denied`);
}

export interface StormTally {
  sent: number;
  allowed: number;
  denied: number;
  /** Denied, yet planted to hang: the guard's job. */
  deniedPlanted: number;
  planted: number;
  /** Denied though plain: a false positive. */
  wrongDenials: string[];
  /** Planted, yet allowed: a namespace left Terminating. */
  missedHangs: string[];
  /** Neither allowed nor denied by the guard (timeouts, 5xx, other refusals). */
  errors: string[];
  /** Allowed with kube-apiserver's failed-open annotation for one of the guard's webhooks. */
  failedOpenAnnotated: string[];
  /** Allowed with no decision of the guard for that namespace (undefined when no guard was registered). */
  unanswered: string[] | undefined;
  /** Allowed without the guard's answer: the union of the two above. */
  failOpen: number;
}

/**
 * `answered`: the namespaces the guard logged a decision for; leave it out for a run without the
 * guard, where there is nothing to fail open from. `failedOpen`: the namespaces whose DELETE
 * carries kube-apiserver's failed-open annotation for a guard webhook.
 */
export function tallyStorm(
  plan: readonly StormNamespace[],
  outcomes: readonly DeleteOutcome[],
  o: { answered?: ReadonlySet<string>; failedOpen: ReadonlySet<string> },
): StormTally {
  const planted = new Set(plan.filter((n) => n.wouldHang).map((n) => n.name));
  const allowed = outcomes.filter((r) => r.status === 200 || r.status === 202);
  const denied = outcomes.filter(deniedByGuard);
  const errors = outcomes.filter((r) => !allowed.includes(r) && !denied.includes(r)).map((r) => `${r.name}: ${r.status} ${r.message}`);
  const failedOpenAnnotated = allowed.filter((r) => o.failedOpen.has(r.name)).map((r) => r.name);
  const unanswered = o.answered ? allowed.filter((r) => !o.answered?.has(r.name)).map((r) => r.name) : undefined;
  return {
    sent: outcomes.length,
    allowed: allowed.length,
    denied: denied.length,
    deniedPlanted: denied.filter((r) => planted.has(r.name)).length,
    planted: planted.size,
    wrongDenials: denied.filter((r) => !planted.has(r.name)).map((r) => r.name),
    missedHangs: allowed.filter((r) => planted.has(r.name)).map((r) => r.name),
    errors,
    failedOpenAnnotated,
    unanswered,
    failOpen: new Set([...failedOpenAnnotated, ...(unanswered ?? [])]).size,
  };
}

/** Sum of every sample of one metric family in Prometheus text (all label sets); 0 when absent. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    // The family itself, not one whose name merely starts the same (foo_total vs foo_total_bar).
    if (!rest.startsWith('{') && !rest.startsWith(' ')) continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}
