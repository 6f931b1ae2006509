// The policies the guard runs, in the order they are reported. Each is one declaration in its own
// file (policies/declaration.ts); the names, the config block, the webhook configuration and the
// README's policy table all follow from this list.
import { helmUninstallNamespace } from './helmUninstallNamespace.ts';
import { apiServiceBackends } from './apiServiceBackends.ts';
import { inferredFinalizers } from './inferredFinalizers.ts';
import { olmOrphanedFinalizers } from './olmOrphanedFinalizers.ts';
import { webhookBackends } from './webhookBackends.ts';
import { crdOrphanedFinalizers } from './crdOrphanedFinalizers.ts';

export const BUILTIN_POLICIES = [
  olmOrphanedFinalizers,
  helmUninstallNamespace,
  inferredFinalizers,
  crdOrphanedFinalizers,
  apiServiceBackends,
  webhookBackends,
] as const;

export type BuiltinPolicy = (typeof BUILTIN_POLICIES)[number];
export type PolicyName = BuiltinPolicy['name'];
export const POLICY_NAMES: readonly PolicyName[] = BUILTIN_POLICIES.map((p) => p.name);

export function builtinPolicies(): BuiltinPolicy[] {
  return [...BUILTIN_POLICIES];
}
