#!/usr/bin/env bash
# Quick start hook (called by ../run_demo.sh): CORPUS_DIR OUT_WAV_DIR.
# Trains a tiny Flowtron (2 flows of 32 hidden units, one LSTM layer, batch 2, the attention prior) on
# the CPU for DEMO_STEPS iterations (default 20: the pipeline, not a model that speaks) on the corpus's
# shortest training sentences (at most 50 characters: the flows run frame by frame, so long utterances
# cost minutes a step on a CPU), then synthesises the test sentences (DEMO_TEST_LIST, default the
# corpus's test.txt) with Griffin-Lim (16 iterations) into OUT_WAV_DIR: at most DEMO_FRAMES frames each
# (default 150, 1.7 s; after 20 steps the gate never fires, so every WAV has all 150), a WAV and PNGs per
# sentence, timings.json and synthesis.json (frames, whether the gate fired). Reruns start over (--force).
# Measured: 20 steps and 8 sentences in 46-57 s on 2 cores shared with other jobs (load 4-5.5).
set -euo pipefail
corpus="$1"
wav_out="$2"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
work="$(dirname "$wav_out")"
mkdir -p "$work"
# One thread: a tiny model runs faster on one than on two cores shared with anything else.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# Short sentences for training; validation on the two shortest of val.txt (one pass, at the end).
awk -F'|' 'length($2) <= 50' "$corpus/train.txt" > "$work/train_short.txt"
if [ "$(wc -l < "$work/train_short.txt")" -lt 2 ]; then head -n 8 "$corpus/train.txt" > "$work/train_short.txt"; fi
awk -F'|' '{print length($2) "\t" $0}' "$corpus/val.txt" | sort -n | head -n 2 | cut -f2- > "$work/val_short.txt"

cat > "$work/demo_config.json" <<JSON
{
 "train_config": {"output_directory": "$work/train", "batch_size": 2, "iters_per_checkpoint": 1000,
                  "fp16_run": false, "with_tensorboard": false, "ctc_loss_start_iter": 0},
 "data_config": {"training_files": "$work/train_short.txt", "validation_files": "$work/val_short.txt"},
 "model_config": {"n_speaker_dim": 8, "n_text_dim": 32, "n_attn_channels": 32, "n_hidden": 32,
                  "n_lstm_layers": 1}
}
JSON

"$py" "$repo_root/flowtron/train.py" -c "$work/demo_config.json" --cpu --num-workers 0 \
  --dataset-path "$corpus" --max-steps "${DEMO_STEPS:-20}" --force

"$py" "$repo_root/flowtron/inference.py" -c "$work/demo_config.json" -f "$work/train/model_last" \
  --input "${DEMO_TEST_LIST:-$corpus/test.txt}" -o "$wav_out" --cpu -n "${DEMO_FRAMES:-150}" -s 0.5 \
  --griffin-lim-iters 16 --seed 1234 --force ${DEMO_VOCODER_FILE:+--vocoder "$DEMO_VOCODER_FILE"}
