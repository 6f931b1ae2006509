// manifests/README.md's table of webhooks, from the policies' declarations: each webhook, the
// rules its policies declare, what narrows it beyond them, who judges what it sends, and why it is
// there (src/render/docTables.ts).
import { BUILTIN_POLICIES } from '../policies/index.ts';
import type { DeclaredPolicy, LabelSelectorSpec } from '../policies/declaration.ts';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { BUILTIN_FINALIZER_GUARDS } from '../registry/finalizerRegistry.ts';
import { declaredWebhooks } from './webhookConfiguration.ts';

function selectorText(s: LabelSelectorSpec): string {
  const labels = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  const exprs = (s.matchExpressions ?? []).map((e) => `${e.key} ${e.operator}${e.values ? ` (${e.values.join(', ')})` : ''}`);
  return [...labels, ...exprs].map((t) => `\`${t}\``).join(', ');
}

export function webhookTable(policies: readonly DeclaredPolicy[] = BUILTIN_POLICIES, guards: readonly FinalizerGuard[] = BUILTIN_FINALIZER_GUARDS): string {
  const rows = declaredWebhooks(policies, guards).map(({ webhook, policies: judges, rules }) => {
    const ruleText = rules
      .map(
        (r) =>
          `${r.resources.map((x) => (x === '*' ? '`*` (every resource)' : `\`${x}\``)).join(', ')} ${r.operations.join(', ')}${r.scope === '*' ? ', scope `*`' : ''}`,
      )
      .join('; ');
    const narrowed = [
      ...(webhook.objectSelector ? [`objects ${selectorText(webhook.objectSelector)}`] : []),
      ...(webhook.skipsNamespaces === 'guard'
        ? ["not the guard's namespace"]
        : webhook.skipsNamespaces === 'exempt'
          ? ["not kube-system or the guard's namespace"]
          : []),
      ...[...(webhook.matchConditions ?? []), ...(webhook.leavesToOthers ? [webhook.leavesToOthers] : [])].map((c) => `CEL \`${c.name}\``),
    ];
    return `| \`${webhook.name}.teardown-guard.io\` | ${ruleText} | ${narrowed.join('; ') || '—'} | ${judges.join(', ')} | ${webhook.why.join(' ')} |`;
  });
  return ['| webhook | rules | narrowed to | judged by | why |', '|---|---|---|---|---|', ...rows].join('\n');
}
