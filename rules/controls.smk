# Controls of Table 2 (not in the paper): how much of CR-GAN's gain is learned rendering.
# paste: Did fine-tuned as in CR-GAN's part III on the source person pasted on a target image.
# adabn: the source model with BatchNorm statistics re-estimated on target training images; crgan_adabn:
# the same for CR-GAN's fine-tuned network (one rule per AdaBN method of the registry).


rule finetune_paste:
    """Did fine-tuned on XS * MF + X'T * (1 - MF) (X'T = XT * (1 - MT), G's input) composed on the fly, with XS's labels."""
    input:
        unpack(gan_inputs),
    output:
        model=NETWORK["paste"],
        curve=training_log(NETWORK["paste"]),
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
        cfg=device_cfg("finetune", "data"),
    shell:
        "crgan finetune-paste --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--source-index {input.source_index} --target-index {input.target_index} "
        "--source-masks {input.source_masks} --target-masks {input.target_masks} --did {input.did} "
        "--out {output.model} > {log} 2>&1"


for method in (m for m in METHODS.values() if m.adapts):

    rule:
        name:
            f"adapt_bn_{method.adapts}"
        input:
            did=adapted_network(method),
            target_index=index_of("target"),
        output:
            model=NETWORK[method.key],
            curve=training_log(NETWORK[method.key]),
        log:
            f"logs/adapt_bn/{method.key}_{{source}}-{{target}}_seed{{seed}}.log",
        benchmark:
            f"benchmarks/adapt_bn/{method.key}_{{source}}-{{target}}_seed{{seed}}.tsv"
        conda:
            "../envs/crgan.yaml"
        threads: THREADS["eval"]
        resources:
            gpu=GPUS["eval"],
        params:
            cfg=device_cfg("eval", "data"),
        shell:
            "crgan adapt-bn --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
            "--did {input.did} --target-index {input.target_index} --out {output.model} > {log} 2>&1"
