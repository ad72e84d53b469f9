#!/usr/bin/env bash
# Quick start hook (called by ../run_demo.sh): CORPUS_DIR OUT_WAV_DIR.
# Trains a small Neural-HMM (one state per phone, narrow layers, batch 2) on the CPU for DEMO_STEPS
# iterations (default 20: the pipeline, not a model that speaks), then synthesises the test sentences
# (DEMO_TEST_LIST, default the corpus's test.txt) with Griffin-Lim into OUT_WAV_DIR, with a PNG (mel +
# states) per sentence and timings.json for the RTF. Reruns start over (--force). A model that speaks:
# recipes/speak.sh.
set -euo pipefail
corpus="$1"
wav_out="$2"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
work="$(dirname "$wav_out")"

small="batch_size=2,num_workers=0,symbols_embedding_dim=64,encoder_embedding_dim=64,state_per_phone=1"
small="$small,prenet_dim=64,post_prenet_rnn_dim=128,parameternetwork=[64],val_check_interval=1000"
small="$small,save_model_checkpoint=1000"

"$py" "$repo_root/neural_hmm/train.py" -r demo -o "$work/train" --device cpu --force \
  --dataset-path "$corpus" --training-files "$corpus/train.txt" --validation-files "$corpus/val.txt" \
  --max-steps "${DEMO_STEPS:-20}" --hparams "$small"

"$py" "$repo_root/neural_hmm/synthesis.py" --checkpoint "$work/train/demo/checkpoint_last.ckpt" \
  -i "${DEMO_TEST_LIST:-$corpus/test.txt}" -o "$wav_out" --device cpu --force --max-sampling-time 600 \
  --griffin-lim-iters 32 --seed 1234 ${DEMO_VOCODER_FILE:+--vocoder "$DEMO_VOCODER_FILE"}
