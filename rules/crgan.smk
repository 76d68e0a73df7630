# CR-GAN, Algorithm 1: train G per pair, variant and seed (parts I-II), fine-tune Did on its
# on-the-fly renderings (part III), evaluate the fine-tuned network on the target.
# Variants: crgan.runs.VARIANTS.


rule train_crgan:
    """G for {source}->{target}, variant {variant}: Dcam pre-training, then G against Dd, Did, Dcam."""
    input:
        unpack(gan_inputs),
    output:
        g=GENERATOR["crgan"],
        curve=loss_log(GENERATOR["crgan"]),
        grid=report(
            sample_grid(GENERATOR["crgan"]),
            caption="captions/grid.rst",
            category="CR-GAN samples",
            subcategory="{source}-{target}",
        ),
    log:
        "logs/train_crgan/{source}-{target}_{variant}_seed{seed}.log",
    benchmark:
        "benchmarks/train_crgan/{source}-{target}_{variant}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=GPUS["train"],
    params:
        cfg=device_cfg("crgan", "data"),
        launcher=TRAIN_LAUNCHER,
    shell:
        "{params.launcher} train-crgan --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--variant {wildcards.variant} --source-index {input.source_index} --target-index {input.target_index} "
        "--source-masks {input.source_masks} --target-masks {input.target_masks} --did {input.did} "
        "--out {output.g} > {log} 2>&1"


rule finetune_crgan:
    """Did fine-tuned on XG = G(XS, X'T) rendered on the fly, with XS's identity labels."""
    input:
        unpack(gan_inputs),
        generator=GENERATOR["crgan"],
    output:
        model=NETWORK["crgan"],
        curve=training_log(NETWORK["crgan"]),
    log:
        "logs/finetune_crgan/{source}-{target}_{variant}_seed{seed}.log",
    benchmark:
        "benchmarks/finetune_crgan/{source}-{target}_{variant}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    params:
        cfg=device_cfg("finetune", "data"),
    shell:
        "crgan finetune --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--generator {input.generator} --source-index {input.source_index} --target-index {input.target_index} "
        "--source-masks {input.source_masks} --target-masks {input.target_masks} --did {input.did} "
        "--out {output.model} > {log} 2>&1"
