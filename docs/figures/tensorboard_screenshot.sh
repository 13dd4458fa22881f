#!/bin/bash
# The TensorBoard screenshots of docs/quickstart.rst: a short synthetic run, TensorBoard on
# its logs (bound to 127.0.0.1), and headless Chromium on the page as it opens (the Time
# Series dashboard, the 1_task group first; SVG charts, which a headless browser draws)
# and on the Text dashboard (the final results).
# Usage: bash docs/figures/tensorboard_screenshot.sh [RUN_DIR]
set -euo pipefail
run=${1:-runs/tensorboard-demo}
static="$(dirname "$0")/../_static"
[ -d "$run" ] || python -m disentangle_tf.train --dataset synthetic --epochs 8 --image-size 32 40 \
    --set 'encoder_filters=[8,16]' --set 'encoder_strides=[2,2]' --set stem_filters=8 --head-units 16 --set precise_batch_norm=5 --output-dir "$run"
tensorboard --logdir "$run/logs" --host 127.0.0.1 --port 6006 >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
sleep 20
shoot() {  # FILE HEIGHT URL
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1400,$2" \
        --virtual-time-budget=20000 --screenshot="$static/$1" "$3"
}
shoot tensorboard.png 900 "http://127.0.0.1:6006/?forceSVG=true"
shoot tensorboard_results.png 660 "http://127.0.0.1:6006/#text"
