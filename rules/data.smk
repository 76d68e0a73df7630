# Data: the embedded synthetic benchmark, and a checked index of each dataset, per data draw (a seed
# bundle's own draw of the synthetic benchmark: draw n at synthetic.seed + n; real data has draw 0).


rule synth:
    """Render one draw of a synthetic domain in its real dataset's layout, with masks and meta.json."""
    output:
        directory(runs.synthetic_dir(config["data"]["synthetic_root"])),
    log:
        "logs/synth/{domain}_draw{draw}.log",
    benchmark:
        "benchmarks/synth/{domain}_draw{draw}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["synth"]
    params:
        cfg=cfg("synthetic"),
    shell:
        "crgan synth --config-json {params.cfg} --threads {threads} --domain {wildcards.domain} "
        "--draw {wildcards.draw} --out {output} > {log} 2>&1"


rule index:
    """Parse a dataset's official layout, check names, counts and every image; write its index."""
    input:
        dataset_input,
    output:
        INDEX(),
    log:
        "logs/index/{domain}_draw{draw}.log",
    benchmark:
        "benchmarks/index/{domain}_draw{draw}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: 1
    params:
        cfg=cfg("data"),
    shell:
        "crgan index --config-json {params.cfg} --domain {wildcards.domain} --draw {wildcards.draw} "
        "--out {output} > {log} 2>&1"
