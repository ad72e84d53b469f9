#!/usr/bin/env bash
# Neural-HMM's speaking recipe: a model that pocketsphinx understands, trained on 2 CPU cores.
#
#   bash neural_hmm/recipes/speak.sh [WORK_FOLDER]        # default outputs/speak/neural_hmm
#   STEPS=8000 bash neural_hmm/recipes/speak.sh           # train longer (default 6000 updates)
#   VOCODER=hifigan-universal bash neural_hmm/recipes/speak.sh   # score with HiFi-GAN, not Griffin-Lim
#
# 1. builds a corpus of 1,500 short sentences (1-3.5 s each, flite's slt voice; ~2 minutes), because a
#    Neural HMM's cost per utterance grows with frames x states: short sentences give many more updates
#    per CPU-hour than the 2-10 s demo sentences;
# 2. trains NH2 (2 states per phone) at a reduced width (encoder 256, AR LSTM 512, output net [256]),
#    batch 16, bf16 autocast on the CPU (--amp), data dropout 0.3 (without it the autoregressive input
#    alone predicts the next frame and the text is ignored), checkpoints every 500 updates;
# 3. scores every checkpoint on the first 50 test sentences (learning_curve.py: Griffin-Lim, pocketsphinx
#    with the corpus language model and the generic one, MCD): curve.md / curve.png in WORK/curve.
# The README's "Speaking recipe" section has the measured curve. Rerunning continues the training
# (--resume) and scores only the new checkpoints.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(realpath -m "${1:-$repo_root/outputs/speak/neural_hmm}")"
py="${PYTHON:-$repo_root/${TTS_VENV:-.venv}/bin/python}"
corpus="${CORPUS:-$work/corpus}"
mkdir -p "$work"

"$py" -m filelists.demo_corpus --output-dir "$corpus" --sentences short --size 1500 --quiet

recipe="batch_size=16,num_workers=1,symbols_embedding_dim=256,encoder_embedding_dim=256,state_per_phone=2"
recipe="$recipe,prenet_dim=128,post_prenet_rnn_dim=512,parameternetwork=[256],data_dropout=0.3"
recipe="$recipe,val_check_interval=250,save_model_checkpoint=500"
"$py" "$repo_root/neural_hmm/train.py" -r speak -o "$work" --device cpu --amp --resume \
  --dataset-path "$corpus" --training-files "$corpus/train.txt" --validation-files "$corpus/val.txt" \
  --max-steps "${STEPS:-6000}" --hparams "$recipe"

"$py" "$repo_root/neural_hmm/learning_curve.py" --run "$work/speak" --corpus "$corpus" \
  --out "$work/curve${VOCODER:+_$VOCODER}" --max-utterances "${UTTERANCES:-50}" ${VOCODER:+--vocoder "$VOCODER"}
