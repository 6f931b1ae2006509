// The operators' workloads run the way test/cluster/olmSupervisor.ts runs olm-operator: while a
// Deployment or StatefulSet whose container is one of operators.json's workloads (its image,
// and for images running several programs its first command or argument) exists with
// replicas >= 1 and no deletionTimestamp, its program runs as a host process, as the pod
// template's ServiceAccount, and its Pods are marked Ready; deleted or scaled to 0, it stops.
// The program is the real one where operators.json says `run: real` (Flux's helm-controller),
// otherwise the stand-in (standIn/main.ts) in the workload's role.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { helmControllerHostArgs } from '../cluster/deploymentPrograms.ts';
import { startOlmSupervisor, type OlmSupervisor, type ProgramCommand } from '../cluster/olmSupervisor.ts';
import { binPath } from '../cluster/paths.ts';
import { loadManifest, operatorDataDir, operatorsDir, type OperatorSpec, type WorkloadSpec } from './manifest.ts';

/** The supervisor's key for a workload: image, or image and first command or argument. */
export const programKey = (w: Pick<WorkloadSpec, 'image' | 'arg0'>): string => (w.arg0 ? `${w.image} ${w.arg0}` : w.image);

export interface OperatorSupervisorOptions {
  log?: (line: string) => void;
  /** Extra `--tg-*` flags for a stand-in, by operator, namespace and workload (Kueue's webhook port). */
  standInFlags?: (op: OperatorSpec, namespace: string, workload: string) => string[];
}

export function startOperatorSupervisor(cp: ControlPlane, o: OperatorSupervisorOptions = {}): OlmSupervisor {
  const dir = join(cp.dir, 'operators');
  mkdirSync(dir, { recursive: true });
  const byKey = new Map<string, { op: OperatorSpec; w: WorkloadSpec }>();
  const binaries: Record<string, string | ProgramCommand> = {};
  for (const op of loadManifest().operators) {
    for (const w of op.workloads) {
      const key = programKey(w);
      if (byKey.has(key)) throw new Error(`operators.json: two workloads run as ${key}`);
      byKey.set(key, { op, w });
      binaries[key] =
        w.run === 'real'
          ? binPath('helm-controller')
          : { cmd: process.execPath, args: [join(operatorsDir, 'standIn', 'main.ts'), `--tg-operator=${op.name}`, `--tg-role=${w.role}`] };
    }
  }
  return startOlmSupervisor({
    client: cp.client,
    server: cp.server,
    caPem: cp.caPem,
    dir,
    logDir: join(cp.dir, 'logs'),
    groupsFile: join(cp.dir, 'pgids'),
    label: 'operator',
    log: o.log ?? (() => {}),
    binaries,
    hostArgs: async ({ program, namespace, name, dir: workDir }) => {
      const entry = byKey.get(program);
      if (!entry) return [];
      if (entry.w.run === 'real') return helmControllerHostArgs();
      return [
        `--tg-namespace=${namespace}`,
        `--tg-workload=${name}`,
        `--tg-work-dir=${workDir}`,
        `--tg-data-dir=${operatorDataDir(entry.op)}`,
        ...(o.standInFlags?.(entry.op, namespace, name) ?? []),
      ];
    },
  });
}
