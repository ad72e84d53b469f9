#!/usr/bin/env bash
# Quick start demo, CPU only: builds the embedded demo corpus, then for every paper folder that has
# a `demo.sh` trains its smallest config briefly and synthesizes sentences into one output folder,
# and scores everything with the evaluation tool. Until a model exists it scores the corpus itself.
#
#   bash run_demo.sh                  # outputs/demo/scores.md is the summary table
#   DEMO_SIZE=tiny bash run_demo.sh   # a smaller corpus, a minute or two
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo_root"

bash install.sh --system-packages
py="$repo_root/${TTS_VENV:-.venv}/bin/python"
corpus="${DEMO_CORPUS:-$repo_root/filelists/demo_corpus}"
out="${DEMO_OUT:-$repo_root/outputs/demo}"
mkdir -p "$out"

echo "[demo] building the demo corpus in $corpus"
"$py" -m filelists.demo_corpus --output-dir "$corpus" --size "${DEMO_SIZE:-default}"

systems=()
for paper in tacotron2_waveglow_ngc neural_hmm tacotron2_mmi flowtron naturalspeech; do
  if [ -f "$paper/demo.sh" ]; then
    echo "[demo] $paper: brief training and synthesis"
    bash "$paper/demo.sh" "$corpus" "$out/$paper"
    systems+=("$out/$paper")
  fi
done

# The corpus's own test recordings, scored like a system: the ceiling every model is compared to.
"$py" -m filelists.demo_corpus --export-split test --output-dir "$corpus" --to "$out/corpus_test"
systems=("$out/corpus_test" "${systems[@]}")

for system in "${systems[@]}"; do
  echo "[demo] scoring $(basename "$system")"
  "$py" -m evaluation --wavs "$system" --filelist "$corpus/test.txt" --dataset-path "$corpus" \
    --out "$system/scores" --label "$(basename "$system")"
done
"$py" -m evaluation.report --out "$out/scores.md" "${systems[@]/%//scores}"
echo "[demo] done: $out/scores.md"
cat "$out/scores.md"
