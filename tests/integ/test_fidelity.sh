#!/bin/sh
# SPDX-License-Identifier: MIT
# Timing fidelity of compensated times, with tolerances wide enough for a shared CI machine
# (5% / 15 ns); `make bench` runs the same check with the issue's 2% / 10 ns.
HERE=$(cd "$(dirname "$0")" && pwd)
exec sh "$HERE/../../bench/fidelity/run.sh" "${1:-build}" 5 15
