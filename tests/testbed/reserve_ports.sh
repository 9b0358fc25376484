#!/usr/bin/env bash
# Keeps the kernel from handing out the end-to-end stacks' published ports as ephemeral (client) ports.
# Each e2e module moves its stack's ports by a fixed shift (tests/shifted_stack.py), and many of those land in
# Linux's ephemeral range (32768-60999): under load a test's own HTTP connection can hold 127.0.0.1:34090 as its
# local port just when Compose publishes Prometheus there ("bind: address already in use", CI of 752ba64).
# Reserved ports stay bindable by name; only automatic assignment skips them. tests/unit/test_e2e_ports.py checks
# that every shifted port is inside the range below (the one place it is written: ./reserved_ports).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
want="$(tr -d '[:space:]' <"$here/reserved_ports")"
knob=/proc/sys/net/ipv4/ip_local_reserved_ports
have="$(cat "$knob")"
lo="${want%-*}"
hi="${want#*-}"
read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range
if ((hi < eph_lo || lo > eph_hi)); then
    echo "[reserve_ports] ephemeral range $eph_lo-$eph_hi is clear of the test ports $want: nothing to do"
    exit 0
fi
case ",$have," in
*",$want,"*)
    echo "[reserve_ports] $want already reserved"
    exit 0
    ;;
esac
new="${have:+$have,}$want"
if ! echo "$new" >"$knob" 2>/dev/null; then
    echo "[reserve_ports] cannot write $knob (read-only /proc/sys?): end-to-end stacks may meet a busy port" \
        "under load. Fix: sysctl -w net.ipv4.ip_local_reserved_ports=$new" >&2
    exit 0
fi
echo "[reserve_ports] reserved $want (net.ipv4.ip_local_reserved_ports=$(cat "$knob"))"
