// The parts of the shipped manifests that follow from the finalizer registry: the webhook rules that
// send a guarded object's DELETE and a controller Deployment's DELETE to the guard, and the RBAC the
// watch caches need. They live between `# BEGIN generated: NAME` and `# END generated: NAME` lines in
// manifests/base/*.yaml; everything else there is written by hand. `teardown-guard render-manifests`
// rewrites the blocks, and src/registry/renderManifests.test.ts fails when the committed files differ.
import { parseLabelSelector, type Requirement } from '../k8s/labelSelector.ts';
import type { ResourceType } from '../k8s/types.ts';
import type { FinalizerRegistry } from './finalizerRegistry.ts';

/** Which file of manifests/base holds which block. */
export const GENERATED_BLOCKS: Readonly<Record<string, readonly string[]>> = {
  'validatingwebhookconfiguration.yaml': ['reviewed-by-another-webhook', 'controller-webhooks', 'guarded-objects-webhook', 'not-a-guarded-controller'],
  'rbac.yaml': ['guarded-resources-rbac'],
};

const NOT_SYSTEM = [
  '      - name: not-namespace-controller',
  '        expression: "request.userInfo.username != \'system:serviceaccount:kube-system:namespace-controller\'"',
  '      - name: not-garbage-collector',
  '        expression: "request.userInfo.username != \'system:serviceaccount:kube-system:generic-garbage-collector\'"',
];

const COMMON = [
  '    admissionReviewVersions: ["v1"]',
  '    sideEffects: None',
  '    timeoutSeconds: 5',
  '    failurePolicy: Ignore',
  '    matchPolicy: Equivalent',
  '    clientConfig:',
  '      service: { namespace: teardown-guard, name: teardown-guard, path: /validate, port: 443 }',
];

const NAMESPACE_SELECTOR = [
  '    namespaceSelector:',
  '      matchExpressions:',
  '        - { key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, teardown-guard] }',
];

const q = (s: string): string => JSON.stringify(s);
const cel = (s: string): string => `'${s}'`;

/** CEL that is true when the old object's labels satisfy one requirement. */
function requirementCel(r: Requirement): string {
  const has = `has(oldObject.metadata.labels) && ${cel(r.key)} in oldObject.metadata.labels`;
  const value = `oldObject.metadata.labels[${cel(r.key)}]`;
  switch (r.op) {
    case 'exists':
      return has;
    case 'notexists':
      return `!(${has})`;
    case 'in':
      return r.values.length === 1 ? `${has} && ${value} == ${cel(r.values[0] ?? '')}` : `${has} && ${value} in [${r.values.map(cel).join(', ')}]`;
    case 'notin':
      return `!(${has} && ${value} in [${r.values.map(cel).join(', ')}])`;
  }
}

function selectorCel(selector: string): string {
  return parseLabelSelector(selector).map(requirementCel).join(' && ');
}

/** A webhook objectSelector for a label selector string. */
function objectSelectorYaml(selector: string): string[] {
  const reqs = parseLabelSelector(selector);
  const labels = reqs.filter((r) => r.op === 'in' && r.values.length === 1);
  const exprs = reqs.filter((r) => !(r.op === 'in' && r.values.length === 1));
  const out = ['    objectSelector:'];
  if (labels.length > 0) {
    out.push('      matchLabels:');
    for (const r of labels) if (r.op === 'in') out.push(`        ${r.key}: ${q(r.values[0] ?? '')}`);
  }
  if (exprs.length > 0) {
    out.push('      matchExpressions:');
    for (const r of exprs) {
      const operator = { in: 'In', notin: 'NotIn', exists: 'Exists', notexists: 'DoesNotExist' }[r.op];
      const values = r.op === 'in' || r.op === 'notin' ? `, values: [${r.values.map(q).join(', ')}]` : '';
      out.push(`        - { key: ${r.key}, operator: ${operator}${values} }`);
    }
  }
  return out;
}

/** CEL true for the old object of a guarded controller's Deployment (any controller selector). */
function guardedControllerCel(registry: FinalizerRegistry): string {
  const selectors = registry.controllerSelectors().map(selectorCel);
  return selectors.length === 1 ? (selectors[0] ?? '') : `(${selectors.map((s) => `(${s})`).join(' || ')})`;
}

/** (c) leaves namespaces, CRDs, cluster RBAC and controller Deployments to the webhooks that judge them. */
function reviewedByAnotherWebhook(registry: FinalizerRegistry): string[] {
  return [
    '      - name: reviewed-by-another-webhook',
    '        expression: >-',
    "          !(request.resource.group == '' && request.resource.resource == 'namespaces') &&",
    "          !(request.resource.group == 'apiextensions.k8s.io' && request.resource.resource == 'customresourcedefinitions') &&",
    "          !(request.resource.group == 'rbac.authorization.k8s.io' && request.resource.resource in ['clusterroles', 'clusterrolebindings']) &&",
    "          !(request.resource.group == 'apps' && request.resource.resource == 'deployments' &&",
    `            ${guardedControllerCel(registry)})`,
  ];
}

/** (h) leaves controller Deployments to (d). */
function notAGuardedController(registry: FinalizerRegistry): string[] {
  return [
    '      - name: not-a-guarded-controller',
    '        expression: >-',
    "          !(request.resource.group == 'apps' && request.resource.resource == 'deployments' &&",
    `            ${guardedControllerCel(registry)})`,
  ];
}

