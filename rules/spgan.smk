# SPGAN (the paper's reference [11]): train CycleGAN + SiaNet per pair and seed, translate the
# source training set once, fine-tune the source model on it, evaluate on the target.


rule train_spgan:
    """SPGAN {source}->{target}: generators G, F, PatchGAN discriminators and the SiaNet."""
    input:
        source_index="results/data/{source}.json",
        target_index="results/data/{target}.json",
    output:
        g="results/spgan/{source}-{target}/seed{seed}/G.pt",
        curve="results/spgan/{source}-{target}/seed{seed}/G.pt.loss.csv",
        grid=report(
            "results/spgan/{source}-{target}/seed{seed}/G.pt.grid.png",
            caption="captions/grid.rst",
            category="SPGAN samples",
            subcategory="{source}-{target}",
        ),
    params:
        cfg=cfg("spgan", "data", "device"),
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=GPUS["train"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/train_spgan/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/train_spgan/{source}-{target}_seed{seed}.tsv"
    shell:
        TRAIN_PARALLEL + " train-spgan --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--source-index {input.source_index} --target-index {input.target_index} --out {output.g} > {log} 2>&1"


rule translate_spgan:
    """The {source} training set rendered in {target}'s style by G, stored once, with its index."""
    input:
        generator="results/spgan/{source}-{target}/seed{seed}/G.pt",
        source_index="results/data/{source}.json",
    output:
        directory("results/spgan/{source}-{target}/seed{seed}/translated"),
    params:
        cfg=cfg("spgan", "data", "device"),
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/translate_spgan/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/translate_spgan/{source}-{target}_seed{seed}.tsv"
    shell:
        "crgan translate --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--generator {input.generator} --source-index {input.source_index} --out {output} > {log} 2>&1"


rule finetune_spgan:
    """The {source} model fine-tuned on the translated images with the source identity labels."""
    input:
        translated="results/spgan/{source}-{target}/seed{seed}/translated",
        did="results/reid/{source}/seed{seed}/model.pt",
    output:
        model="results/spgan/{source}-{target}/seed{seed}/reid.pt",
        curve="results/spgan/{source}-{target}/seed{seed}/reid.pt.log.csv",
    params:
        cfg=cfg("finetune", "data", "device"),
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/finetune_spgan/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/finetune_spgan/{source}-{target}_seed{seed}.tsv"
    shell:
        "crgan finetune-translated --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--translated {input.translated} --did {input.did} --out {output.model} > {log} 2>&1"


rule eval_spgan:
    """CMC/mAP (GAP and LMP) of the SPGAN fine-tuned network on the target's query/gallery."""
    input:
        model="results/spgan/{source}-{target}/seed{seed}/reid.pt",
        index="results/data/{target}.json",
    output:
        "results/eval/spgan/{source}-{target}/seed{seed}.json",
    params:
        cfg=cfg("eval", "data", "device"),
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/eval_spgan/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/eval_spgan/{source}-{target}_seed{seed}.tsv"
    shell:
        EVAL_SHELL
