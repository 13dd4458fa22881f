#!/usr/bin/env bash
# The runs of experiments/protocols/generalisation-2.md (seeds 1100-1109), from an install of
# commit 6830f96 in its own virtual environment: run from outside the checkout (so that the
# installed package is imported), RESULTS the absolute path of this folder. PARTS picks parts
# by name (default: all, in the order below). A part whose run.json lists all its seeds is done;
# an interrupted part's remaining seeds run as the part NAME-rest.
set -e
RESULTS=${RESULTS:?set RESULTS to this folder}
ROWS="lambda=0 precise-bn,group balanced,group dro,class-conditional coral,oracle"
ALL="digits-shadow-1:1100-1104 digits-texture-1:1100-1104 digits-shadow-2:1105-1109 digits-texture-2:1105-1109
synthetic-1:1100-1101 synthetic-2:1102-1103 synthetic-3:1104-1105 synthetic-4:1106-1107 synthetic-5:1108-1109"
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
  python -m disentangle_tf.reproduce "$dataset" --methods "$ROWS" "${size[@]}" --seeds "$seeds" \
    --output-dir "$RESULTS/$name"
done
