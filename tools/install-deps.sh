#!/bin/sh
# Installs the Debian packages convtranspose needs, if any are missing:
# with apt-get as root, or through sudo. Extra package names may be given.
set -eu
packages="r-base-dev r-cran-rcpp r-cran-rcppeigen r-cran-jsonlite r-cran-testthat r-cran-knitr \
r-cran-rmarkdown r-cran-roxygen2 pandoc qpdf devscripts $*"

missing=""
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "convtranspose needs:$missing" >&2
  echo "This is not a Debian/Ubuntu system: install R (>= 4.0) with Rcpp, RcppEigen," >&2
  echo "testthat, knitr and rmarkdown, and pandoc, by your system's means." >&2
  command -v R >/dev/null 2>&1 && exit 0
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "Missing Debian packages:$missing; run as root or install sudo." >&2
  exit 1
fi
echo "Installing:$missing"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
