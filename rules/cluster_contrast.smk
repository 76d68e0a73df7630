# Cluster Contrast (Dai et al., beyond the paper: Table 8) on a target's unlabelled training set, from
# the source model ({start} = reid-<source>), from CR-GAN's fine-tuned network ({start} =
# crgan-<source>: the hybrid), or the untrained network written as the floor ({start} = untrained).


rule train_cluster_contrast:
    """Cluster Contrast on {target}: DBSCAN pseudo-labels on k-reciprocal distances, a cluster memory."""
    input:
        index=index_of("target"),
        init=start_network("cluster_contrast"),
    output:
        model=NETWORK["cluster_contrast"],
        curve=f"{NETWORK['cluster_contrast']}.log.csv",
    log:
        "logs/train_cluster_contrast/{target}_{start}_seed{seed}.log",
    benchmark:
        "benchmarks/train_cluster_contrast/{target}_{start}_seed{seed}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    params:
        cfg=device_cfg("cluster_contrast", "reid", "data", "eval"),
        init=start_option,
    shell:
        "crgan train-cluster-contrast --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--index {input.index} {params.init} --out {output.model} > {log} 2>&1"
