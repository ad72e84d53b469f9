#!/usr/bin/env bash
# NGC's WaveGlow recipe: 1001 epochs, batch 4 per GPU (FP32; 10 with AMP), Adam 1e-4, no weight
# decay, 8000-sample segments, no effective gradient clipping (the float32 maximum).
#
#   NUM_GPUS=8 AMP=1 DATA=./data OUTPUT=./output bash scripts/train_waveglow.sh [extra train.py flags]
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
  -m WaveGlow -o "$output" -lr 1e-4 --epochs 1001 -bs "${BATCH_SIZE:-4}" \
  --segment-length 8000 --weight-decay 0 --grad-clip-thresh 3.4028234663852886e+38 \
  --cudnn-enabled --cudnn-benchmark --log-file nvlog.json \
  --dataset-path "$data/LJSpeech-1.1" \
  --training-files "$data/filelists/ljs_audio_text_train_filelist.txt" \
  --validation-files "$data/filelists/ljs_audio_text_val_filelist.txt" \
  "${amp_flag[@]}" "$@"
