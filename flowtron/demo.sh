#!/usr/bin/env bash
# Quick start hook (called by ../run_demo.sh): CORPUS_DIR OUT_WAV_DIR.
# Trains a small Flowtron (2 flows, narrow layers, batch 4, the attention prior and CTC from the start)
# on the CPU for DEMO_STEPS iterations (default 60, about a minute on 2 cores; the published model
# trained for days on GPUs, so expect noise with some structure), then synthesises the corpus's test
# sentences with Griffin-Lim into OUT_WAV_DIR, with attention PNGs and timings.json for the RTF.
set -euo pipefail
corpus="$1"
wav_out="$2"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
work="$(dirname "$wav_out")"
steps="${DEMO_STEPS:-60}"
mkdir -p "$work"

cat > "$work/demo_config.json" <<JSON
{
 "train_config": {"output_directory": "$work/train", "batch_size": 4, "iters_per_checkpoint": 1000,
                  "fp16_run": false, "ctc_loss_start_iter": 0, "learning_rate": 1e-3},
 "data_config": {"training_files": "$corpus/train.txt", "validation_files": "$corpus/val.txt",
                 "p_arpabet": 0.5},
 "model_config": {"n_speaker_dim": 16, "n_text_dim": 64, "n_attn_channels": 64, "n_hidden": 64}
}
JSON

"$py" -m flowtron.train -c "$work/demo_config.json" --cpu --num-workers 0 --dataset-path "$corpus" \
  --max-steps "$steps" --force

"$py" -m flowtron.inference -c "$work/demo_config.json" -f "$work/train/model_last" --input "$corpus/test.txt" \
  -o "$wav_out" --cpu -n 300 -s 0.5 --griffin-lim-iters 32 --force
