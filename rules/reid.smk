# Re-id: supervised training on a domain's labels and CMC/mAP evaluation on a domain's test set.
# A model trained on domain X is the source model of pairs X->* and the upper bound of pairs *->X.
# Every method's evaluation: rules/evaluate.smk.


rule train_reid:
    """Identity cross-entropy on {domain}'s train split (resumes from model.pt.ckpt if killed)."""
    input:
        index=index_of("domain"),
    output:
        model=NETWORK["reid"],
        curve=training_log(NETWORK["reid"]),
    log:
        "logs/train_reid/{domain}_seed{seed}.log",
    benchmark:
        "benchmarks/train_reid/{domain}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=GPUS["train"],
    params:
        cfg=device_cfg("reid", "data"),
        launcher=TRAIN_LAUNCHER,
    shell:
        "{params.launcher} train-reid --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--index {input.index} --out {output.model} > {log} 2>&1"
