// The admission engine: parses an AdmissionReview, runs each applicable policy against the
// cluster view, applies modes, break-glass and the undecided rule, and builds the response.
// It does no I/O of its own beyond what the view does; logging and metrics belong to the caller,
// which gets one Decision per policy that looked at the request.
import { performance } from 'node:perf_hooks';
import { UndecidedError, type ClusterView, type ReviewContext, type UndecidedKind } from '../cluster/view.ts';
import { formatRef } from '../k8s/types.ts';
import type { PolicySettings } from '../policies/settings.ts';
import type { Finding, Policy, PolicyInput } from '../policies/types.ts';
import { applyMode, type Mode, type PolicyVerdict, type UndecidedAction, type Verdict } from './modes.ts';
import { parseAdmissionReview } from './parse.ts';
import { auditAnnotationValue, buildResponse, denialMessage, denialWarnings, requestTarget, undecidedMessage } from './response.ts';
import type { AdmissionRequest, AdmissionReview } from '../k8s/admissionReview.ts';

export interface Decision {
  uid: string;
  policy: string;
  verdict: Verdict;
  mode: Mode;
  /** `Kind namespace/name` of the object under review. */
  object: string;
  operation: string;
  user: string;
  /** Finding codes, or the undecided / break-glass reason. */
  reason?: string;
  /** Why the policy could not decide (the metric label), when undecided. */
  undecidedKind?: UndecidedKind;
  latencyMs: number;
  dryRun: boolean;
}

export type AdmissionResult = { ok: true; review: AdmissionReview; decisions: Decision[] } | { ok: false; httpStatus: 400; error: string };

export interface EngineDeps {
  policies: Policy[];
  view: ClusterView;
  settings: PolicySettings;
  /** A policy without a mode here is off (callers built before it existed run without it). */
  modes: Partial<Record<string, Mode>>;
  undecided: UndecidedAction;
  /** Called for errors that are not UndecidedError (bugs); the request is still answered. */
  onInternalError?: (err: unknown, policy: string) => void;
  /**
   * One review's budget for live reads, shared by every policy and every read it makes
   * (liveLookup.timeoutMs): the review answers undecided rather than outlive the webhook timeout.
   */
  reviewBudgetMs?: number;
  /** Where what policies learn about finalizers' controllers goes (the finalizer memory). */
  learn?: PolicyInput['learn'];
}

interface Evaluated {
  verdict: PolicyVerdict;
  latencyMs: number;
  undecidedKind?: UndecidedKind;
}

async function evaluatePolicy(policy: Policy, request: AdmissionRequest, view: ClusterView, review: ReviewContext, deps: EngineDeps): Promise<Evaluated> {
  const mode = deps.modes[policy.name] ?? 'off';
  const started = performance.now();
  try {
    const findings = await policy.evaluate({ request, view, review, settings: deps.settings, nowMs: Date.now(), ...(deps.learn ? { learn: deps.learn } : {}) });
    return { verdict: applyMode(policy.name, mode, findings), latencyMs: performance.now() - started };
  } catch (err) {
    if (!(err instanceof UndecidedError)) deps.onInternalError?.(err, policy.name);
    const reason = err instanceof UndecidedError ? err.reason : `internal error: ${err instanceof Error ? err.message : String(err)}`;
    const verdict: PolicyVerdict = { policy: policy.name, mode, verdict: 'undecided', denying: [], warning: [], recorded: [], undecidedReason: reason };
    return { verdict, latencyMs: performance.now() - started, undecidedKind: err instanceof UndecidedError ? err.kind : 'internal' };
  }
}

function breakGlassReason(request: AdmissionRequest, annotation: string): string | undefined {
  const value = request.oldObject?.metadata?.annotations?.[annotation] ?? request.object?.metadata?.annotations?.[annotation];
  const reason = value?.trim();
  return reason ? reason : undefined;
}

/** What the server knows of the HTTP request a review came in: `gone` aborts when the API server has hung up. */
export interface ReviewTransport {
  gone?: AbortSignal;
}

/** A review without a budget and without an HTTP request to follow (tests, callers without one). */
const OUTSIDE_TERMS: ReviewContext = { freshness: 'consistent' };

/** Why a review's deadline fired; one object, as nothing reads it but the live reads' own checks. */
const REVIEW_ENDED = new Error("the review's budget ran out, or the API server hung up");

/**
 * One review's terms: its budget (reviewBudgetMs) and the API server's request, whichever ends
 * first; `end` releases both once the policies have answered. The deadline is made when a live
 * read first asks for it, with what is left of the budget: most reviews answer from the caches
 * alone and need no timer at all (the timer, the AbortController and the listener on the request
 * were among the guard's own costs in a profile at saturation). A timer cleared at the end, not
 * AbortSignal.timeout: that one fires later for every review and builds a DOMException each time.
 */
