import { helmUninstallNamespace } from './helmUninstallNamespace.ts';
import { apiServiceBackends } from './apiServiceBackends.ts';
import { inferredFinalizers } from './inferredFinalizers.ts';
import { olmOrphanedFinalizers } from './olmOrphanedFinalizers.ts';
import { webhookBackends } from './webhookBackends.ts';
import { crdOrphanedFinalizers } from './crdOrphanedFinalizers.ts';
import type { Policy } from './types.ts';

export function builtinPolicies(): Policy[] {
  return [olmOrphanedFinalizers, helmUninstallNamespace, inferredFinalizers, crdOrphanedFinalizers, apiServiceBackends, webhookBackends];
}
