#!/bin/sh
# kill_run_when.sh UNIT CONDITION SETTLE: wait until the shell condition
# CONDITION holds (exit 3 if the transient unit UNIT ended first), wait SETTLE
# seconds more, show what package or pip work is running, then kill -9 every
# process of UNIT. test_reliability.py interrupts highstates with it.
unit=$1 condition=$2 settle=$3
until eval "$condition"; do
  systemctl is-active -q "$unit" || exit 3
  sleep 0.05
done
sleep "$settle"
ps -eo args | grep -E '^(/usr/bin/)?(apt-get|dpkg|pip|/srv)' | head -5
systemctl kill --signal=SIGKILL "$unit"
