#!/bin/sh
# Managed by Salt (webstack postgresql role): edits are overwritten.
#
# Run before PostgreSQL starts (ExecStartPre, as postgres): a primary does
# not come back as a second primary. It asks each replica it had (PEERS, one
# address a line) over a replication connection (CONNINFO) which system and
# timeline it serves; one serving this cluster's system on a later timeline
# was promoted meanwhile: refuse to start. A standby, or a peer that does not
# answer, lets it start.
#   fence.sh DATA_DIR BIN_DIR PEERS CONNINFO
set -u
data=$1 bin=$2 peers=$3 conninfo=$4
[ -e "$data/standby.signal" ] && exit 0
[ -r "$peers" ] || exit 0
control=$("$bin/pg_controldata" "$data") || exit 0
system=$(printf '%s\n' "$control" | sed -n 's/^Database system identifier: *//p')
timeline=$(printf '%s\n' "$control" | sed -n "s/^Latest checkpoint's TimeLineID: *//p")
while read -r peer; do
    [ -n "$peer" ] || continue
    answer=$(PGCONNECT_TIMEOUT=5 psql -XAtq -c IDENTIFY_SYSTEM \
        "host=$peer $conninfo dbname=replication replication=true" 2>/dev/null) || continue
    their_system=${answer%%|*}
    rest=${answer#*|}
    their_timeline=${rest%%|*}
    if [ "$their_system" = "$system" ] && [ "$their_timeline" -gt "$timeline" ]; then
        echo "webstack fence: $peer was promoted (timeline $their_timeline, ours $timeline):" \
            "not starting as a second primary. Rebuild this box as a replica (README: Read replicas)." >&2
        logger -t webstack-replication -p daemon.err \
            "fenced: $peer was promoted (timeline $their_timeline, ours $timeline); PostgreSQL not started here"
        exit 1
    fi
done < "$peers"
exit 0
