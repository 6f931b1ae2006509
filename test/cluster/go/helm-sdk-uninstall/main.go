// helm-sdk-uninstall uninstalls a release through the Helm Go SDK the way the programs of
// helm/helm#12766 did: release storage is initialised in the namespace given to
// Configuration.Init, while the kube client keeps the getter's own namespace (from the
// kubeconfig, usually "default"). With -set-namespace it applies the maintainers' workaround
// (settings.SetNamespace), which makes both agree.
//
// With -target-namespace it drives the SDK the way Flux's helm-controller does: release storage
// in one namespace (the HelmRelease's, or spec.storageNamespace), the kube client and the
// release's own namespace in spec.targetNamespace. -install CHART installs such a release
// (install.Namespace = target), so records and objects live in different namespaces on purpose.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
)

func main() {
	releaseNamespace := flag.String("namespace", "helm-test", "namespace passed to Configuration.Init (where the release records live)")
	setNamespace := flag.Bool("set-namespace", false, "apply the workaround: settings.SetNamespace(namespace) before Init")
	targetNamespace := flag.String("target-namespace", "", "helm-controller shape: the kube client's and the release's namespace (records stay in -namespace)")
	installChart := flag.String("install", "", "install the chart at this path instead of uninstalling")
	keepHistory := flag.Bool("keep-history", false, "uninstall with KeepHistory (records marked uninstalled, not purged)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [flags] RELEASE\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	releaseName := flag.Arg(0)

	settings := cli.New()
	if *setNamespace {
		settings.SetNamespace(*releaseNamespace)
	}
	if *targetNamespace != "" {
		settings.SetNamespace(*targetNamespace)
	}
	cfg := new(action.Configuration)
	debug := func(format string, v ...interface{}) { log.Printf(format, v...) }
	if err := cfg.Init(settings.RESTClientGetter(), *releaseNamespace, os.Getenv("HELM_DRIVER"), debug); err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		os.Exit(1)
	}
	if *installChart != "" {
		install(cfg, releaseName, *installChart, settings.Namespace())
		return
	}
	uninstall := action.NewUninstall(cfg)
	uninstall.KeepHistory = *keepHistory
	res, err := uninstall.Run(releaseName)
	if err != nil {
		fmt.Fprintf(os.Stderr, "uninstall %s/%s: %v\n", *releaseNamespace, releaseName, err)
		os.Exit(1)
	}
	if res != nil && res.Info != "" {
		fmt.Println(res.Info)
	}
	fmt.Printf("release %q uninstalled (records in %q, kube client namespace %q)\n", releaseName, *releaseNamespace, settings.Namespace())
}

func install(cfg *action.Configuration, releaseName, chartPath, namespace string) {
	chrt, err := loader.Load(chartPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "load chart %s: %v\n", chartPath, err)
		os.Exit(1)
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName = releaseName
	inst.Namespace = namespace
	rel, err := inst.Run(chrt, map[string]interface{}{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "install %s: %v\n", releaseName, err)
		os.Exit(1)
	}
	fmt.Printf("release %q installed into %q, revision %d\n", rel.Name, rel.Namespace, rel.Version)
}
