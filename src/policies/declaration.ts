// One declaration per policy (definePolicy): its name, default mode, the line the README's policy
// table shows, the requests it judges and the webhook each reaches the guard through, the shared
// prechecks it wants, and evaluate. Everything else is derived from the declarations (ARCHITECTURE.md
// §2, "A policy is one declaration"): the policy names (policies/index.ts), the config block and its
// defaults (config.ts), which requests a policy looks at (appliesTo), the webhook configuration of
// the shipped manifests and chart (render/), and the README's policy table.
import { isDelete, targetName, type AdmissionRequest, type Operation } from '../k8s/admissionReview.ts';
import { UndecidedError } from '../cluster/view.ts';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { memoByObject } from '../memoByObject.ts';
import type { Finding, Policy, PolicyInput } from './types.ts';
import type { PolicySettings } from './settings.ts';

/** What a policy's findings do (docs/POLICIES.md, "Modes, undecided, break-glass"). */
export type Mode = 'enforce' | 'warn' | 'audit' | 'off';
export const MODES: readonly Mode[] = ['enforce', 'warn', 'audit', 'off'];

/** One rule of a ValidatingWebhookConfiguration, as the API server matches it. */
export interface RequestRule {
  apiGroups: readonly string[];
  apiVersions: readonly string[];
  operations: readonly Operation[];
  /** `*` matches every resource but no subresource. */
  resources: readonly string[];
  scope: 'Cluster' | 'Namespaced' | '*';
}

export interface LabelSelectorSpec {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: ReadonlyArray<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: readonly string[] }>;
}

/** A CEL match condition; `expression` holds the lines of a folded (`>-`) YAML scalar. */
export interface MatchCondition {
  name: string;
  expression: readonly string[];
}

/**
 * One webhook of the guard's ValidatingWebhookConfiguration. Several policies may judge requests
 * it sends; its rules are the union of theirs. Every webhook also carries the settings and the two
 * match conditions all of them share (render/webhookConfiguration.ts).
 */
export interface WebhookDeclaration {
  /** `namespaces` is served as `namespaces.teardown-guard.io`. */
  name: string;
  /** Why it is there, one comment line an entry: written above it in the rendered configuration. */
  why: readonly string[];
  objectSelector?: LabelSelectorSpec;
  /** Which namespaces are never sent (for cluster-scoped objects a namespaceSelector never skips). */
  skipsNamespaces?: 'exempt' | 'guard';
  /** Beyond the two every webhook has (not the namespace controller, not the garbage collector). */
  matchConditions?: readonly MatchCondition[];
  /**
   * A catch-all webhook leaves to the others what they send whoever owns it: the renderer adds a
   * condition `name` excluding every resource a webhook without objectSelector or conditions of
   * its own sends, and the clauses of `alsoExcept` (CEL lines, `!(...)` each).
   */
  leavesToOthers?: { name: string; alsoExcept: readonly string[] };
}

/**
 * The checks every policy would otherwise repeat, run before evaluate, in this order; any that
 * holds answers "nothing to say" at once.
 *   exempt-user            the request's user is in exemptUsers (the helm policy's own list)
 *   exempt-namespace       the target is, or lives in, one of exemptNamespaces
 *   target-deleting        the target already has a deletionTimestamp (a repeat DELETE, or the
 *                          namespace controller's final one)
 *   namespace-terminating  the target is, or lives in, a namespace the cache says is Terminating
 */
export type Precheck = 'exempt-user' | 'exempt-namespace' | 'target-deleting' | 'namespace-terminating';
const PRECHECK_ORDER: readonly Precheck[] = ['exempt-user', 'exempt-namespace', 'target-deleting', 'namespace-terminating'];

/** Requests a policy judges: one webhook rule, the webhook that sends them, and the prechecks. */
export interface Judged {
  via: WebhookDeclaration;
  rule: RequestRule;
  prechecks: readonly Precheck[];
}

