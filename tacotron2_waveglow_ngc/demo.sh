#!/usr/bin/env bash
# Quick start hook (called by ../run_demo.sh): CORPUS_DIR OUT_WAV_DIR.
# Trains a small Tacotron 2 briefly on the CPU (DEMO_STEPS iterations, default 20: far too short to
# learn attention; the point is that the whole pipeline runs), then synthesizes the test sentences
# (DEMO_TEST_LIST, default the corpus's test.txt) with Griffin-Lim into OUT_WAV_DIR, with timings.json.
# Reruns start over (--force). The longer CPU recipe: recipes/speak.sh (README: it has not learnt to speak yet).
set -euo pipefail
corpus="$1"
wav_out="$2"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
work="$(dirname "$wav_out")"

"$py" "$repo_root/tacotron2_waveglow_ngc/train.py" -m Tacotron2 -o "$work/train" --device cpu --force \
  -d "$corpus" --training-files "$corpus/train.txt" --validation-files "$corpus/val.txt" \
  -lr 1e-3 -bs 8 --epochs 100 --max-steps "${DEMO_STEPS:-20}" --epochs-per-checkpoint 100 --seed 1234 \
  --symbols-embedding-dim 128 --encoder-embedding-dim 128 --attention-rnn-dim 256 --decoder-rnn-dim 256 \
  --prenet-dim 64 --attention-dim 64 --attention-location-n-filters 8 --postnet-embedding-dim 128

"$py" "$repo_root/tacotron2_waveglow_ngc/inference.py" --checkpoint "$work/train/checkpoint_Tacotron2_last.pt" \
  -i "${DEMO_TEST_LIST:-$corpus/test.txt}" -o "$wav_out" --device cpu --force --max-decoder-steps 300 \
  --griffin-lim-iters 32 --seed 1234 ${DEMO_VOCODER_FILE:+--vocoder "$DEMO_VOCODER_FILE"}
