#!/bin/sh
# Writes pgan's tokens for Kubernetes into base/secrets/ (git-ignored),
# where base/kustomization.yaml's secretGenerator reads them:
#   base/secrets/tokens.txt    the coordinator's tokens file, one line per
#                              principal "name role sha256hex(token)"
#   base/secrets/worker-token  the pool workers' token, in plain text
# and prints one user token for you (only its hash is kept: save it).
#
#   deploy/kubernetes/make-secrets.sh [NAME [ROLE]]
#
# First run: a worker token and a principal NAME (default `operator`) with
# ROLE `admin` (sees and cancels every job) or `user` (its own jobs only;
# default `admin`). Later runs keep the worker token and add principal NAME
# to tokens.txt. Then `kubectl apply -k` the overlay again and
# `kubectl -n pgan rollout restart deployment/pgan-coordinator`.
# To replace every token, delete base/secrets/ first (and restart the
# workers too).
set -eu

name=${1:-operator}
role=${2:-admin}
dir=$(cd "$(dirname "$0")" && pwd)/base/secrets

case $name in
  *[!A-Za-z0-9._-]* | "") echo "make-secrets.sh: bad name '$name'" >&2; exit 2 ;;
esac
case $role in
  user | admin) ;;
  *) echo "make-secrets.sh: role must be user or admin, not '$role'" >&2; exit 2 ;;
esac

# 32 random bytes as 64 hex digits.
new_token() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
# The coordinator compares sha256(token) with the file's hex digest; the
# token is hashed without a trailing newline, as clients send it.
sha256() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

umask 077
mkdir -p "$dir"
if [ ! -s "$dir/worker-token" ]; then
  worker=$(new_token)
  # No trailing newline: the Secret's value becomes PGAN_TOKEN verbatim.
  printf %s "$worker" > "$dir/worker-token"
  {
    echo "# pgan-coordinator tokens: name role sha256hex(token). Written by"
    echo "# deploy/kubernetes/make-secrets.sh; never commit."
    echo "pool worker $(sha256 "$worker")"
  } > "$dir/tokens.txt"
fi
if awk -v n="$name" '$1 == n { found = 1 } END { exit !found }' "$dir/tokens.txt"; then
  echo "make-secrets.sh: $dir/tokens.txt already has '$name'" >&2
  exit 1
fi
token=$(new_token)
echo "$name $role $(sha256 "$token")" >> "$dir/tokens.txt"

echo "Wrote $dir/tokens.txt and $dir/worker-token."
echo "Token of $name ($role), shown only now:"
echo "$token"
