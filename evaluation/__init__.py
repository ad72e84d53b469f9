"""Objective scores for synthesized speech: one command for a folder of WAVs and its filelist.

    python -m evaluation --wavs DIR --filelist LIST [--dataset-path ROOT] [--out DIR] [--no-asr]
                         [--no-mcd] [--max-utterances N] [--label NAME]
    python -m evaluation --compare DIR1 DIR2 ... [--out DIR]

- `evaluation.score`: matching WAVs to filelist entries, `score_folder`, scores.json / scores.md.
- `evaluation.asr`: pocketsphinx transcription with the generic or a corpus LM; WER/CER.
- `evaluation.lm`: Witten-Bell n-gram model written as ARPA.
- `evaluation.text`: the normalisation shared by references, hypotheses and the LM.
- `evaluation.mcd`: 24th-order mel-cepstral distortion with DTW.
- `evaluation.rtf`: real-time factor from `timings.json`.
- `evaluation.report`: Markdown tables, `merge_tables` for several systems.
"""
