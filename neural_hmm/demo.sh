#!/usr/bin/env bash
# Quick start hook (called by ../run_demo.sh): CORPUS_DIR OUT_WAV_DIR.
# Trains a small Neural-HMM (one state per phone, narrow layers, batch 2) on the CPU for DEMO_STEPS
# iterations (default 40, a few minutes; the paper needs ~1k full-size updates for intelligible speech,
# so expect noise with some structure), then synthesises the corpus's test sentences with Griffin-Lim into OUT_WAV_DIR,
# with a PNG (mel + states) per sentence and timings.json for the RTF.
set -euo pipefail
corpus="$1"
wav_out="$2"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
work="$(dirname "$wav_out")"
steps="${DEMO_STEPS:-40}"

small="batch_size=2,num_workers=0,precision=32,symbols_embedding_dim=64,encoder_embedding_dim=64"
small="$small,state_per_phone=1,prenet_dim=64,post_prenet_rnn_dim=128,parameternetwork=[64]"
small="$small,val_check_interval=1000"
small="$small,save_model_checkpoint=1000"

"$py" -m neural_hmm.train -r demo -o "$work/train" --tensorboard-log-dir "$work/train/tb_logs" \
  --device cpu --dataset-path "$corpus" --training-files "$corpus/train.txt" \
  --validation-files "$corpus/val.txt" --data-parameters "$work/train/data_parameters.pt" \
  --max-steps "$steps" --hparams "$small"

"$py" -m neural_hmm.synthesis --checkpoint "$work/train/demo/checkpoint_last.ckpt" \
  -i "$corpus/test.txt" -o "$wav_out" --device cpu --max-sampling-time 600 --griffin-lim-iters 32 \
  --seed 1234
