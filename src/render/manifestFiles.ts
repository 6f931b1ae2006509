// The parts of the shipped manifests (manifests/base) that follow from the policies' declarations
// and the finalizer registry: the whole ValidatingWebhookConfiguration (webhookConfiguration.ts),
// the policies' block of config.yaml, and the RBAC the watch caches need. Blocks live between
// `# BEGIN generated: NAME` and `# END generated: NAME` lines; everything else in those files is
// written by hand. `teardown-guard render-manifests` rewrites them, and
// src/render/manifestFiles.test.ts fails when the committed files differ.
import type { FinalizerRegistry } from '../registry/finalizerRegistry.ts';
import { BUILTIN_POLICIES } from '../policies/index.ts';
import type { DeclaredPolicy, Mode } from '../policies/declaration.ts';
import { renderWebhookConfiguration } from './webhookConfiguration.ts';

/** Which file of manifests/base holds which block. */
export const GENERATED_BLOCKS: Readonly<Record<string, readonly string[]>> = {
  'rbac.yaml': ['guarded-resources-rbac'],
  'config.yaml': ['policy-modes'],
};

/** Files rendered whole. */
export const GENERATED_FILES = ['validatingwebhookconfiguration.yaml'] as const;

const q = (s: string): string => JSON.stringify(s);

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

/** `policies:` of config.yaml: every policy, at the mode the config gives it or else its default. */
export function policyModesYaml(policies: readonly DeclaredPolicy[], modes: Readonly<Record<string, Mode>>, indent: string): string[] {
  return policies.flatMap((p) => [`${indent}${p.name}:`, `${indent}  mode: ${modes[p.name] ?? p.declaration.defaultMode}`]);
}

export interface RenderInput {
  registry: FinalizerRegistry;
  /** The modes the config file sets (render-manifests keeps them); absent, every policy's default. */
  modes?: Readonly<Record<string, Mode>>;
  /** The config's guardNamespace: the webhooks' Service and the namespace never sent to the guard. */
  guardNamespace?: string;
  policies?: readonly DeclaredPolicy[];
}

/** Every generated block's lines, by block name. */
export function renderBlocks({ registry, modes = {}, policies = BUILTIN_POLICIES }: RenderInput): Record<string, string[]> {
  return {
    'guarded-resources-rbac': guardedResourcesRbac(registry),
    'policy-modes': policyModesYaml(policies, modes, '  '),
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

/** Each generated file of manifests/base as the registry and the policies render it, given the committed texts. */
export function renderManifestFiles(input: RenderInput, read: (file: string) => string): Map<string, string> {
  const blocks = renderBlocks(input);
  const out = new Map<string, string>();
  out.set('validatingwebhookconfiguration.yaml', renderWebhookConfiguration(input.policies ?? BUILTIN_POLICIES, input.registry.guards(), input.guardNamespace));
  for (const [file, names] of Object.entries(GENERATED_BLOCKS)) out.set(file, replaceBlocks(read(file), blocks, names, file));
  return out;
}
