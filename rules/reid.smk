# Re-id: supervised training on a domain's labels and CMC/mAP evaluation on a domain's test set.
# A model trained on domain X is the source model of pairs X->* and the upper bound of pairs *->X.
# Every method's evaluation is the rule eval_reid run on that method's network (`use rule`).


rule train_reid:
    """Identity cross-entropy on {domain}'s train split (resumes from model.pt.ckpt if killed)."""
    input:
        index="results/data/{domain}.json",
    output:
        model=f"{RUN['reid']}/model.pt",
        curve=f"{RUN['reid']}/model.pt.log.csv",
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
        cfg=cfg("reid", "data", "device"),
        launcher=TRAIN_LAUNCHER,
    shell:
        "{params.launcher} train-reid --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--index {input.index} --out {output.model} > {log} 2>&1"


rule eval_reid:
    """CMC/mAP (GAP and LMP features) of the {domain} model on {test}'s query/gallery."""
    input:
        model=f"{RUN['reid']}/model.pt",
        index="results/data/{test}.json",
    output:
        runs.EVAL_FILES["reid"],
    log:
        "logs/eval_reid/{domain}_seed{seed}_on_{test}.log",
    benchmark:
        "benchmarks/eval_reid/{domain}_seed{seed}_on_{test}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    params:
        cfg=cfg("eval", "data", "device"),
    shell:
        "crgan eval-reid --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--model {input.model} --index {input.index} --out {output} > {log} 2>&1"
