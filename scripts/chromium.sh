# Sourced by scripts/test.sh: the browser the hosted page's yardstick drives
# (tests/browser_flow.py), Debian's Chromium, and a Thai font for its
# screenshots. Installed with apt-get where it can be (as root, on Debian or
# Ubuntu); otherwise it says what to install. Playwright downloads no
# browser of its own.

chromium_packages="chromium fonts-thai-tlwg"
if [ ! -x /usr/bin/chromium ] || [ -z "$(fc-list :lang=th 2>/dev/null)" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's $chromium_packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $chromium_packages >/dev/null
  else
    die "the hosted page's browser test needs Debian's Chromium at /usr/bin/chromium and a Thai font: sudo apt-get install $chromium_packages"
  fi
fi
