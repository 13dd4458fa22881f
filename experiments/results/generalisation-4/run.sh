#!/usr/bin/env bash
# The runs of experiments/protocols/generalisation-4.md (seeds 1300-1309), from an install of
# the commit that adds that protocol, in its own virtual environment: run from outside the checkout (so that the
# installed package is imported), RESULTS the absolute path of this folder. PARTS picks parts
# by name (default: all, in the order below). A part whose run.json lists all its seeds is done;
# an interrupted part's remaining seeds run as the part NAME-rest.
set -e
RESULTS=${RESULTS:?set RESULTS to this folder}
ROWS="lambda=0 precise-bn,jtt,oracle"
ALL="digits-shadow-1:1300-1304 digits-texture-1:1300-1304 digits-shadow-2:1305-1309 digits-texture-2:1305-1309
synthetic-1:1300-1304 synthetic-2:1305-1309 us-sim-1:1300-1302 us-sim-2:1303-1305 us-sim-3:1306-1308 us-sim-4:1309-1309"
for part in ${PARTS:-$ALL}; do
  name=${part%%:*}; seeds=${part#*:}; dataset=${name%-*}
  if [ -f "$RESULTS/$name/run.json" ]; then
    # The seeds of the part that its run.json does not list yet.
    seeds=$(python - "$RESULTS/$name/run.json" "$seeds" <<'PY'
import json, sys
done = {s for part in json.load(open(sys.argv[1]))["parts"] for s in part["seeds"]}
first, last = (int(v) for v in sys.argv[2].split("-"))
left = [s for s in range(first, last + 1) if s not in done]
print(f"{left[0]}-{left[0]}" if len(left) == 1 else ",".join(map(str, left)))  # one seed alone would be a count
PY
)
    [ -z "$seeds" ] && continue
    name=$name-rest
    [ -f "$RESULTS/$name/run.json" ] && { echo "$name: already started; finish it by hand" >&2; continue; }
  fi
  case $dataset in
    synthetic) extra=() ;;
    us-sim) extra=(--set shadow_salience=2.5 --scale 0.5) ;;
    *) extra=(--image-size 32 32) ;;
  esac
  python -m disentangle_tf.reproduce "$dataset" --methods "$ROWS" "${extra[@]}" --seeds "$seeds" \
    --output-dir "$RESULTS/$name"
done
