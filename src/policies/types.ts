// What a policy returns. A policy is a pure function of (request, view): it describes what it
// found; the admission engine alone turns findings into allow/deny/warn according to the mode.
import type { AdmissionRequest } from '../k8s/admissionReview.ts';
import type { ClusterView, RememberedController, ReviewContext } from '../cluster/view.ts';
import type { ObjectRef } from '../k8s/types.ts';
import type { PolicySettings } from './settings.ts';

/**
 * violation: the deletion itself causes the harm (denied in enforce mode).
 * risk: the deletion sets up harm for later (never denied; a warning in enforce and warn modes).
 */
export type Severity = 'violation' | 'risk';

export interface Finding {
  /** The policy's name (the built-in ones: PolicyName, policies/index.ts). */
  policy: string;
  severity: Severity;
  /** Stable machine-readable id, e.g. `namespace-strands-finalizers`. */
  code: string;
  /** One line, short enough for a kubectl warning (<= ~200 chars). */
  summary: string;
  /**
   * The summary's line for when the request goes ahead all the same (`warn` mode, break-glass),
   * where the summary says what denying it does ("held back: ..."): what letting it through leaves.
   */
  summaryIfAllowed?: string;
  /** Full explanation: each object, finalizer or release, why, and what to do. */
  detail: string;
  /**
   * What fixes it. Each entry is a step or an alternative ("Or: ..."); an entry starting with two
   * spaces is a sub-step of the entry before it (rendered indented, not numbered): formatRemedy.
   */
  remedy: string[];
  objects: ObjectRef[];
}

export interface PolicyInput {
  request: AdmissionRequest;
  /** The view, its live reads already bound to `review`. */
  view: ClusterView;
  /** The review's terms (deadline, freshness), for a policy that reads the view a second way (confirmedFindings). */
  review?: ReviewContext;
  settings: PolicySettings;
  /** The time the request is judged at (record ages); the engine passes the clock, tests a fixed time. */
  nowMs?: number;
  /**
   * Where what a policy learns about finalizers' controllers goes (the finalizer memory,
   * ARCHITECTURE.md §1F): the caller persists it; a policy only reports it.
   */
  learn?: (entry: RememberedController) => void;
}

/** What the engine and `check` run; built by definePolicy (policies/declaration.ts) from a declaration. */
export interface Policy {
  readonly name: string;
  /** Cheap filter: whether this request is one the policy looks at at all. */
  appliesTo(request: AdmissionRequest, settings: PolicySettings): boolean;
  /** Findings; throws UndecidedError when the view cannot answer. */
  evaluate(input: PolicyInput): Promise<Finding[]>;
}

/** Numbers the steps and indents each step's sub-steps under it, so alternatives read as alternatives. */
export function formatRemedy(remedy: readonly string[], indent = '  '): string[] {
  let n = 0;
  return remedy.map((r) => (r.startsWith('  ') ? `${indent}   ${r.trimStart()}` : `${indent}${++n}. ${r}`));
}
