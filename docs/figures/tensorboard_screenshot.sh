#!/bin/bash
# The TensorBoard screenshot of docs/quickstart.rst: a short synthetic run, TensorBoard on
# its logs, and headless Chromium on the scalars page filtered to the task curves and the
# final test / unseen results.  Usage: bash docs/figures/tensorboard_screenshot.sh [RUN_DIR]
set -euo pipefail
run=${1:-runs/tensorboard-demo}
[ -d "$run" ] || python -m disentangle_tf.train --dataset synthetic --epochs 4 --output-dir "$run"
tensorboard --logdir "$run/logs" --port 6078 >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
sleep 12
filter='%5Etask%2F%7Cfinal%2Ftest%2F%28background%7Cshape%29_accuracy%7Cfinal%2Funseen%2F%28background%7Cshape%29_accuracy'
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1250 \
    --virtual-time-budget=40000 --screenshot="$(dirname "$0")/tensorboard_scalars.png" \
    "http://localhost:6078/#scalars&tagFilter=$filter"
