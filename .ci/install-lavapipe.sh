#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe) so the wgpu backend can run without a
# GPU. Idempotent and quiet; prefers bookworm-backports' newer Mesa (5-9x faster) when the
# system is Debian 12. Run as root (CI containers) or through sudo.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    echo "lavapipe already installed: $(ls /usr/share/vulkan/icd.d/lvp_icd*.json | head -1)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
codename=""
if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    . /etc/os-release
    codename="${VERSION_CODENAME:-}"
fi

target=()
if [ "$codename" = "bookworm" ]; then
    list=/etc/apt/sources.list.d/bookworm-backports.list
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # The backports suite lives on the mirror the system already uses for bookworm.
        mirror=$(grep -rhs -m1 '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
        [ -n "$mirror" ] || mirror=$(awk '/^deb / && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
        if [ -n "$mirror" ]; then
            echo "deb $mirror bookworm-backports main" | $SUDO tee "$list" >/dev/null
        fi
    fi
    target=(-t bookworm-backports)
fi

$SUDO apt-get update -qq >/dev/null
if ! $SUDO apt-get install -y -qq --no-install-recommends "${target[@]}" mesa-vulkan-drivers >/dev/null 2>&1; then
    # Backports unreachable or broken: fall back to the release's own Mesa.
    $SUDO apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers >/dev/null
fi
$SUDO apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null

ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || {
    echo "lavapipe ICD not found after installing mesa-vulkan-drivers" >&2
    exit 1
}
echo "lavapipe installed: mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
