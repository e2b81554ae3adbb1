#!/usr/bin/env bash
# The Lambda runtime parts the cold-start benchmark runs the asset under, built once per
# version and cached under ${XDG_CACHE_HOME:-~/.cache}/ebs-pv-registrar/lambda-runtime-<key>/:
#   aws-lambda-rie   the AWS Lambda Runtime Interface Emulator, from its Go module
#   ric/             awslambdaric (the python3.13 runtime's client) for the runtime's Python
# Prints the directory on stdout; progress on stderr. A cache hit is instant.
# Env: GO (the go binary), PYTHON313 (an interpreter of the runtime's version).
set -euo pipefail

# The emulator's module has no semver tags: a pseudo-version pins one commit.
RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
RIC_VERSION=4.2.2

go_bin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$go_bin" ] || { echo "build_lambda_runtime.sh: go not found (set GO=/path/to/go)" >&2; exit 1; }
python="${PYTHON313:-}"
if [ -z "$python" ]; then
    for candidate in "$(command -v python3.13 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13.*/bin/python3.13; do
        if [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null; then python="$candidate"; fi
    done
fi
[ -n "$python" ] || { echo "build_lambda_runtime.sh: no python3.13 (set PYTHON313)" >&2; exit 1; }

key="rie-${RIE_VERSION##*-}-ric-${RIC_VERSION}-$("$python" -c 'import platform; print(platform.machine())')"
out_dir="${XDG_CACHE_HOME:-$HOME/.cache}/ebs-pv-registrar/lambda-runtime-${key}"
if [ -x "$out_dir/aws-lambda-rie" ] && [ -d "$out_dir/ric/awslambdaric" ]; then
    echo "$out_dir"
    exit 0
fi

mkdir -p "$out_dir"
exec 9>"$out_dir/.lock"
flock 9
if [ ! -x "$out_dir/aws-lambda-rie" ]; then
    echo "lambda-runtime: building $RIE_MODULE@$RIE_VERSION" >&2
    GOBIN="$out_dir/bin.tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod \
        "$go_bin" install -trimpath -ldflags="-s -w" "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION"
    mv "$out_dir/bin.tmp/aws-lambda-rie" "$out_dir/aws-lambda-rie"
    rmdir "$out_dir/bin.tmp"
fi
if [ ! -d "$out_dir/ric/awslambdaric" ]; then
    echo "lambda-runtime: awslambdaric==$RIC_VERSION for $("$python" --version)" >&2
    rm -rf "$out_dir/ric.tmp"
    "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --only-binary=:all: --root-user-action=ignore --target "$out_dir/ric.tmp" "awslambdaric==$RIC_VERSION"
    # Compiled as the runtime image ships it: its code directory is read-only too.
    "$python" -m compileall -q -j0 "$out_dir/ric.tmp" >/dev/null
    mv "$out_dir/ric.tmp" "$out_dir/ric"
fi
echo "$out_dir"
