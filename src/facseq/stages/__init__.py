"""One module per workflow stage, each stage a function over a batch of utterances.

Each module is named like the rule file that runs it, so `workflow/rules/X.smk` leads to
`facseq.stages.X`:

| rule file | rules (= scripts in workflow/scripts/) | module |
|---|---|---|
| media.smk | extract_media | `facseq.stages.media` |
| faces.smk | detect_faces | `facseq.stages.faces` |
| embeddings.smk | embed_library, embed_faces | `facseq.stages.embeddings` |
| asd.smk | active_speaker | `facseq.stages.asd` |
| evidence.smk | speaker_evidence | `facseq.stages.evidence` |
| select.smk | select_speaker, contact_sheets | `facseq.stages.select` |
| collect.smk | collect_split | `facseq.stages.collect` |
| propose_library.smk | propose_face_library | `facseq.stages.propose_library` (logic: `facseq.propose_library`) |

`facseq.stages.common` holds what every stage shares (the batch item, status plumbing, image I/O).
The Snakemake scripts only unpack `snakemake.input/params/output` and call these. Every stage loads its
models once per batch, handles each utterance on its own (one bad clip never stops the others), and
writes a `status.tsv` that the next stage carries forward (see `facseq.tables`).
"""
