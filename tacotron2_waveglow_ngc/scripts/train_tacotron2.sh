#!/usr/bin/env bash
# NGC's Tacotron 2 recipe: 1501 epochs, batch 48 per GPU (FP32, V100; use 104 with AMP), Adam 1e-3,
# weight decay 1e-6, grad-norm clip 1.0, LR x0.1 at epochs 500/1000/1500.
#
#   NUM_GPUS=8 AMP=1 DATA=./data OUTPUT=./output bash scripts/train_tacotron2.sh [extra train.py flags]
#
# DATA (default ./data: LJSpeech-1.1/ and filelists/, as prepare_dataset.sh leaves them) and OUTPUT
# (default ./output) are taken relative to the folder you run this from. torchrun is the venv's
# (`python -m torch.distributed.run`); TTS_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
data="$(absolute "${DATA:-./data}")"
output="$(absolute "${OUTPUT:-./output}")"
amp_flag=()
[ "${AMP:-0}" = 1 ] && amp_flag=(--amp)
launch "$py" -m torch.distributed.run --standalone --nproc_per_node "${NUM_GPUS:-1}" "$here/train.py" \
  -m Tacotron2 -o "$output" -lr 1e-3 --epochs 1501 -bs "${BATCH_SIZE:-48}" \
  --weight-decay 1e-6 --grad-clip-thresh 1.0 --cudnn-enabled --log-file nvlog.json \
  --anneal-steps 500 1000 1500 --anneal-factor 0.1 \
  --dataset-path "$data/LJSpeech-1.1" \
  --training-files "$data/filelists/ljs_audio_text_train_filelist.txt" \
  --validation-files "$data/filelists/ljs_audio_text_val_filelist.txt" \
  "${amp_flag[@]}" "$@"
