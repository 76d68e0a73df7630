# TAUDL (the paper's reference [28]) on a target's unlabelled training set, from a plain backbone
# ({start} = plain) or from a fine-tuned network of a pair ({start} = crgan-<source> or
# spgan-<source>: Section 4.4's CR-GAN+TAUDL and SPGAN+TAUDL).


wildcard_constraints:
    start=f"plain|(crgan|spgan)-({DOMAIN_NAMES})",


def taudl_init(wildcards):
    """The fine-tuned network a TAUDL run starts from (none for a plain start)."""
    if wildcards.start == "plain":
        return []
    method, source = wildcards.start.split("-")
    pair = f"{source}-{wildcards.target}"
    return [f"results/crgan/{pair}/crgan/seed{wildcards.seed}/reid.pt" if method == "crgan"
            else f"results/spgan/{pair}/seed{wildcards.seed}/reid.pt"]


rule train_taudl:
    """TAUDL on {target}: per-camera tracklet heads and cross-camera tracklet association."""
    input:
        index="results/data/{target}.json",
        init=taudl_init,
    output:
        model="results/taudl/{target}/{start}/seed{seed}/model.pt",
        curve="results/taudl/{target}/{start}/seed{seed}/model.pt.log.csv",
    params:
        cfg=cfg("taudl", "reid", "data", "device"),
        init=lambda wildcards, input: f"--init {input.init}" if input.init else "",
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/train_taudl/{target}_{start}_seed{seed}.log",
    benchmark:
        "benchmarks/train_taudl/{target}_{start}_seed{seed}.tsv"
    shell:
        "crgan train-taudl --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--index {input.index} {params.init} --out {output.model} > {log} 2>&1"


rule eval_taudl:
    """CMC/mAP of a TAUDL network (its embedding) on {target}'s query/gallery."""
    input:
        model="results/taudl/{target}/{start}/seed{seed}/model.pt",
        index="results/data/{target}.json",
    output:
        "results/eval/taudl/{target}/{start}/seed{seed}.json",
    params:
        cfg=cfg("eval", "data", "device"),
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/eval_taudl/{target}_{start}_seed{seed}.log",
    benchmark:
        "benchmarks/eval_taudl/{target}_{start}_seed{seed}.tsv"
    shell:
        EVAL_SHELL
