#!/usr/bin/env bash
# The runs of experiments/protocols/generalisation-1.md (seeds 1000-1009), from an install of
# commit a22b9ff in its own virtual environment: run from outside the checkout (so that the
# installed package is imported), RESULTS the absolute path of this folder. PARTS picks parts
# by name (default: all, in the order below). A part whose run.json lists all its seeds is done;
# an interrupted part's remaining seeds run as the part NAME-rest.
set -e
RESULTS=${RESULTS:?set RESULTS to this folder}
ROWS="lambda=0 precise-bn,paper,group balanced,lambda=0 retrained,jtt,recommended,selected,selected by leakage,oracle"
ALL="digits-shadow-1:1000-1002 digits-texture-1:1000-1002 digits-shadow-2:1003-1005 digits-texture-2:1003-1005
digits-shadow-3:1006-1007 digits-texture-3:1006-1007 digits-shadow-4:1008-1009 digits-texture-4:1008-1009
synthetic-1:1000-1001 synthetic-2:1002-1003 synthetic-3:1004-1005 synthetic-4:1006-1007 synthetic-5:1008-1009"
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
  size=(); [ "$dataset" != synthetic ] && size=(--image-size 32 32)
  python -m disentangle_tf.reproduce "$dataset" --methods "$ROWS" --selection held-out-combination \
    "${size[@]}" --seeds "$seeds" --output-dir "$RESULTS/$name"
done
