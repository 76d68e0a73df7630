# Controls of Table 2 (not in the paper): how much of CR-GAN's gain is learned rendering.
# paste: Did fine-tuned as in CR-GAN's part III on the source person pasted on a target image.
# adabn: the source model with BatchNorm statistics re-estimated on target training images.


rule finetune_paste:
    """Did fine-tuned on XS * MF + XT * (1 - MF) composed on the fly, with XS's identity labels."""
    input:
        unpack(gan_inputs),
    output:
        model=NETWORK["paste"],
        curve=f"{NETWORK['paste']}.log.csv",
    log:
        "logs/finetune_paste/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/finetune_paste/{source}-{target}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    params:
        cfg=cfg("finetune", "data", "device"),
    shell:
        "crgan finetune-paste --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--source-index {input.source_index} --target-index {input.target_index} "
        "--source-masks {input.source_masks} --target-masks {input.target_masks} --did {input.did} "
        "--out {output.model} > {log} 2>&1"


rule adapt_bn:
    """The {source} model with BatchNorm statistics re-estimated on {target}'s training images."""
    input:
        did=source_model,
        target_index=INDEX("{target}"),
    output:
        model=NETWORK["adabn"],
        curve=f"{NETWORK['adabn']}.log.csv",
    log:
        "logs/adapt_bn/{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/adapt_bn/{source}-{target}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    params:
        cfg=cfg("eval", "data", "device"),
    shell:
        "crgan adapt-bn --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--did {input.did} --target-index {input.target_index} --out {output.model} > {log} 2>&1"
