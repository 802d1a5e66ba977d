rule propose_face_library:
    """Propose the face library from MELD's speaker labels (needs no face library): the possible
    speakers' tracks of the roles' utterances clustered across utterances, each role given the cluster
    that recurs in its dialogues and that the other roles explain least (joint assignment).

    The role folders `proposed_face_library/<role>/NN.jpg` are written beside `proposal.tsv` and are
    not declared as outputs on purpose: the reviewed folder is the main workflow's `face_library`, and
    Snakemake must never regenerate it over the review when an upstream job reruns.
    """
    input:
        unpack(proposal_inputs),
    output:
        proposal=report(
            str(RESULTS / "proposed_face_library" / "proposal.tsv"),
            category="Face library proposal",
            labels={"role": "all", "table": "proposal.tsv"},
            caption="../report/proposal_table.rst",
        ),
        sheets=report(
            directory(str(RESULTS / "proposed_face_library_review")),
            patterns=["{role}.png"],
            category="Face library proposal",
            labels={"role": "{role}", "table": "review sheet"},
            caption="../report/proposed_library.rst",
        ),
    log:
        str(LOGS / "propose_face_library" / "propose_face_library.log"),
    benchmark:
        str(BENCH / "propose_face_library" / "propose_face_library.tsv")
    conda:
        "../../envs/propose_library.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        batches=proposal_batch_params,
        roles=lambda wildcards: proposal_roles(),
        cluster=config["cluster"],
        cluster_min_similarity=similarity("cluster"),
        library=config["library"],
    script:
        "../scripts/propose_face_library.py"
