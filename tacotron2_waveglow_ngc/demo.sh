#!/usr/bin/env bash
# Quick start hook (called by ../run_demo.sh): CORPUS_DIR OUT_WAV_DIR.
# Trains a small Tacotron 2 briefly on the CPU (DEMO_STEPS iterations, default 40, a few minutes on
# 2 idle cores: far too short to learn attention; the point is that the whole pipeline runs), then
# synthesizes the corpus's test sentences with Griffin-Lim into OUT_WAV_DIR, with timings.json.
set -euo pipefail
corpus="$1"
wav_out="$2"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
work="$(dirname "$wav_out")"

"$py" -m tacotron2_waveglow_ngc.train -m Tacotron2 -o "$work/train" --device cpu \
  -d "$corpus" --training-files "$corpus/train.txt" --validation-files "$corpus/val.txt" \
  -lr 1e-3 -bs 8 --epochs 100 --max-steps "${DEMO_STEPS:-40}" --epochs-per-checkpoint 100 --seed 1234 \
  --symbols-embedding-dim 128 --encoder-embedding-dim 128 --attention-rnn-dim 256 --decoder-rnn-dim 256 \
  --prenet-dim 64 --attention-dim 64 --attention-location-n-filters 8 --postnet-embedding-dim 128

"$py" -m tacotron2_waveglow_ngc.inference --tacotron2 "$work/train/checkpoint_Tacotron2_last.pt" \
  -i "$corpus/test.txt" -o "$wav_out" --cpu --max-decoder-steps 400 --griffin-lim-iters 32 --seed 1234
