#!/usr/bin/env bash
# The runs of experiments/protocols/generalisation-5.md (seeds 1400-1409), from an install of
# the protocol's commit in its own virtual environment: run from outside the checkout (so that
# the installed package is imported), RESULTS the absolute path of this folder. PARTS picks
# parts by name (default: all, in the order below). A part whose run.json lists all its seeds
# is done; an interrupted part's remaining seeds run as the part NAME-rest.
set -e
RESULTS=${RESULTS:?set RESULTS to this folder}
HERE=$(cd "$(dirname "$0")" && pwd)
ROWS="lambda=0 precise-bn,lambda=0 precise-bn long,selected long,oracle long"
ALL="us-sim-1:1400-1400 digits-shadow-1:1400-1400 us-sim-2:1401-1401 digits-shadow-2:1401-1401
us-sim-3:1402-1402 digits-shadow-3:1402-1402 us-sim-4:1403-1403 digits-shadow-4:1403-1403
us-sim-5:1404-1404 digits-shadow-5:1404-1404 us-sim-6:1405-1405 digits-shadow-6:1405-1405
us-sim-7:1406-1406 digits-shadow-7:1406-1406 us-sim-8:1407-1407 digits-shadow-8:1407-1407
us-sim-9:1408-1408 digits-shadow-9:1408-1408 us-sim-10:1409-1409 digits-shadow-10:1409-1409
digits-texture-1:1400-1401 digits-texture-2:1402-1403 digits-texture-3:1404-1405 digits-texture-4:1406-1407
digits-texture-5:1408-1409 synthetic-1:1400-1402 synthetic-2:1403-1405 synthetic-3:1406-1408 synthetic-4:1409-1409"
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
  python -m disentangle_tf.reproduce "$dataset" --methods "$ROWS" --selection held-out-combination \
    "${extra[@]}" --seeds "$seeds" --output-dir "$RESULTS/$name"
done
