#!/usr/bin/env bash
# Quick start hook (called by ../run_demo.sh): CORPUS_DIR OUT_WAV_DIR.
# Trains configs/tiny.json (latent width 64, a narrow discriminator) on the CPU for DEMO_STEPS updates
# (default 20: the pipeline, not a model that speaks) of the warm-up stage, with monotonic alignment
# search instead of external durations (--use-mas), on the corpus's shortest training sentences (at most
# 50 characters), then synthesises the test sentences (DEMO_TEST_LIST, default the corpus's test.txt)
# into OUT_WAV_DIR: a 16-bit WAV and a PNG (log-mel, durations) per sentence, timings.json (for the
# real-time factor) and synthesis.json. The model is end to end: no vocoder. Reruns start over (--force).
# To keep the demo near a minute on a busy machine: batch 2 instead of 4, no TensorBoard images
# (log.jsonl still has every step), one evaluation sample of at most 200 frames, at most 400 frames per
# test sentence. The memory-bank attach and the main stage are left out; recipe.py runs all three stages.
set -euo pipefail
corpus="$1"
wav_out="$2"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
work="$(dirname "$wav_out")"
mkdir -p "$work"
# One thread: a tiny model runs faster on one than on two cores shared with anything else.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# Short sentences for training; the two shortest of val.txt for the one evaluation (at epoch 0).
awk -F'|' 'length($2) <= 50' "$corpus/train.txt" > "$work/train_short.txt"
if [ "$(wc -l < "$work/train_short.txt")" -lt 4 ]; then head -n 8 "$corpus/train.txt" > "$work/train_short.txt"; fi
awk -F'|' '{print length($2) "\t" $0}' "$corpus/val.txt" | sort -n | head -n 2 | cut -f2- > "$work/val_short.txt"

"$py" "$repo_root/naturalspeech/train.py" -c "$repo_root/naturalspeech/configs/tiny.json" -m demo \
  -o "$work/train" --warmup --use-mas --cpu --force --dataset-path "$corpus" \
  --training-files "$work/train_short.txt" --validation-files "$work/val_short.txt" \
  --set train.batch_size=2 --set train.num_workers=0 --set train.log_interval=1000 \
  --set train.eval_utterances=1 --set train.eval_max_frames=200 --max-steps "${DEMO_STEPS:-20}"

# The newest G_<epoch>.pth the run wrote (its last save).
newest=""
for path in "$work/train/demo"/G_*.pth; do
  epoch="${path##*/G_}"
  epoch="${epoch%.pth}"
  if [ -z "$newest" ] || [ "$epoch" -gt "$newest" ]; then newest="$epoch"; fi
done

"$py" "$repo_root/naturalspeech/inference.py" --checkpoint "$work/train/demo/G_$newest.pth" \
  -i "${DEMO_TEST_LIST:-$corpus/test.txt}" -o "$wav_out" --cpu --force --max-len 400 --seed 1234
