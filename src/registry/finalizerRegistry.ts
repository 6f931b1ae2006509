// The finalizer registry (ARCHITECTURE.md §2): the one list of guarded finalizers, built in and
// configured, that the admission policies, the watch caches, check, diagnose, review and the shipped
// manifests (render/manifestFiles.ts) all read. Adding a guard is one config entry plus a re-render.
import type { FinalizerGuard } from '../finalizers/guard.ts';
import type { ResourceType } from '../k8s/types.ts';
import { canonicalLabelSelector } from '../k8s/labelSelector.ts';
import { OLM_CSV_CLEANUP_GUARD } from '../olm/finalizerGuards.ts';

/** Where a guard comes from: shipped with the product, or a site's `finalizerGuards` config entry. */
export type GuardSource = 'built-in' | 'configured';

export interface RegisteredGuard {
  guard: FinalizerGuard;
  source: GuardSource;
}

/** The guards every installation has. */
export const BUILTIN_FINALIZER_GUARDS: readonly FinalizerGuard[] = [OLM_CSV_CLEANUP_GUARD];

export class FinalizerRegistry {
  readonly entries: readonly RegisteredGuard[];

  /** Built-ins first, then configured guards in config order; a finalizer guarded twice is a config error (config.ts). */
  constructor(configured: readonly FinalizerGuard[] = [], builtIn: readonly FinalizerGuard[] = BUILTIN_FINALIZER_GUARDS) {
    this.entries = [
      ...builtIn.map((guard): RegisteredGuard => ({ guard, source: 'built-in' })),
      ...configured.map((guard): RegisteredGuard => ({ guard, source: 'configured' })),
    ];
  }

  guards(): FinalizerGuard[] {
    return this.entries.map((e) => e.guard);
  }

  guardFor(finalizer: string): RegisteredGuard | undefined {
    return this.entries.find((e) => e.guard.finalizer === finalizer);
  }

  /** Each guarded resource type once (by group and plural: every version shows the same objects), in registry order. */
  resources(): ResourceType[] {
    const seen = new Map<string, ResourceType>();
    for (const { guard } of this.entries) {
      const key = `${guard.resource.group}/${guard.resource.resource}`;
      if (!seen.has(key)) seen.set(key, guard.resource);
    }
    return [...seen.values()];
  }

  /** Each controller Deployment selector once, in its canonical spelling, in registry order. */
  controllerSelectors(): string[] {
    return [...new Set(this.entries.map((e) => canonicalLabelSelector(e.guard.controller.deploymentSelector)))];
  }

  /** The guards on one resource type. */
  guardsOn(group: string, resource: string): FinalizerGuard[] {
    return this.guards().filter((g) => g.resource.group === group && g.resource.resource === resource);
  }
}
