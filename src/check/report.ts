// Plain-text rendering of check and diagnose results, for a person at a terminal.
import { formatRef } from '../k8s/types.ts';
import { formatRemedy } from '../policies/types.ts';
import type { CheckReport } from './checks.ts';
import type { NamespaceDiagnosis } from './diagnose.ts';

export function renderCheck(report: CheckReport): string {
  const lines = [`${report.safe ? 'SAFE' : 'UNSAFE'}: ${report.target}`];
  for (const step of report.steps) {
    for (const f of step.findings) {
      const label = f.severity === 'violation' ? 'DENIED (would hang without the guard)' : 'WARNING';
      lines.push(
        '',
        `${label}: delete ${formatRef(step.object)}`,
        `  ${f.summary}`,
        ...f.detail.split('\n').map((l) => `  ${l}`),
        '  Fix:',
        ...formatRemedy(f.remedy, '    '),
      );
    }
  }
  lines.push('', ...report.notes);
  return lines.join('\n');
}

export function renderDiagnosis(d: NamespaceDiagnosis): string {
  const lines = [`namespace ${d.namespace}: ${d.terminating ? 'Terminating' : 'not Terminating'}`];
  if (d.conditions.length > 0) lines.push('conditions (from the namespace controller):', ...d.conditions.map((c) => `  ${c}`));
  if (d.blockingWebhooks.length > 0) {
    lines.push(
      '',
      'webhooks in the way (failurePolicy Fail, backend Service gone): every update of the objects below is refused',
      ...d.blockingWebhooks.map(
        (w) =>
          `  - ${w.kind} ${w.configuration}, webhook ${w.webhook} -> Service ${w.service.namespace}/${w.service.name} (intercepts ${w.resources.join(', ')})`,
      ),
      'remedy (first, before anything below):',
      ...[...new Set(d.blockingWebhooks.map((w) => `${w.kind.toLowerCase()} ${w.configuration}`))].map((w) => `  kubectl delete ${w}`),
    );
  }
  for (const f of d.finalizers) {
    lines.push('', `finalizer ${f.finalizer} on ${f.holders.length} object(s):`, ...f.holders.map((h) => `  - ${formatRef(h)}`));
    if (f.controlPlane) {
      lines.push('controller: the control plane (removes it by itself)');
    } else if (f.controller) {
      lines.push(`controller ${f.controller.displayName}: ${f.controller.alive ? 'alive' : `GONE (${f.controller.whyGone})`}`);
    } else {
      lines.push('controller: not registered with teardown-guard');
    }
    lines.push('remedy:', ...f.remedy.map((r) => `  ${r}`));
  }
  if (d.discovery) {
    lines.push(
      '',
      `API discovery fails (NamespaceDeletionDiscoveryFailure): ${d.discovery.condition}`,
      ...d.discovery.apiServices.map((a) => `  - APIService ${a.name}${a.service ? ` -> Service ${a.service.namespace}/${a.service.name}` : ''}: ${a.reason}`),
      'remedy:',
      ...d.discovery.remedy.map((r) => `  ${r}`),
    );
  }
  lines.push('', ...d.notes);
  return lines.join('\n');
}