/**
 * What a view that cannot answer means for the policy: `undecided` (exact policies: the engine
 * applies the `undecided` setting) or `silent` (inference: unsure is never a verdict).
 */
export type WhenUndecided = 'undecided' | 'silent';

/** What an undecided policy means (config `undecided`): allow with a warning, or deny. */
export type UndecidedAction = 'allow' | 'deny';

export interface PolicyDeclaration<N extends string = string> {
  name: N;
  defaultMode: Exclude<Mode, 'off'>;
  /** One line for the README's policy table. */
  summary: string;
  /** The requests it judges; a function of the finalizer guards where they decide it (built in and configured). */
  judges: (guards: readonly FinalizerGuard[]) => readonly Judged[];
  whenUndecided: WhenUndecided;
  /** Findings; runs after the prechecks of the rule the request matched. */
  evaluate(input: PolicyInput): Promise<Finding[]>;
}

export interface DeclaredPolicy<N extends string = string> extends Policy {
  readonly name: N;
  readonly declaration: PolicyDeclaration<N>;
}

function matchesOne(patterns: readonly string[], value: string): boolean {
  return patterns.includes('*') || patterns.includes(value);
}

/** Whether a rule matches the request (API group, resource, operation; never a subresource). Scope and version are the API server's to match. */
export function ruleMatches(rule: RequestRule, request: AdmissionRequest): boolean {
  return (
    !request.subResource &&
    rule.operations.includes(request.operation) &&
    matchesOne(rule.apiGroups, request.resource.group) &&
    matchesOne(rule.resources, request.resource.resource)
  );
}

/** The namespace the request's target is (a Namespace) or lives in; undefined for cluster-scoped objects. */
function targetNamespace(request: AdmissionRequest): string | undefined {
  return isDelete(request, '', 'namespaces') ? targetName(request) || request.namespace : request.namespace;
}

function precheckHolds(check: Precheck, input: PolicyInput): boolean {
  const { request, view, settings } = input;
  const ns = targetNamespace(request);
  switch (check) {
    case 'exempt-user':
      return settings.exemptUsers.includes(request.userInfo.username ?? '');
    case 'exempt-namespace':
      return ns !== undefined && settings.exemptNamespaces.includes(ns);
    case 'target-deleting':
      return Boolean(request.oldObject?.metadata?.deletionTimestamp);
    case 'namespace-terminating':
      return ns !== undefined && ns !== '' && Boolean(view.getNamespace(ns)?.deletionTimestamp);
  }
}

/**
 * A declaration's webhooks for one registry, built once: they hold the CEL text of the shipped
 * configuration, and building it twice per policy per review showed in a profile. The registry is
 * fixed for the life of the settings that carry it.
 */
const judgesOf = memoByObject((declaration: PolicyDeclaration) => memoByObject((guards: readonly FinalizerGuard[]) => declaration.judges(guards)));

function judgedFor(declaration: PolicyDeclaration, request: AdmissionRequest, settings: PolicySettings): Judged | undefined {
  return judgesOf(declaration)(settings.finalizerGuards).find((j) => ruleMatches(j.rule, request));
}

/** A policy from its declaration: appliesTo from its rules, evaluate behind the shared prechecks. */
export function definePolicy<const N extends string>(declaration: PolicyDeclaration<N>): DeclaredPolicy<N> {
  return {
    name: declaration.name,
    declaration,
    appliesTo: (request, settings) => judgedFor(declaration, request, settings) !== undefined,
    async evaluate(input) {
      const judged = judgedFor(declaration, input.request, input.settings);
      if (!judged) return [];
      try {
        if (PRECHECK_ORDER.some((c) => judged.prechecks.includes(c) && precheckHolds(c, input))) return [];
        return await declaration.evaluate(input);
      } catch (err) {
        if (declaration.whenUndecided === 'silent' && err instanceof UndecidedError) return [];
        throw err;
      }
    },
  };
}
