#!/usr/bin/env bash
# The test command: works on a fresh machine with only a Rust toolchain and Python 3 (Debian's
# externally-managed one included), because it installs nothing outside the repository.
#
#   tests/run.sh [cargo test arguments]       e.g. tests/run.sh --test cli completion
#
# 1. A project-local virtual environment (.venv/, or $IRIS_VENV) from the `python3` on PATH,
#    with the pinned tests/python/requirements.txt and deploy/requirements-test.txt; reinstalled
#    only when those files change.
# 2. Newman (Postman's runner) into .venv/newman with npm, when npm is there; the Postman test
#    skips, saying so, without it.
# 3. `cargo test --locked`, with IRIS_TEST_PYTHON set to the venv's interpreter and the venv's
#    bin/ first on PATH, so every test that drives Python uses it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

venv="${IRIS_VENV:-$root/.venv}"
python="${IRIS_BASE_PYTHON:-python3}"
newman_version=6.2.2

say() { echo "tests/run.sh: $*" >&2; }

am_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
    # Only as root with apt (CI and fresh Debian machines); otherwise the caller says what to do.
    am_root && command -v apt-get >/dev/null || return 1
    say "installing $* with apt-get"
    if [ -z "${apt_updated:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

make_venv() {
    if "$python" -m venv "$venv" 2>/dev/null; then
        return
    fi
    # Debian ships venv's ensurepip separately (python3-venv).
    rm -rf "$venv"
    if apt_install python3-venv && "$python" -m venv "$venv"; then
        return
    fi
    say "cannot create a virtual environment with $python -m venv; install python3-venv" \
        "(Debian: apt-get install python3-venv) and run again"
    exit 1
}

requirements=(tests/python/requirements.txt deploy/requirements-test.txt)
stamp="$venv/.iris-requirements"
want="$("$python" --version 2>&1) $(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "creating $venv with the pinned test requirements"
    rm -rf "$venv"
    make_venv
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "${requirements[@]/#/-r}"
    echo "$want" >"$stamp"
fi

newman="$venv/newman/node_modules/.bin/newman"
if [ ! -x "$newman" ]; then
    if command -v npm >/dev/null; then
        say "installing newman@$newman_version into $venv/newman"
        npm install --silent --no-audit --no-fund --prefix "$venv/newman" \
            "newman@$newman_version" >/dev/null ||
            say "npm install newman failed; the Newman test will skip"
    else
        say "npm not found; the Newman test will skip"
    fi
fi
if [ -x "$newman" ]; then
    export IRIS_TEST_NEWMAN="$newman"
fi

# The man-page test renders with `man -l`; install it only where it is missing.
if ! command -v man >/dev/null || ! command -v groff >/dev/null; then
    apt_install man-db groff-base || say "man or groff missing and not installable; the man-page rendering test will skip"
fi

export IRIS_TEST_PYTHON="$venv/bin/python"
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
say "IRIS_TEST_PYTHON=$IRIS_TEST_PYTHON"
exec cargo test --locked "$@"
