#!/usr/bin/env bash
# Quick start demo, CPU only: builds the embedded demo corpus, then for every paper folder that has
# a `demo.sh` trains its smallest config briefly and synthesizes the test sentences into one output
# folder, and scores everything with the evaluation tool. Until a model exists it scores the
# corpus's own test recordings, the ceiling every model is compared with.
#
#   bash run_demo.sh                  # the summary table is outputs/demo/comparison.md
#   DEMO_SIZE=tiny bash run_demo.sh   # a 12-utterance corpus, for a quick look
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo_root"

bash install.sh
py="$repo_root/${TTS_VENV:-.venv}/bin/python"
corpus="${DEMO_CORPUS:-$repo_root/filelists/demo_corpus}"
out="${DEMO_OUT:-$repo_root/outputs/demo}"
mkdir -p "$out"

echo "[demo] demo corpus in $corpus"
"$py" -m filelists.demo_corpus --output-dir "$corpus" --size "${DEMO_SIZE:-default}"

echo "[demo] scoring the corpus's own test recordings"
"$py" -m evaluation --wavs "$corpus/wavs" --filelist "$corpus/test.txt" --out "$out/corpus_test" \
  --label "corpus recordings" --no-progress
scored=("$out/corpus_test")

for paper in tacotron2_waveglow_ngc neural_hmm tacotron2_mmi flowtron naturalspeech; do
  if [ -f "$paper/demo.sh" ]; then
    echo "[demo] $paper: brief training, then synthesis of the test sentences"
    bash "$paper/demo.sh" "$corpus" "$out/$paper/wavs"
    "$py" -m evaluation --wavs "$out/$paper/wavs" --filelist "$corpus/test.txt" \
      --out "$out/$paper" --label "$paper" --no-progress
    scored+=("$out/$paper")
  fi
done

"$py" -m evaluation --compare "${scored[@]}" --out "$out"
echo "[demo] done: $out/comparison.md"
