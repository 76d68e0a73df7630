# CR-GAN, Algorithm 1: train G per pair, variant and seed (parts I-II), fine-tune Did on its
# on-the-fly renderings (part III), evaluate the fine-tuned network on the target.

VARIANTS = ["crgan", "wo_dual", "wo_id", "wo_cam", "wo_con"]


wildcard_constraints:
    variant="|".join(VARIANTS),


def gan_inputs(wildcards):
    return {
        "source_index": f"results/data/{wildcards.source}.json",
        "target_index": f"results/data/{wildcards.target}.json",
        "source_masks": f"results/masks/{wildcards.source}",
        "target_masks": f"results/masks/{wildcards.target}",
        "did": f"results/reid/{wildcards.source}/seed{wildcards.seed}/model.pt",
    }


GAN_ARGS = ("--source-index {input.source_index} --target-index {input.target_index} "
            "--source-masks {input.source_masks} --target-masks {input.target_masks} --did {input.did}")


rule train_crgan:
    """G for {source}->{target}, variant {variant}: Dcam pre-training, then G against Dd, Did, Dcam."""
    input:
        unpack(gan_inputs),
    output:
        g="results/crgan/{source}-{target}/{variant}/seed{seed}/G.pt",
        curve="results/crgan/{source}-{target}/{variant}/seed{seed}/G.pt.loss.csv",
        grid=report(
            "results/crgan/{source}-{target}/{variant}/seed{seed}/G.pt.grid.png",
            caption="captions/grid.rst",
            category="CR-GAN samples",
            subcategory="{source}-{target}",
        ),
    params:
        cfg=cfg("crgan", "data", "device"),
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=GPUS["train"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/train_crgan/{source}-{target}_{variant}_seed{seed}.log",
    benchmark:
        "benchmarks/train_crgan/{source}-{target}_{variant}_seed{seed}.tsv"
    shell:
        TRAIN_PARALLEL + " train-crgan --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--variant {wildcards.variant} " + GAN_ARGS + " --out {output.g} > {log} 2>&1"


rule finetune_crgan:
    """Did fine-tuned on XG = G(XS, X'T) rendered on the fly, with XS's identity labels."""
    input:
        unpack(gan_inputs),
        generator="results/crgan/{source}-{target}/{variant}/seed{seed}/G.pt",
    output:
        model="results/crgan/{source}-{target}/{variant}/seed{seed}/reid.pt",
        curve="results/crgan/{source}-{target}/{variant}/seed{seed}/reid.pt.log.csv",
    params:
        cfg=cfg("finetune", "data", "device"),
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/finetune_crgan/{source}-{target}_{variant}_seed{seed}.log",
    benchmark:
        "benchmarks/finetune_crgan/{source}-{target}_{variant}_seed{seed}.tsv"
    shell:
        "crgan finetune --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--generator {input.generator} " + GAN_ARGS + " --out {output.model} > {log} 2>&1"


rule eval_crgan:
    """CMC/mAP (GAP and LMP) of the CR-GAN fine-tuned network on the target's query/gallery."""
    input:
        model="results/crgan/{source}-{target}/{variant}/seed{seed}/reid.pt",
        index="results/data/{target}.json",
    output:
        "results/eval/crgan/{source}-{target}/{variant}/seed{seed}.json",
    params:
        cfg=cfg("eval", "data", "device"),
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/eval_crgan/{source}-{target}_{variant}_seed{seed}.log",
    benchmark:
        "benchmarks/eval_crgan/{source}-{target}_{variant}_seed{seed}.tsv"
    shell:
        EVAL_SHELL
