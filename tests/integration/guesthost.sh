#!/bin/bash
# The guest test host (make check-guesthost): banger installed with
# `banger system install` in a guest with systemd as PID 1, device-mapper
# and systemd-resolved; one QEMU/TCG boot for all its checks.  The image is
# built once into /var/cache/banger/guesthost (GUESTHOST_CACHE).  See
# tests/guesthost/run.sh and docs/guesthost.md.
set -u
cd "$(dirname "$0")/../.." || exit 1
exec tests/guesthost/run.sh
