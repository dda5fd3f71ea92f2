#!/usr/bin/env bash
# Fast mode's apply speed as a user sees it: a saved network (--model) applied to a whole clip through the CLI,
# startup, decode, cut detection, PNGs and encode included. Frames per second of wall time, at 1 and 2 threads,
# one frame per network pass and four (--batch-chains 4).
# The network's weights do not change its speed, so a 10-step training on random VGG19 features makes it.
#
#   bash benchmarks/fast_apply.sh [INPUT] [STYLE]
set -euo pipefail
cd "$(dirname "$0")/.."
input=${1:-../shared/data/videos/issue-134-rotate.mp4}
style=${2:-../shared/data/styles/starry_night.jpg}
work=$(mktemp -d -t vidstyle-fast-apply-XXXXXX)
trap 'rm -rf "$work"' EXIT
weights=$(uv run python -c "import sys; sys.path.insert(0, '.'); from pathlib import Path; from benchmarks._common import random_weights; print(random_weights(Path('$work')))" | tail -1)
uv run vidstyle stylize "$input" -s "$style" -o "$work/train.mp4" --weights "$weights" --method fast \
    --train-steps 10 --keyframes 1000 --iterations 10 --save-model "$work/net.pt" -q >/dev/null
# THREADS BATCH: frames per network pass (--batch-chains; the clip is then split into that many chains).
for run in "1 1" "2 1" "2 4"; do
    read -r threads batch <<<"$run"
    out="$work/apply-$threads-$batch.mp4"
    started=$(date +%s.%N)
    OMP_NUM_THREADS=$threads uv run vidstyle stylize "$input" -s "$style" -o "$out" \
        --weights "$weights" --method fast --model "$work/net.pt" --batch-chains "$batch" --chain-frames 60 -q >/dev/null
    ended=$(date +%s.%N)
    uv run python -c "
from vidstyle.video.probe import count_video_frames, probe_media
n, m, wall = count_video_frames('$out'), probe_media('$out'), $ended - $started
print(f'{$threads} thread(s), {$batch} frame(s) per pass: {n} frames at {m.width}x{m.height} in {wall:.1f} s: {n / wall:.1f} fps')"
done
