#!/usr/bin/env bash
# Quick start hook (called by ../run_demo.sh): CORPUS_DIR OUT_WAV_DIR.
# Trains a small Tacotron 2 + MMI (an eighth of the default widths, batch 4, MMI with the GAF and drop
# frames on) on the CPU for DEMO_STEPS updates (default 20: far too few for attention to align, so expect
# noise; the point is that the whole pipeline runs), then synthesises the test sentences (DEMO_TEST_LIST,
# default the corpus's test.txt) with Griffin-Lim into OUT_WAV_DIR: a 16-bit WAV and an alignment PNG per
# sentence, timings.json (for the real-time factor) and synthesis.json. Reruns start over (--force).
# One thread: a model this small runs faster on one, and several OpenMP threads on a busy machine wait
# for each other (measured: 30x slower with 2 threads beside two other busy processes).
set -euo pipefail
corpus="$1"
wav_out="$2"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
work="$(dirname "$wav_out")"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

small="symbols_embedding_dim=64,encoder_embedding_dim=64,attention_rnn_dim=128,decoder_rnn_dim=128"
small="$small,prenet_dim=64,attention_dim=32,attention_location_n_filters=8,attention_location_kernel_size=15"
small="$small,postnet_embedding_dim=64,batch_size=4,num_workers=0,iters_per_checkpoint=1000"

"$py" "$repo_root/tacotron2_mmi/train.py" -o "$work/train" -l logs --device cpu --force \
  --dataset-path "$corpus" --training-files "$corpus/train.txt" --validation-files "$corpus/val.txt" \
  --max-steps "${DEMO_STEPS:-20}" --seed 1234 --hparams "$small"

"$py" "$repo_root/tacotron2_mmi/inference.py" --checkpoint "$work/train/checkpoint_last" \
  -i "${DEMO_TEST_LIST:-$corpus/test.txt}" -o "$wav_out" --device cpu --force \
  --max-decoder-steps 300 --griffin-lim-iters 16 -bs 10 --seed 1234 ${DEMO_VOCODER_FILE:+--vocoder "$DEMO_VOCODER_FILE"}
