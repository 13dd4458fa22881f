#!/usr/bin/env bash
# The runs of experiments/protocols/generalisation-6.md (seeds 1500-1509), from an install of
# the protocol's commit in its own virtual environment: run from outside the checkout (so that
# the installed package is imported), RESULTS the absolute path of this folder. PARTS picks
# parts by name (default: all, in the order below). A part whose run.json lists all its seeds
# is done; an interrupted part's remaining seeds run as the part NAME-rest.
set -e
RESULTS=${RESULTS:?set RESULTS to this folder}
HERE=$(cd "$(dirname "$0")" && pwd)
ROWS="lambda=0 precise-bn,lambda=0 mixup,lambda=0 mixup across,oracle"
ALL="digits-shadow-1:1500-1502 digits-shadow-2:1503-1505 digits-shadow-3:1506-1509
digits-texture-1:1500-1502 digits-texture-2:1503-1505 digits-texture-3:1506-1509
us-sim-1:1500-1502 us-sim-2:1503-1505 us-sim-3:1506-1508 us-sim-4:1509-1509
synthetic-1:1500-1502 synthetic-2:1503-1505 synthetic-3:1506-1509"
for part in ${PARTS:-$ALL}; do
  name=${part%%:*}; seeds=${part#*:}; dataset=${name%-*}
  if [ -f "$RESULTS/$name/run.json" ]; then
    seeds=$(python "$HERE/../../remaining_seeds.py" "$RESULTS/$name/run.json" "$seeds")
    [ -z "$seeds" ] && continue
    name=$name-rest
    [ -f "$RESULTS/$name/run.json" ] && { echo "$name: already started; finish it by hand" >&2; continue; }
  fi
  case $dataset in
    us-sim) extra=(--set shadow_salience=2.5 --scale 0.5) ;;
    digits-*) extra=(--image-size 32 32) ;;
    *) extra=() ;;
  esac
  python -m disentangle_tf.reproduce "$dataset" --methods "$ROWS" "${extra[@]}" --seeds "$seeds" \
    --output-dir "$RESULTS/$name"
done
