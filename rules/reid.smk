# Re-id: supervised training on a domain's labels and CMC/mAP evaluation on a domain's test set.
# A model trained on domain X is the source model of pairs X->* and the upper bound of pairs *->X.


rule train_reid:
    """Identity cross-entropy on {domain}'s train split (resumes from model.pt.ckpt if killed)."""
    input:
        index="results/data/{domain}.json",
    output:
        model="results/reid/{domain}/seed{seed}/model.pt",
        curve="results/reid/{domain}/seed{seed}/model.pt.log.csv",
    params:
        cfg=cfg("reid", "data", "device"),
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=GPUS["train"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/train_reid/{domain}_seed{seed}.log",
    benchmark:
        "benchmarks/train_reid/{domain}_seed{seed}.tsv"
    shell:
        TRAIN_PARALLEL + " train-reid --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--index {input.index} --out {output.model} > {log} 2>&1"


rule eval_reid:
    """CMC/mAP (GAP and LMP features) of the {model_domain} model on {test_domain}'s query/gallery."""
    input:
        model="results/reid/{model_domain}/seed{seed}/model.pt",
        index="results/data/{test_domain}.json",
    output:
        "results/eval/reid/{model_domain}/seed{seed}/on_{test_domain}.json",
    params:
        cfg=cfg("eval", "data", "device"),
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/eval_reid/{model_domain}_seed{seed}_on_{test_domain}.log",
    benchmark:
        "benchmarks/eval_reid/{model_domain}_seed{seed}_on_{test_domain}.tsv"
    shell:
        EVAL_SHELL
