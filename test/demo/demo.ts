// `npm run demo`: brings up the real loopback control plane (building the pinned binaries on the
// first run, with progress), plays incident A (S1) and incident B (S2) without and then with
// teardown-guard, shows what a user sees (helm output, `kubectl get ns`, the denial text), and
// tears everything down. The steps are the scenario suite's own (test/scenarios/scenarios.ts).
//   node test/demo/demo.ts          (npm run cluster:up gives a cluster to explore by hand)
import { ensureBinaries } from '../cluster/cli.ts';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { GuardSession, type ScenarioGuard } from '../scenarios/guard.ts';
import { GUARD_NAMESPACE } from '../cluster/node/installGuard.ts';
import { hostProcessPlacement, inClusterPlacement, type GuardPlacement } from '../scenarios/placement.ts';
import { kubectl, sdkUninstall, Transcript } from '../scenarios/harness.ts';
import {
  helmInstallSimpleApp,
  S1,
  s1Install,
  s1ManualCleanup,
  s1ObserveStuck,
  s1Recover,
  s1Uninstall,
  s1UninstallTwice,
  S2,
  s2Cleanup,
  s2SdkUninstall,
} from '../scenarios/scenarios.ts';

const tty = process.stdout.isTTY;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const say = (s: string) => process.stdout.write(`${s}\n`);
const act = (n: string, title: string) => say(`\n${bold(`━━━ ${n}: ${title} ━━━`)}`);

/** Prints commands and their output, leaving out the Helm SDK program's own debug log lines. */
function transcript(): Transcript {
  return new Transcript((line) => {
    if (line.startsWith('$ ')) say(bold(line));
    else if (line.startsWith('# ')) say(dim(line));
    else
      say(
        line
          .split('\n')
          .filter((l) => !/^\s+\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /.test(l))
          .join('\n'),
      );
  });
}

async function incidentA(cp: ControlPlane, guard: GuardSession<ScenarioGuard>, withGuard: boolean): Promise<void> {
  const t = transcript();
  if (!withGuard) {
    act('Incident A', "helm uninstall of a chart that ships OLM (Pixie's shape), WITHOUT teardown-guard");
    await guard.detach();
    await s1Install(cp, t);
    const u = await s1Uninstall(cp, t);
    say(dim(`# helm exit code ${u.helm.code}; olm-operator process ${u.olmRunning ? 'still running' : 'stopped with its Deployment'}`));
    const stuck = await s1ObserveStuck(cp, t);
    say(
      bold(
        stuck.stuck
          ? `→ ${S1.operatorNamespace} is stuck in Terminating: nobody is left to remove the CSV finalizer.`
          : `→ unexpected: ${S1.operatorNamespace} was not stuck`,
      ),
    );
    say(dim('# resetting with the manual remedy (patch the finalizer away, delete the leaked cluster-scoped objects)'));
    await s1ManualCleanup(cp, new Transcript());
    return;
  }
  act('Incident A', 'the same uninstall WITH teardown-guard');
  await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' });
  await s1Install(cp, t);
  say(dim('# the guard holds OLM back while the same uninstall deletes px-operator; OLM removes the finalizer'));
  const r = await s1UninstallTwice(cp, t, 3);
  say(
    dim(
      `# first helm uninstall: exit ${r.first.code} (it said why, and to run it again); px-operator gone ${(r.operatorNamespaceGoneMs / 1000).toFixed(1)} s later; second: exit ${r.second.code}`,
    ),
  );
  await kubectl(cp, t, ['get', 'ns'], 'everything gone');
  say(bold(r.leftovers.length ? `→ leftovers: ${r.leftovers.join(', ')}` : '→ clean: no namespace, CSV, OLM-owned ClusterRole or release record left behind.'));
  say(dim('# with OLM already removed by hand, the namespace deletion itself is what the guard denies:'));
  await s1Install(cp, t);
  await kubectl(cp, t, ['delete', 'deployment', 'olm-operator', '-n', S1.olmNamespace], 'OLM removed outside Helm');
  await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000);
  await kubectl(cp, t, ['delete', 'namespace', S1.operatorNamespace, '--dry-run=server'], 'the denial, in full');
  const rec = await s1Recover(cp, t);
  say(
    bold(
      rec.leftovers.length
        ? `→ leftovers: ${rec.leftovers.join(', ')}`
        : '→ recovered as the message says (bring OLM back, delete the namespace while OLM runs, uninstall): clean.',
    ),
  );
}

