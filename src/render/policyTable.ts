// The README's policy table, from the policies' declarations: name, default mode, the requests
// each judges and its one-line summary (src/render/docTables.ts).
import { BUILTIN_POLICIES } from '../policies/index.ts';
import type { DeclaredPolicy } from '../policies/declaration.ts';
import { BUILTIN_FINALIZER_GUARDS } from '../registry/finalizerRegistry.ts';

/** `DELETE of namespaces, deployments; UPDATE of secrets`: every resource the rules name (plural), by operation. */
function judged(policy: DeclaredPolicy): string {
  const byOperation = new Map<string, string[]>();
  for (const { rule } of policy.declaration.judges(BUILTIN_FINALIZER_GUARDS)) {
    for (const operation of rule.operations) {
      const names = byOperation.get(operation) ?? [];
      for (const resource of rule.resources) {
        const name = resource === '*' ? 'every resource' : resource;
        if (!names.includes(name)) names.push(name);
      }
      byOperation.set(operation, names);
    }
  }
  return [...byOperation].map(([op, names]) => `${op} of ${names.includes('every resource') ? 'every resource' : names.join(', ')}`).join('; ');
}

export function policyTable(policies: readonly DeclaredPolicy[] = BUILTIN_POLICIES): string {
  return [
    '| policy | default mode | judges | what it does |',
    '|---|---|---|---|',
    ...policies.map((p) => `| \`${p.name}\` | \`${p.declaration.defaultMode}\` | ${judged(p)} | ${p.declaration.summary} |`),
  ].join('\n');
}
