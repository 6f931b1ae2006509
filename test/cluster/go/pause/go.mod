// The node mode's sandbox ("pause") image: a static program that holds a Pod's namespaces open
// until the runtime stops it. No dependencies.
module teardown-guard.test/cluster/pause

go 1.22
