#!/usr/bin/env bash
# The diagnosis runs of held-out-combination selection (seeds 200-202, used for nothing else),
# from an install of commit d0a74cc in its own virtual environment: run from outside the
# checkout (so that the installed package is imported), RESULTS the absolute path of this folder.
set -e
RESULTS=${RESULTS:?set RESULTS to this folder}
for dataset in digits-shadow digits-texture; do
  python -m disentangle_tf.reproduce "$dataset" --methods "selected,lambda=0 precise-bn,oracle" \
    --selection held-out-combination --seeds 200-202 --image-size 32 32 \
    --output-dir "$RESULTS/$dataset"
done