async function incidentB(cp: ControlPlane, guard: GuardSession<ScenarioGuard>, withGuard: boolean): Promise<void> {
  const t = transcript();
  if (!withGuard) {
    act('Incident B', 'Helm SDK uninstall with Init(getter, "helm-test"), getter namespace "default", WITHOUT teardown-guard');
    await guard.detach();
    await helmInstallSimpleApp(cp, t, S2.namespace);
    const r = await s2SdkUninstall(cp, t);
    await kubectl(cp, t, ['get', 'deploy,svc,cm', '-n', S2.namespace, '-l', `app.kubernetes.io/instance=${S2.release}`], 'yet everything is still running');
    say(
      bold(
        `→ "uninstalled", records purged (${r.records.length} left), ${r.remaining.length} of 3 resources still there. The DELETEs went to "default" and got 404.`,
      ),
    );
    await s2Cleanup(cp);
    return;
  }
  act('Incident B', 'the same SDK uninstall WITH teardown-guard (helm-uninstall-namespace: enforce)');
  await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' });
  await helmInstallSimpleApp(cp, t, S2.namespace);
  const r = await s2SdkUninstall(cp, t);
  say(bold(`→ purge denied: the record is kept (${r.records.map((x) => `${x.name}: ${x.status}`).join(', ')}), nothing is lost track of.`));
  say(dim('# the fix the message names: the correct uninstall (SetNamespace, or the CLI with -n)'));
  await sdkUninstall(cp, t, S2.release, { namespace: S2.namespace, setNamespace: true });
  await kubectl(cp, t, ['get', 'deploy,svc,cm', '-n', S2.namespace, '-l', `app.kubernetes.io/instance=${S2.release}`], 'now really gone');
  await s2Cleanup(cp);
}

/**
 * The guard as users run it (its image built from the Dockerfile, Pods on a real node, installed
 * with `kubectl apply -k`) where this machine can run a node; else a host process, saying why.
 * TG_DEMO_GUARD=host-process asks for the host process.
 */
function choosePlacement(): GuardPlacement {
  const nodeLog = (l: string) => say(dim(`[node] ${l}`));
  const inCluster = inClusterPlacement({ log: nodeLog });
  const missing = inCluster.missing(['etcd', 'kube-apiserver', 'kube-controller-manager', 'olm', 'helm3', 'helm4', 'helm-sdk-uninstall']);
  if (process.env.TG_DEMO_GUARD === 'host-process' || missing.length) {
    inCluster.cleanup();
    say(
      dim(
        process.env.TG_DEMO_GUARD === 'host-process'
          ? '# the guard runs as a host process (TG_DEMO_GUARD=host-process)'
          : `# the guard runs as a host process: a node needs ${missing.join('; ')} (run the demo as root, where test/bootstrap.sh installs the node packages)`,
      ),
    );
    return hostProcessPlacement();
  }
  say(dim('# the guard runs as users run it: its image built from the Dockerfile, two Pods on a real node, installed with kubectl apply -k'));
  return inCluster;
}

/** What a user sees of the guard once it is installed on the node. */
async function showGuardPods(cp: ControlPlane, placement: GuardPlacement): Promise<void> {
  if (placement.name !== 'in-cluster') return;
  await kubectl(cp, transcript(), ['get', 'deploy,pods,svc', '-n', GUARD_NAMESPACE, '-o', 'wide'], 'the guard, running as Pods behind its Service');
}

async function main(): Promise<number> {
  const t0 = Date.now();
  say(bold('teardown-guard demo: a real kube-apiserver, kube-controller-manager, olm-operator and Helm on 127.0.0.1'));
  await ensureBinaries((l) => say(l));
  const placement = choosePlacement();
  const cp = await placement.startCluster({ olm: 'crds', log: (l) => say(dim(`[cluster] ${l}`)) });
  const guard = new GuardSession<ScenarioGuard>(
    () => cp,
    async (c, o) => {
      const g = await placement.startGuard(c, o);
      await showGuardPods(c, placement);
      return g;
    },
  );
  try {
    await incidentA(cp, guard, false);
    await incidentA(cp, guard, true);
    await incidentB(cp, guard, false);
    await incidentB(cp, guard, true);
    const steps = Object.entries(placement.timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`);
    say(`\n${bold(`Done in ${((Date.now() - t0) / 1000).toFixed(0)}s${steps.length ? ` (${steps.join(', ')})` : ''}.`)}`);
    return 0;
  } catch (e) {
    say(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    say(cp.diagnostics(15));
    return 1;
  } finally {
    await guard.stop().catch(() => undefined);
    await cp.stop();
    placement.cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