/** (d) one webhook per controller selector (a webhook has one objectSelector). */
function controllerWebhooks(registry: FinalizerRegistry): string[] {
  return registry
    .controllerSelectors()
    .flatMap((selector, i) => [
      ...(i > 0 ? [''] : []),
      `  - name: ${i === 0 ? 'controllers' : `controllers-${i + 1}`}.teardown-guard.io`,
      ...COMMON,
      '    rules:',
      '      - apiGroups: ["apps"]',
      '        apiVersions: ["v1"]',
      '        operations: ["DELETE"]',
      '        resources: ["deployments"]',
      '        scope: Namespaced',
      ...objectSelectorYaml(selector),
      ...NAMESPACE_SELECTOR,
      '    matchConditions:',
      ...NOT_SYSTEM,
    ]);
}

/** Guarded resource types grouped by API group, then by scope (one webhook rule has one scope). */
function byGroupAndScope(resources: ResourceType[]): Array<{ group: string; scope: 'Namespaced' | 'Cluster'; plurals: string[] }> {
  const out: Array<{ group: string; scope: 'Namespaced' | 'Cluster'; plurals: string[] }> = [];
  for (const r of resources) {
    const scope = r.namespaced ? 'Namespaced' : 'Cluster';
    const found = out.find((o) => o.group === r.group && o.scope === scope);
    if (found) found.plurals.push(r.resource);
    else out.push({ group: r.group, scope, plurals: [r.resource] });
  }
  return out;
}

/** (f) DELETE of an object that carries a guarded finalizer, not already being deleted. */
function guardedObjectsWebhook(registry: FinalizerRegistry): string[] {
  const rules = byGroupAndScope(registry.resources()).flatMap((g) => [
    `      - apiGroups: [${q(g.group)}]`,
    '        apiVersions: ["*"]',
    '        operations: ["DELETE"]',
    `        resources: [${g.plurals.map(q).join(', ')}]`,
    `        scope: ${g.scope}`,
  ]);
  const carries = registry.guards().map((g, i, all) => {
    const ignore = g.ignoreLabel ? ` &&\n             !(has(oldObject.metadata.labels) && ${cel(g.ignoreLabel)} in oldObject.metadata.labels)` : '';
    return (
      `            (request.resource.group == ${cel(g.resource.group)} && request.resource.resource == ${cel(g.resource.resource)} &&\n` +
      `             ${cel(g.finalizer)} in oldObject.metadata.finalizers${ignore})${i < all.length - 1 ? ' ||' : ''}`
    );
  });
  return [
    '  - name: guarded-objects.teardown-guard.io',
    ...COMMON,
    '    rules:',
    ...rules,
    ...NAMESPACE_SELECTOR,
    '    matchConditions:',
    ...NOT_SYSTEM,
    '      - name: carries-guarded-finalizer',
    '        expression: >-',
    '          has(oldObject.metadata.finalizers) && !has(oldObject.metadata.deletionTimestamp) && (',
    ...carries.flatMap((c) => c.split('\n')),
    '          )',
  ];
}

/** list+watch on each guarded resource type, for its watch cache (metadata only). */
function guardedResourcesRbac(registry: FinalizerRegistry): string[] {
  const groups = new Map<string, string[]>();
  for (const r of registry.resources()) groups.set(r.group, [...(groups.get(r.group) ?? []), r.resource]);
  return [...groups].flatMap(([group, plurals]) => [
    `  - apiGroups: [${q(group)}]`,
    `    resources: [${plurals.map(q).join(', ')}]`,
    '    verbs: ["list", "watch"]',
  ]);
}

/** Every generated block's lines, by block name. */
export function renderBlocks(registry: FinalizerRegistry): Record<string, string[]> {
  return {
    'reviewed-by-another-webhook': reviewedByAnotherWebhook(registry),
    'controller-webhooks': controllerWebhooks(registry),
    'guarded-objects-webhook': guardedObjectsWebhook(registry),
    'not-a-guarded-controller': notAGuardedController(registry),
    'guarded-resources-rbac': guardedResourcesRbac(registry),
  };
}

export class MissingBlockError extends Error {
  override readonly name = 'MissingBlockError';
}

/**
 * `text` with each named block's body replaced by its rendered lines. The BEGIN/END marker lines
 * stay as they are; a block whose markers are missing is an error naming the file and the block.
 */
export function replaceBlocks(text: string, blocks: Record<string, string[]>, names: readonly string[], file: string): string {
  let out = text;
  for (const name of names) {
    const begin = new RegExp(`^[ \\t]*# BEGIN generated: ${name}\\b.*\\n`, 'm').exec(out);
    const end = new RegExp(`^[ \\t]*# END generated: ${name}\\b.*$`, 'm').exec(out);
    if (!begin || !end || end.index < begin.index) {
      throw new MissingBlockError(`${file}: no "# BEGIN generated: ${name}" ... "# END generated: ${name}" lines to render into`);
    }
    const body = blocks[name];
    if (!body) throw new MissingBlockError(`${file}: no generator for block "${name}"`);
    const from = begin.index + begin[0].length;
    out = `${out.slice(0, from)}${body.map((l) => `${l}\n`).join('')}${out.slice(end.index)}`;
  }
  return out;
}

/** Each file of GENERATED_BLOCKS as the registry renders it, given the committed texts. */
export function renderManifestFiles(registry: FinalizerRegistry, read: (file: string) => string): Map<string, string> {
  const blocks = renderBlocks(registry);
  const out = new Map<string, string>();
  for (const [file, names] of Object.entries(GENERATED_BLOCKS)) out.set(file, replaceBlocks(read(file), blocks, names, file));
  return out;
}
