// Which hook Jobs the loopback cluster's hook runner runs on the host, and as what steps: a bare
// kubectl command, or a shell script made only of kubectl commands, sleep and set (the shape of
// Kyverno 3.3's pre-delete and post-delete hooks, whose scripts are quoted below as the chart
// renders them). Anything else is refused with the reason, never handed to a shell.
import { describe, expect, it } from 'vitest';
import { hostCommand } from '../cluster/hookJobRunner.ts';

const KUBECTL = '/cache/bin/kubectl-1.36.3';
const job = (command: string[], args?: string[]) =>
  ({
    metadata: { name: 'h', namespace: 'ns', uid: 'u' },
    spec: { template: { spec: { containers: [{ command, ...(args ? { args } : {}) }] } } },
  }) as Parameters<typeof hostCommand>[0];

describe('hostCommand', () => {
  it('runs a bare kubectl command with the pinned kubectl', () => {
    expect(hostCommand(job(['kubectl'], ['delete', 'csv', '-n', 'px', '--all']), KUBECTL)).toEqual({
      steps: [{ cmd: KUBECTL, args: ['delete', 'csv', '-n', 'px', '--all'] }],
      errexit: true,
    });
  });

  it("runs Kyverno's pre-delete script line by line, sleeping where it sleeps", () => {
    const script = [
      'set -euo pipefail',
      'kubectl scale -n ck deployment -l app.kubernetes.io/part-of=k-kyverno --replicas=0',
      'sleep 30',
      'kubectl delete validatingwebhookconfiguration -l webhook.kyverno.io/managed-by=kyverno',
    ].join('\n');
    expect(hostCommand(job(['/bin/bash', '-c', script]), KUBECTL)).toEqual({
      steps: [
        { cmd: KUBECTL, args: ['scale', '-n', 'ck', 'deployment', '-l', 'app.kubernetes.io/part-of=k-kyverno', '--replicas=0'] },
        { sleepMs: 30_000 },
        { cmd: KUBECTL, args: ['delete', 'validatingwebhookconfiguration', '-l', 'webhook.kyverno.io/managed-by=kyverno'] },
      ],
      errexit: true,
    });
  });

  it('keeps going after a failed line when the script does not set -e', () => {
    const r = hostCommand(job(['sh', '-c', 'kubectl delete cm -n ck k-kyverno\nkubectl get ns']), KUBECTL);
    expect(r).toMatchObject({ errexit: false });
  });

  it.each([
    ['a pipe', 'kubectl get ns | awk "{print $1}"'],
    ['a command substitution', 'NS=$(kubectl get ns)'],
    ['another program', 'curl -k https://example.invalid'],
    ['a separator', 'kubectl get ns; rm -rf /tmp/x'],
    ['a redirection', 'kubectl get ns >/tmp/out'],
  ])('refuses a script line with %s', (_what, line) => {
    expect(hostCommand(job(['/bin/bash', '-c', `set -e\n${line}`]), KUBECTL)).toHaveProperty('unsupported');
  });

  it('refuses any other program', () => {
    expect(hostCommand(job(['/usr/bin/certgen', 'create']), KUBECTL)).toHaveProperty('unsupported');
  });
});
