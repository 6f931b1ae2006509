// How a policy's findings become an answer, per mode (docs/POLICIES.md, "Modes, undecided, break-glass").
import type { Finding } from '../policies/types.ts';
import type { Mode } from '../policies/declaration.ts';

export type { Mode, UndecidedAction } from '../policies/declaration.ts';

export type Verdict = 'allow' | 'deny' | 'warn' | 'audit' | 'undecided' | 'break-glass';
export const VERDICTS: readonly Verdict[] = ['allow', 'deny', 'warn', 'audit', 'undecided', 'break-glass'];

export interface PolicyVerdict {
  policy: string;
  mode: Mode;
  verdict: Verdict;
  /** Findings that deny the request (enforce mode violations). */
  denying: Finding[];
  /** Findings shown to the client as warnings. */
  warning: Finding[];
  /** Findings recorded only in the audit annotations. */
  recorded: Finding[];
  undecidedReason?: string;
}

export function applyMode(policy: string, mode: Mode, findings: Finding[]): PolicyVerdict {
  const base = { policy, mode, denying: [] as Finding[], warning: [] as Finding[], recorded: [] as Finding[] };
  if (findings.length === 0 || mode === 'off') return { ...base, verdict: 'allow' };
  if (mode === 'audit') return { ...base, verdict: 'audit', recorded: findings };
  if (mode === 'warn') return { ...base, verdict: 'warn', warning: findings };
  const denying = findings.filter((f) => f.severity === 'violation');
  const warning = findings.filter((f) => f.severity !== 'violation');
  return { ...base, verdict: denying.length > 0 ? 'deny' : 'warn', denying, warning };
}
