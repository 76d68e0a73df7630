# Person masks (foreground/background of XS for CR-GAN's context loss, masked target X'T).


rule masks:
    """One person mask per image of a data draw (ground truth with that draw's parser errors, segmentation model or folder)."""
    input:
        index=INDEX(),
    output:
        directory(MASKS()),
    log:
        "logs/masks/{domain}_draw{draw}.log",
    benchmark:
        "benchmarks/masks/{domain}_draw{draw}.tsv"
    conda:
        "../envs/crgan.yaml"
    # ground truth and folders are copied by one thread; only a segmentation model uses more
    threads: THREADS["eval"] if config["masks"]["method"] == "segmentation" else 1
    resources:
        gpu=GPUS["eval"],
    params:
        cfg=device_cfg("masks"),
    shell:
        "crgan masks --config-json {params.cfg} --threads {threads} --index {input.index} --draw {wildcards.draw} "
        "--out {output} > {log} 2>&1"
