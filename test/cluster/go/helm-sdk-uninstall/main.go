// helm-sdk-uninstall uninstalls a release through the Helm Go SDK the way the programs of
// helm/helm#12766 did: release storage is initialised in the namespace given to
// Configuration.Init, while the kube client keeps the getter's own namespace (from the
// kubeconfig, usually "default"). With -set-namespace it applies the maintainers' workaround
// (settings.SetNamespace), which makes both agree.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli"
)

func main() {
	releaseNamespace := flag.String("namespace", "helm-test", "namespace passed to Configuration.Init (where the release records live)")
	setNamespace := flag.Bool("set-namespace", false, "apply the workaround: settings.SetNamespace(namespace) before Init")
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
	cfg := new(action.Configuration)
	debug := func(format string, v ...interface{}) { log.Printf(format, v...) }
	if err := cfg.Init(settings.RESTClientGetter(), *releaseNamespace, os.Getenv("HELM_DRIVER"), debug); err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		os.Exit(1)
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
