# SPGAN (the paper's reference [11]): train CycleGAN + SiaNet per pair and seed, translate the
# source training set once, fine-tune the source model on it, evaluate on the target.


rule train_spgan:
    """SPGAN {source}->{target}: generators G, F, PatchGAN discriminators and the SiaNet."""
    input:
        source_index=index_of("source"),
        target_index=index_of("target"),
    output:
        g=GENERATOR["spgan"],
        curve=loss_log(GENERATOR["spgan"]),
        grid=report(
            sample_grid(GENERATOR["spgan"]),
            caption="captions/grid.rst",
            category="SPGAN samples",
            subcategory="{source}-{target}",
        ),
    log:
        "logs/train_spgan/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/train_spgan/{source}-{target}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=GPUS["train"],
    params:
        cfg=device_cfg("spgan", "data"),
        launcher=TRAIN_LAUNCHER,
    shell:
        "{params.launcher} train-spgan --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--source-index {input.source_index} --target-index {input.target_index} --out {output.g} > {log} 2>&1"


rule translate_spgan:
    """The {source} training set rendered in {target}'s style by G, stored once, with its index."""
    input:
        generator=GENERATOR["spgan"],
        source_index=index_of("source"),
    output:
        directory(f"{RUN['spgan']}/translated"),
    log:
        "logs/translate_spgan/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/translate_spgan/{source}-{target}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    params:
        cfg=device_cfg("spgan", "data"),
    shell:
        "crgan translate --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--generator {input.generator} --source-index {input.source_index} --out {output} > {log} 2>&1"


rule finetune_spgan:
    """The {source} model fine-tuned on the translated images with the source identity labels."""
    input:
        translated=f"{RUN['spgan']}/translated",
        did=source_model,
    output:
        model=NETWORK["spgan"],
        curve=training_log(NETWORK["spgan"]),
    log:
        "logs/finetune_spgan/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/finetune_spgan/{source}-{target}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    params:
        cfg=device_cfg("finetune", "data"),
    shell:
        "crgan finetune-translated --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--translated {input.translated} --did {input.did} --out {output.model} > {log} 2>&1"
