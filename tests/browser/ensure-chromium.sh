#!/bin/sh
# Make sure the browser tests have Debian's chromium (called by `make browser-deps`).
#
# The binary is LEDGER_CHROMIUM when set, else /usr/bin/chromium, else `chromium`
# on PATH: the same search as tests/browser/conftest.py. When none is found and we
# are root, install Debian's package with apt-get (apt-get update only if the
# first attempt fails); otherwise say clearly that the browser tests will be
# skipped, or will fail when LEDGER_REQUIRE_BROWSER is set (CI). Never downloads
# a browser of Playwright's own. Exits 0 either way: pytest decides skip or fail.
set -u

case "${LEDGER_REQUIRE_BROWSER:-}" in
  "" | 0) outcome="be SKIPPED" ;;
  *) outcome="FAIL (LEDGER_REQUIRE_BROWSER is set)" ;;
esac

find_chromium() {
  if [ -n "${LEDGER_CHROMIUM:-}" ]; then
    [ -x "$LEDGER_CHROMIUM" ] && echo "$LEDGER_CHROMIUM"
  elif [ -x /usr/bin/chromium ]; then
    echo /usr/bin/chromium
  else
    command -v chromium
  fi
  return 0
}

found="$(find_chromium)"
if [ -n "$found" ]; then
  echo "browser tests: chromium at $found"
  exit 0
fi

if [ -n "${LEDGER_CHROMIUM:-}" ]; then
  echo "browser tests will $outcome: LEDGER_CHROMIUM=$LEDGER_CHROMIUM is not an executable"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "browser tests will $outcome: chromium not installed (run as root or apt install chromium)"
  exit 0
fi

echo "browser tests: chromium not installed; installing Debian's package with apt-get"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends chromium; then
  apt-get update && apt-get install -y --no-install-recommends chromium
fi

found="$(find_chromium)"
if [ -n "$found" ]; then
  echo "browser tests: chromium at $found"
else
  echo "browser tests will $outcome: apt-get could not install chromium"
fi
exit 0
