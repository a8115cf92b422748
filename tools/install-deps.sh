#!/usr/bin/env bash
# tools/install-deps.sh [PACKAGE...]: installs the Debian packages that are missing, with
# apt-get as root or through sudo.  Without arguments the packages are packages.txt's: what
# the build and the test suite need (make check runs this before it builds).
#
# Fast and offline when nothing is missing: one dpkg-query, no apt-get.  When something is
# missing and neither root nor sudo is available, it names the packages and exits 1; with
# ALLOW_SKIP=1 (a partial run asked for) it warns and exits 0, and the tests whose tools
# are missing are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
me="install-deps"

if (($# > 0)); then
  wanted=("$@")
  what="the command line"
else
  mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' packages.txt)
  what="packages.txt"
fi

# missing_packages: the wanted packages dpkg does not list as installed (status "i").
missing_packages() {
  local -A have=()
  local status pkg
  if command -v dpkg-query >/dev/null; then
    while read -r status pkg; do
      [[ ${status:1:1} == i ]] && have[$pkg]=1
    done < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${wanted[@]}" 2>/dev/null || true)
  fi
  for pkg in "${wanted[@]}"; do
    [[ -n ${have[$pkg]:-} ]] || echo "$pkg"
  done
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} == 0)); then
  echo "$me: nothing to install (${#wanted[@]} packages from $what, all installed)"
  exit 0
fi

echo "$me: not installed: ${missing[*]}"
sudo=()
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [[ -t 0 ]]; }; then
    sudo=(sudo)
  else
    echo "$me: cannot install them: not root, and no sudo (or one that asks for a password, without a terminal)" >&2
    echo "$me: install them as root:  apt-get install --no-install-recommends ${missing[*]}" >&2
    if [[ ${ALLOW_SKIP:-0} == 1 ]]; then
      echo "$me: ALLOW_SKIP=1: going on; the tests that need them will be skipped" >&2
      exit 0
    fi
    echo "$me: (or run a partial check, skipping the tests whose tools are missing: make check ALLOW_SKIP=1)" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "$me: no apt-get on this machine: install ${missing[*]} (Debian package names) by hand" >&2
  [[ ${ALLOW_SKIP:-0} == 1 ]] && exit 0
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "$me: ${sudo[*]:+${sudo[*]} }apt-get install ${missing[*]}"
# The package lists of a fresh machine may be empty or stale: update first.
"${sudo[@]}" apt-get update -qq || echo "$me: apt-get update failed; trying the install anyway" >&2
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "$me: apt-get install failed for: ${missing[*]}" >&2
  exit 1
fi

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} > 0)); then
  echo "$me: still not installed after apt-get: ${missing[*]}" >&2
  exit 1
fi
echo "$me: done (${#wanted[@]} packages from $what, all installed now)"
