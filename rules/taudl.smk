# TAUDL (the paper's reference [28]) on a target's unlabelled training set, from a plain backbone
# ({start} = plain), from a fine-tuned network of a pair ({start} = crgan-<source> or
# spgan-<source>: Section 4.4's CR-GAN+TAUDL and SPGAN+TAUDL), from the source model (reid-<source>:
# the control) or as initialised (untrained: the floor).


rule train_taudl:
    """TAUDL on {target}: per-camera tracklet heads and cross-camera tracklet association."""
    input:
        index=index_of("target"),
        init=start_network("taudl"),
    output:
        model=NETWORK["taudl"],
        curve=f"{NETWORK['taudl']}.log.csv",
    log:
        "logs/train_taudl/{target}_{start}_seed{seed}.log",
    benchmark:
        "benchmarks/train_taudl/{target}_{start}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    params:
        cfg=device_cfg("taudl", "reid", "data"),
        init=start_option,
    shell:
        "crgan train-taudl --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--index {input.index} {params.init} --out {output.model} > {log} 2>&1"
