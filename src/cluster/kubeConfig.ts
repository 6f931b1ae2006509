// The one part of @kubernetes/client-node the guard loads at run time: kubeconfig and in-cluster
// configuration, with their auth plugins. Imported through this file because a dynamic import of
// the package itself (`await import('@kubernetes/client-node')`) keeps every export, and so its
// whole generated API (~15 MB of source), in the bundle chunk the server shares: memory the
// process pays whether or not it runs the command that imported it (ARCHITECTURE.md §3).
export { KubeConfig } from '@kubernetes/client-node';
