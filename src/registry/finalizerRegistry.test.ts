import { describe, expect, it } from 'vitest';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { CSV_CLEANUP_FINALIZER, OLM_CSV_CLEANUP_GUARD } from '../olm/finalizerGuards.ts';
import { FinalizerRegistry } from './finalizerRegistry.ts';

const guard = (finalizer: string, resource: string, selector: string): FinalizerGuard => ({
  finalizer,
  resource: { group: 'example.com', version: 'v1', resource, kind: 'Widget', namespaced: true },
  controller: { displayName: `${resource} operator`, deploymentSelector: selector, requireClusterRoleBinding: false },
});

describe('FinalizerRegistry', () => {
  it('holds the built-in OLM guard first, then configured guards, each with where it comes from', () => {
    const configured = guard('example.com/cleanup', 'widgets', 'app=widget-operator');
    const registry = new FinalizerRegistry([configured]);
    expect(registry.entries.map((e) => [e.guard.finalizer, e.source])).toEqual([
      [CSV_CLEANUP_FINALIZER, 'built-in'],
      ['example.com/cleanup', 'configured'],
    ]);
    expect(registry.guardFor(CSV_CLEANUP_FINALIZER)?.guard).toBe(OLM_CSV_CLEANUP_GUARD);
    expect(registry.guardFor('example.com/cleanup')?.source).toBe('configured');
    expect(registry.guardFor('example.com/unknown')).toBeUndefined();
  });

  it('lists each resource type and each controller selector once (selectors in canonical spelling)', () => {
    const registry = new FinalizerRegistry([
      guard('example.com/a', 'widgets', 'tier=ops,app==widget-operator'),
      guard('example.com/b', 'widgets', 'app=widget-operator, tier=ops'),
      guard('example.com/c', 'gadgets', 'app=gadget-operator'),
    ]);
    expect(registry.resources().map((r) => `${r.resource}.${r.group}`)).toEqual([
      'clusterserviceversions.operators.coreos.com',
      'widgets.example.com',
      'gadgets.example.com',
    ]);
    expect(registry.controllerSelectors()).toEqual(['app=olm-operator', 'app=widget-operator,tier=ops', 'app=gadget-operator']);
    expect(registry.guardsOn('example.com', 'widgets').map((g) => g.finalizer)).toEqual(['example.com/a', 'example.com/b']);
  });
});
