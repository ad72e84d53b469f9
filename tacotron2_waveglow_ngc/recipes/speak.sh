#!/usr/bin/env bash
# Tacotron 2's CPU recipe on short sentences: how far the attention model gets on 2 CPU cores
# (README, "Speaking recipe": without help its attention had not formed after 4,637 updates, 2 hours;
# with the guided-attention loss it forms within a few hundred).
#
#   bash tacotron2_waveglow_ngc/recipes/speak.sh [WORK_FOLDER]     # default outputs/speak/tacotron2
#   STEPS=8000 bash tacotron2_waveglow_ngc/recipes/speak.sh        # train longer (default 4000 updates)
#   VOCODER=hifigan-universal bash ...                             # score with HiFi-GAN, not Griffin-Lim
#   GUIDED=0 bash ...                                              # the original's loss only
#
# 1. builds a corpus of 1,500 short sentences (1-3.5 s each, flite's slt voice; ~2 minutes): a Tacotron 2
#    step costs one decoder step per frame, so short sentences give more updates per CPU-hour;
# 2. trains Tacotron 2 at the demo's reduced width (embedding and encoder 128, attention and decoder
#    LSTMs 256, prenet 64, attention 64, 8 location filters, postnet 128: 1.2-1.9 s per update on one
#    thread of 2 shared cores, a quarter of the default width's cost), batch 16, lr 1e-3, plus a
#    guided-attention loss of weight GUIDED (default 1; not in the original, a training aid that leaves the
#    model unchanged), a checkpoint every 6 epochs (504 updates), validation and alignment health every epoch;
# 3. scores every checkpoint on the first 50 test sentences (learning_curve.py: Griffin-Lim, pocketsphinx
#    with the corpus language model and the generic one, MCD, the alignment score): WORK/curve.
# The README's "Speaking recipe" section has the measured outcome. Rerunning continues the training
# (--resume) and scores only the new checkpoints.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(realpath -m "${1:-$repo_root/outputs/speak/tacotron2}")"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
corpus="${CORPUS:-$work/corpus}"
run="$work/train"
mkdir -p "$work"

"$py" -m filelists.demo_corpus --output-dir "$corpus" --sentences short --size 1500 --quiet

resume=()
if [ -f "$run/checkpoint_Tacotron2_last.pt" ]; then resume=(--resume); fi
"$py" "$repo_root/tacotron2_waveglow_ngc/train.py" -m Tacotron2 -o "$run" --device cpu "${resume[@]}" \
  -d "$corpus" --training-files "$corpus/train.txt" --validation-files "$corpus/val.txt" \
  -lr 1e-3 -bs 16 --epochs 1000 --max-steps "${STEPS:-4000}" --epochs-per-checkpoint 6 --seed 1234 \
  --symbols-embedding-dim 128 --encoder-embedding-dim 128 --attention-rnn-dim 256 --decoder-rnn-dim 256 \
  --prenet-dim 64 --attention-dim 64 --attention-location-n-filters 8 --postnet-embedding-dim 128 \
  --guided-attention-weight "${GUIDED:-1}"

"$py" "$repo_root/tacotron2_waveglow_ngc/learning_curve.py" --run "$run" --corpus "$corpus" \
  --out "$work/curve${VOCODER:+_$VOCODER}" --max-utterances "${UTTERANCES:-50}" ${VOCODER:+--vocoder "$VOCODER"}
