// The committed manifests are what the policies' declarations and the finalizer registry render (as docs/CONFIGURATION.md's key table is
// what the config schema says), and a configured guard reaches every place it must.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadRenderSettings } from '../config.ts';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { FinalizerRegistry } from '../registry/finalizerRegistry.ts';
import { MissingBlockError, renderManifestFiles, replaceBlocks } from './manifestFiles.ts';
import { renderChartValues } from './chartValues.ts';

const base = fileURLToPath(new URL('../../manifests/base/', import.meta.url));
const read = (file: string): string => readFileSync(join(base, file), 'utf8');

interface Webhook {
  name: string;
  rules: Array<{ apiGroups: string[]; resources: string[]; scope: string }>;
  objectSelector?: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> };
  matchConditions: Array<{ name: string; expression: string }>;
}

const STARROCKS_LIKE: FinalizerGuard = {
  finalizer: 'example.com/protection',
  resource: { group: 'example.com', version: 'v1', resource: 'widgetclusters', kind: 'WidgetCluster', namespaced: false },
  controller: { displayName: 'widget operator', deploymentSelector: 'app.kubernetes.io/name in (widget-operator,widget-op)', requireClusterRoleBinding: false },
};

describe('manifests rendered from the policies and the finalizer registry', () => {
  it('the committed manifests/base files are what the registry renders (else run npm run render:manifests)', () => {
    const { finalizerGuards, modes, guardNamespace } = loadRenderSettings(join(base, 'config.yaml'));
    for (const [file, text] of renderManifestFiles({ registry: new FinalizerRegistry(finalizerGuards), modes, guardNamespace }, read)) {
      expect(read(file), `manifests/base/${file} differs from the policies and the finalizer registry; run: npm run render:manifests`).toBe(text);
    }
  });

  it('a configured guard gets its controller webhook, its rule and CEL clause, and list+watch RBAC', () => {
    const files = renderManifestFiles({ registry: new FinalizerRegistry([STARROCKS_LIKE]) }, read);
    const hooks = (parse(files.get('validatingwebhookconfiguration.yaml') ?? '') as { webhooks: Webhook[] }).webhooks;
    const byName = (n: string): Webhook | undefined => hooks.find((h) => h.name === n);

    expect(byName('controllers.teardown-guard.io')?.objectSelector).toEqual({ matchLabels: { app: 'olm-operator' } });
    expect(byName('controllers-2.teardown-guard.io')?.objectSelector).toEqual({
      matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['widget-op', 'widget-operator'] }],
    });
    const guarded = byName('guarded-objects.teardown-guard.io');
    expect(guarded?.rules.map((r) => [r.apiGroups, r.resources, r.scope])).toEqual([
      [['operators.coreos.com'], ['clusterserviceversions'], 'Namespaced'],
      [['example.com'], ['widgetclusters'], 'Cluster'],
    ]);
    // Folded scalars keep the line breaks of more-indented lines; CEL reads them as spaces.
    const oneLine = (s: string | undefined): string => (s ?? '').replace(/\s+/g, ' ');
    const carries = oneLine(guarded?.matchConditions.find((c) => c.name === 'carries-guarded-finalizer')?.expression);
    expect(carries).toContain("request.resource.resource == 'widgetclusters' && 'example.com/protection' in oldObject.metadata.finalizers)");
    const helmOwned = oneLine(byName('helm-owned.teardown-guard.io')?.matchConditions.find((c) => c.name === 'reviewed-by-another-webhook')?.expression);
    expect(helmOwned).toContain("oldObject.metadata.labels['app.kubernetes.io/name'] in ['widget-op', 'widget-operator']");

    const roles = parseAllDocuments(files.get('rbac.yaml') ?? '').map(
      (d) => d.toJS() as { metadata: { name: string }; rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> },
    );
    const rules = roles.find((r) => r.metadata.name === 'teardown-guard')?.rules ?? [];
    expect(rules).toContainEqual({ apiGroups: ['example.com'], resources: ['widgetclusters'], verbs: ['list', 'watch'] });
  });

  it("a config's guardNamespace is the webhooks' Service namespace and the namespace never sent", () => {
    const vwc = renderManifestFiles({ registry: new FinalizerRegistry(), guardNamespace: 'guard-ops' }, read).get('validatingwebhookconfiguration.yaml') ?? '';
    const hooks = (
      parse(vwc) as {
        webhooks: Array<{ clientConfig: { service: { namespace: string } }; namespaceSelector?: { matchExpressions: Array<{ values: string[] }> } }>;
      }
    ).webhooks;
    expect(hooks.map((h) => h.clientConfig.service.namespace)).toEqual(hooks.map(() => 'guard-ops'));
    const skipped = hooks.flatMap((h) => h.namespaceSelector?.matchExpressions.flatMap((e) => e.values) ?? []);
    expect(skipped).toContain('guard-ops');
    expect(skipped).not.toContain('teardown-guard');
  });

  it("the chart's values.yaml and values.schema.json list every policy at its declared default (else run npm run chart:rules)", () => {
    const chart = fileURLToPath(new URL('../../manifests/chart/teardown-guard/', import.meta.url));
    const readChart = (file: string): string => readFileSync(join(chart, file), 'utf8');
    for (const [file, text] of renderChartValues(readChart)) {
      expect(readChart(file), `manifests/chart/teardown-guard/${file} differs from the policies' declarations; run: npm run chart:rules`).toBe(text);
    }
  });

  it('a file without the block markers is an error naming the file and the block', () => {
    expect(() => replaceBlocks('kind: ClusterRole\n', { 'guarded-resources-rbac': [] }, ['guarded-resources-rbac'], 'rbac.yaml')).toThrow(MissingBlockError);
    expect(() => replaceBlocks('kind: ClusterRole\n', {}, ['guarded-resources-rbac'], 'rbac.yaml')).toThrow(/rbac\.yaml.*guarded-resources-rbac/);
  });
});
