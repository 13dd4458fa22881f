#!/usr/bin/env bash
# The runs of experiments/protocols/generalisation-3.md (seeds 1200-1209), from an install of
# commit 8e12d07 in its own virtual environment: run from outside the checkout (so that the
# installed package is imported), RESULTS the absolute path of this folder. PARTS picks parts
# by name (default: all, in the order below). A part whose run.json lists all its seeds is done;
# an interrupted part's remaining seeds run as the part NAME-rest.
set -e
RESULTS=${RESULTS:?set RESULTS to this folder}
ROWS="lambda=0 precise-bn,plane only,paper,group balanced,group dro,class-conditional coral,lambda=0 retrained,jtt,recommended,selected,selected by leakage,oracle"
ALL="us-sim-1:1200-1201 us-sim-2:1202-1203 us-sim-3:1204-1205 us-sim-4:1206-1207 us-sim-5:1208-1209"
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
  python -m disentangle_tf.reproduce us-sim --methods "$ROWS" --selection held-out-combination \
    --set shadow_salience=2.5 --scale 0.5 --seeds "$seeds" --output-dir "$RESULTS/$name"
done
