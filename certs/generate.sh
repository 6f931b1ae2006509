#!/usr/bin/env bash
# Development PKI for teardown-guard: a CA and a serving certificate for the webhook Service,
# optionally a client certificate for POST /audit (mTLS), and the inputs the self-signed kustomize
# overlay consumes (its Secret and the webhook caBundle).
#
#   bash certs/generate.sh                       # or: npm run certs
#   bash certs/generate.sh --namespace guard --service tg --out /tmp/tg-certs --no-kustomize
#   bash certs/generate.sh --client audit-shipper
#
# Re-running keeps the CA (so the registered caBundle stays valid) and issues a fresh serving
# certificate: a running server picks it up without a restart. --force-ca starts a new CA.
# Production certificates come from cert-manager or your own PKI: see certs/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

namespace="${CERTS_NAMESPACE:-teardown-guard}"
service="${CERTS_SERVICE:-teardown-guard}"
out="${CERTS_OUT:-$here/out}"
days="${CERTS_DAYS:-365}"
ca_days="${CERTS_CA_DAYS:-3650}"
kustomize_dir="$repo/manifests/overlays/self-signed/generated"
write_kustomize=1
force_ca=0
client=""
extra_sans=()

usage() {
  cat <<EOF
usage: bash certs/generate.sh [options]

  --namespace NS        namespace of the webhook Service (default: $namespace; env CERTS_NAMESPACE)
  --service NAME        name of the webhook Service (default: $service; env CERTS_SERVICE)
  --out DIR             where the CA, key and certificates go (default: certs/out; env CERTS_OUT)
  --days N              serving/client certificate validity in days (default: $days; env CERTS_DAYS)
  --ca-days N           CA validity in days, used only when a CA is created (default: $ca_days)
  --san SAN             extra subjectAltName, e.g. DNS:guard.example.com or IP:10.0.0.5 (repeatable)
  --client NAME         also issue a client certificate (CN=NAME) for POST /audit mTLS
  --force-ca            make a new CA even if DIR/ca.key exists (re-register the caBundle afterwards)
  --kustomize-dir DIR   where the self-signed overlay reads its inputs
                        (default: manifests/overlays/self-signed/generated)
  --no-kustomize        do not write the overlay inputs
  -h, --help            this help
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) namespace="${2:?--namespace needs a value}"; shift 2 ;;
    --service) service="${2:?--service needs a value}"; shift 2 ;;
    --out) out="${2:?--out needs a value}"; shift 2 ;;
    --days) days="${2:?--days needs a value}"; shift 2 ;;
    --ca-days) ca_days="${2:?--ca-days needs a value}"; shift 2 ;;
    --san) extra_sans+=("${2:?--san needs a value}"); shift 2 ;;
    --client) client="${2:?--client needs a value}"; shift 2 ;;
    --force-ca) force_ca=1; shift ;;
    --kustomize-dir) kustomize_dir="${2:?--kustomize-dir needs a value}"; shift 2 ;;
    --no-kustomize) write_kustomize=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "generate.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

dns_label='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
[[ "$namespace" =~ $dns_label ]] || { echo "generate.sh: --namespace \"$namespace\" is not a valid namespace name" >&2; exit 2; }
[[ "$service" =~ $dns_label ]] || { echo "generate.sh: --service \"$service\" is not a valid Service name" >&2; exit 2; }
[[ "$days" =~ ^[1-9][0-9]*$ ]] || { echo "generate.sh: --days \"$days\" is not a positive integer" >&2; exit 2; }
[[ "$ca_days" =~ ^[1-9][0-9]*$ ]] || { echo "generate.sh: --ca-days \"$ca_days\" is not a positive integer" >&2; exit 2; }
for san in "${extra_sans[@]+"${extra_sans[@]}"}"; do
  [[ "$san" =~ ^(DNS|IP):[^,[:space:]]+$ ]] || { echo "generate.sh: --san \"$san\" must look like DNS:name or IP:address" >&2; exit 2; }
done
command -v openssl >/dev/null || { echo "generate.sh: openssl is required" >&2; exit 1; }

umask 077
mkdir -p "$out"
tmp="$(mktemp -d "$out/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
serial() { echo "0x$(openssl rand -hex 16)"; }

