#!/usr/bin/env bash
# Make the key pair that signs update bundles, on the admin machine (like `pingan-hub
# keygen` for fleet configs): DIR/update.key.pem stays there (mode 0600); the certificate
# DIR/update.cert.pem goes into every image (`build.sh --update-cert`), where rauc checks
# each bundle's signature against it.
#
#   image/update-keys.sh DIR [NAME]
#
# A self-signed EC P-256 certificate, valid 20 years (a hub in a flat is not re-imaged
# when a certificate expires; rauc checks validity against the signing time it is told).
set -euo pipefail
dir=${1:?usage: image/update-keys.sh DIR [NAME]}
name=${2:-pingan-hub update signing}
mkdir -p "$dir"
[ -e "$dir/update.key.pem" ] && { echo "$dir/update.key.pem exists; refusing to overwrite a key" >&2; exit 1; }
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$dir/update.key.pem" -out "$dir/update.cert.pem" -days 7300 \
  -subj "/O=pingan-hub/CN=$name" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,digitalSignature,keyCertSign 2>/dev/null
chmod 0644 "$dir/update.cert.pem"
echo "$dir/update.cert.pem"
