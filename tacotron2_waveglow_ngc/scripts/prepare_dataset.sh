#!/usr/bin/env bash
# Prepare LJSpeech-1.1 for this folder: download it (unless it is already there), write the
# 12,500/100/500 train/val/test filelists with the repository's LJSpeech tool, and optionally
# precompute the mel spectrograms (for `train.py --load-mel-from-disk`).
#
#   bash scripts/prepare_dataset.sh [DATA_ROOT] [--mels]
#
# DATA_ROOT defaults to ./data; LJSpeech ends up in DATA_ROOT/LJSpeech-1.1 and the filelists in
# DATA_ROOT/filelists (with --mels also LJSpeech-1.1/mels/*.pt and the ljs_mel_text_*_filelist.txt
# lists of prepare_mels.py). If you already have NVIDIA's published split lists, set NVIDIA_LISTS=dir.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
data_root="$(absolute "${1:-./data}")"
precompute_mels=0
[ "${2:-}" = "--mels" ] && precompute_mels=1
ljspeech="$data_root/LJSpeech-1.1"
ljspeech_url="${LJSPEECH_URL:-https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2}"

mkdir -p "$data_root"
if [ ! -f "$ljspeech/metadata.csv" ]; then
  echo "downloading LJSpeech-1.1 (2.6 GB) into $data_root"
  curl -L --fail --retry 3 -o "$data_root/LJSpeech-1.1.tar.bz2" "$ljspeech_url"
  tar -xjf "$data_root/LJSpeech-1.1.tar.bz2" -C "$data_root"
  rm "$data_root/LJSpeech-1.1.tar.bz2"
fi

split_args=()
[ -n "${NVIDIA_LISTS:-}" ] && split_args+=(--split-from "$NVIDIA_LISTS")
"$py" -m filelists.ljspeech --dataset-path "$ljspeech" --output-dir "$data_root/filelists" "${split_args[@]}"
"$py" -m filelists.validate "$data_root"/filelists/ljs_audio_text_*_filelist.txt \
  --dataset-path "$ljspeech" --symbol-set tacotron2 --cleaners english_cleaners -q

if [ "$precompute_mels" = 1 ]; then
  # LJSpeech-1.1/mels/*.pt and filelists/ljs_mel_text_*_filelist.txt, as DLE's prepare_mels.sh.
  "$py" "$here/prepare_mels.py" --dataset-path "$ljspeech" \
    --filelists "$data_root"/filelists/ljs_audio_text_*_filelist.txt
fi
echo "done: train with --dataset-path $ljspeech --training-files $data_root/filelists/ljs_audio_text_train_filelist.txt"
if [ "$precompute_mels" = 1 ]; then
  echo "  or on the saved mels: --load-mel-from-disk --training-files $data_root/filelists/ljs_mel_text_train_filelist.txt"
fi