# --- CA -------------------------------------------------------------------------------------
if [ "$force_ca" = 1 ] || [ ! -s "$out/ca.key" ] || [ ! -s "$out/ca.crt" ]; then
  newkey "$tmp/ca.key"
  openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$ca_days" -set_serial "$(serial)" \
    -subj "/O=teardown-guard/CN=teardown-guard development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$tmp/ca.crt"
  mv -f "$tmp/ca.key" "$out/ca.key"
  mv -f "$tmp/ca.crt" "$out/ca.crt"
  echo "generate.sh: new CA in $out/ca.crt (valid $ca_days days)" >&2
else
  echo "generate.sh: reusing CA $out/ca.crt" >&2
fi

# --- serving certificate --------------------------------------------------------------------
# The webhook Service and the audit receiver's (components/audit-receiver) share the certificate.
sans="DNS:$service,DNS:$service.$namespace,DNS:$service.$namespace.svc,DNS:$service.$namespace.svc.cluster.local"
sans="$sans,DNS:$service-audit,DNS:$service-audit.$namespace,DNS:$service-audit.$namespace.svc,DNS:$service-audit.$namespace.svc.cluster.local"
sans="$sans,DNS:localhost,IP:127.0.0.1"
for san in "${extra_sans[@]+"${extra_sans[@]}"}"; do sans="$sans,$san"; done

issue() { # issue NAME CN EKU SANS
  local name="$1" cn="$2" eku="$3" altnames="$4"
  newkey "$tmp/$name.key"
  openssl req -new -key "$tmp/$name.key" -subj "/O=teardown-guard/CN=$cn" -out "$tmp/$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "authorityKeyIdentifier=keyid"
    if [ -n "$altnames" ]; then echo "subjectAltName=$altnames"; fi
  } > "$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -set_serial "$(serial)" \
    -sha256 -days "$days" -extfile "$tmp/$name.ext" -out "$tmp/$name.crt" 2>/dev/null
  openssl verify -CAfile "$out/ca.crt" "$tmp/$name.crt" >/dev/null
}

issue tls "$service.$namespace.svc" serverAuth "$sans"
# Replace key and certificate with renames, back to back: a running server sees one change
# (its watcher debounces) and never reads a half-written file.
mv -f "$tmp/tls.key" "$out/tls.key"
mv -f "$tmp/tls.crt" "$out/tls.crt"
echo "generate.sh: serving certificate $out/tls.crt for $sans (valid $days days)" >&2

if [ -n "$client" ]; then
  [[ "$client" =~ ^[A-Za-z0-9][-A-Za-z0-9_.:@]*$ ]] || { echo "generate.sh: --client \"$client\" is not a plain name" >&2; exit 2; }
  issue client "$client" clientAuth ""
  mv -f "$tmp/client.key" "$out/client.key"
  mv -f "$tmp/client.crt" "$out/client.crt"
  echo "generate.sh: client certificate $out/client.crt (CN=$client) for POST /audit mTLS" >&2
fi

# --- inputs of manifests/overlays/self-signed ------------------------------------------------
if [ "$write_kustomize" = 1 ]; then
  mkdir -p "$kustomize_dir"
  cp "$out/ca.crt" "$kustomize_dir/.ca.crt.new" && mv -f "$kustomize_dir/.ca.crt.new" "$kustomize_dir/ca.crt"
  cp "$out/tls.crt" "$kustomize_dir/.tls.crt.new" && mv -f "$kustomize_dir/.tls.crt.new" "$kustomize_dir/tls.crt"
  cp "$out/tls.key" "$kustomize_dir/.tls.key.new" && mv -f "$kustomize_dir/.tls.key.new" "$kustomize_dir/tls.key"
  # The overlay copies data["ca.crt"] of the generated Secret into every webhook's caBundle
  # (kustomize replacements), so no webhook names are hard-coded here.
  if [ "$namespace" != "teardown-guard" ] || [ "$service" != "teardown-guard" ]; then
    echo "generate.sh: note: the overlay deploys Service teardown-guard/teardown-guard; adjust it for $namespace/$service" >&2
  fi
  echo "generate.sh: overlay inputs written to $kustomize_dir" >&2
fi

echo "$out"