function reviewContext(deps: EngineDeps, transport: ReviewTransport): { review: ReviewContext | undefined; end: () => void } {
  const { gone } = transport;
  const budgetMs = deps.reviewBudgetMs;
  if (budgetMs === undefined && !gone) return { review: undefined, end: () => {} };
  const startedMs = performance.now();
  let deadline: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const fire = (): void => deadline?.abort(REVIEW_ENDED);
  const review: ReviewContext = {
    freshness: 'consistent',
    get deadline(): AbortSignal {
      if (!deadline) {
        deadline = new AbortController();
        const leftMs = budgetMs === undefined ? Number.POSITIVE_INFINITY : budgetMs - (performance.now() - startedMs);
        if (ended || leftMs <= 0 || gone?.aborted) fire();
        else {
          if (leftMs !== Number.POSITIVE_INFINITY) timer = setTimeout(fire, leftMs).unref();
          gone?.addEventListener('abort', fire, { once: true });
        }
      }
      return deadline.signal;
    },
  };
  const end = (): void => {
    ended = true;
    if (!deadline) return;
    clearTimeout(timer);
    gone?.removeEventListener('abort', fire);
  };
  return { review, end };
}

export function createAdmissionHandler(deps: EngineDeps): (body: unknown, transport?: ReviewTransport) => Promise<AdmissionResult> {
  return async (body, transport = {}) => {
    const parsed = parseAdmissionReview(body);
    if (!parsed.ok) return { ok: false, httpStatus: 400, error: parsed.error };
    const request = parsed.review.request;
    const applicable = deps.policies.filter((p) => (deps.modes[p.name] ?? 'off') !== 'off' && p.appliesTo(request, deps.settings));
    const terms = applicable.length > 0 ? reviewContext(deps, transport) : { review: undefined, end: () => {} };
    const review = terms.review ?? OUTSIDE_TERMS;
    const view = terms.review ? deps.view.forReview(terms.review) : deps.view;
    let evaluated: Evaluated[];
    try {
      evaluated = await Promise.all(applicable.map((p) => evaluatePolicy(p, request, view, review, deps)));
    } finally {
      terms.end();
    }

    const breakGlass = breakGlassReason(request, deps.settings.breakGlassAnnotation);
    const denying: Array<{ policy: string; finding: Finding }> = [];
    const warnings: string[] = [];
    const auditAnnotations: Record<string, string> = {};
    const undecidedDenials: string[] = [];
    const decisions: Decision[] = [];
    const target = formatRef(requestTarget(request));

    for (const { verdict: v, latencyMs, undecidedKind } of evaluated) {
      let final: Verdict = v.verdict;
      if (v.verdict === 'undecided') {
        const text = undecidedMessage(v.policy, v.undecidedReason ?? 'unknown', deps.undecided);
        if (deps.undecided === 'deny' && !breakGlass) undecidedDenials.push(text);
        else warnings.push(text);
        if (deps.undecided === 'deny' && breakGlass) final = 'break-glass';
      } else if (v.denying.length > 0 && breakGlass) {
        final = 'break-glass';
        warnings.push(...v.denying.map((f) => `teardown-guard [${v.policy}] overridden by break-glass: ${f.summaryIfAllowed ?? f.summary}`));
      } else {
        denying.push(...v.denying.map((finding) => ({ policy: v.policy, finding })));
      }
      warnings.push(...v.warning.map((f) => `teardown-guard [${v.policy}] ${f.summaryIfAllowed ?? f.summary}`));
      if (v.verdict !== 'allow') auditAnnotations[v.policy] = auditAnnotationValue({ ...v, verdict: final });
      const codes = [...v.denying, ...v.warning, ...v.recorded].map((f) => f.code);
      const reason = v.undecidedReason ?? (codes.length > 0 ? codes.join(',') : undefined);
      const decision: Decision = {
        uid: request.uid,
        policy: v.policy,
        verdict: final,
        mode: v.mode,
        object: target,
        operation: request.operation,
        user: request.userInfo.username ?? '',
        latencyMs: Math.round(latencyMs * 1000) / 1000,
        dryRun: request.dryRun === true,
      };
      if (final === 'break-glass') decision.reason = `break-glass: ${breakGlass}`;
      else if (reason !== undefined) decision.reason = reason;
      if (undecidedKind) decision.undecidedKind = undecidedKind;
      decisions.push(decision);
    }
    if (breakGlass && decisions.some((d) => d.verdict === 'break-glass')) {
      auditAnnotations['break-glass'] = JSON.stringify({ reason: breakGlass.slice(0, 500), user: request.userInfo.username ?? '' });
    }

    const allowed = denying.length === 0 && undecidedDenials.length === 0;
    // Helm 3 and 4 print a denied DELETE only as "failed to delete release" (the status message
    // needs --debug), but they print warnings: each denial's summary goes there too.
    if (denying.length > 0) warnings.unshift(...denialWarnings(request, denying));
    const messages: string[] = [];
    if (denying.length > 0) messages.push(denialMessage(request, denying, deps.settings.breakGlassAnnotation));
    messages.push(...undecidedDenials);
    const response = buildResponse(request.uid, {
      allowed,
      warnings,
      auditAnnotations,
      ...(allowed ? {} : { denyMessage: messages.join('\n\n') }),
    });
    return { ok: true, review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, decisions };
  };
}
