# Data: the embedded synthetic benchmark, and a checked index of each dataset.


rule synth:
    """Render one synthetic domain in its real dataset's layout, with masks and meta.json."""
    output:
        directory(f"{config['data']['synthetic_root']}/{{domain}}"),
    params:
        cfg=cfg("synthetic"),
    threads: THREADS["synth"]
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/synth/{domain}.log",
    benchmark:
        "benchmarks/synth/{domain}.tsv"
    shell:
        "crgan synth --config-json {params.cfg} --threads {threads} --domain {wildcards.domain} "
        "--out {output} > {log} 2>&1"


rule index:
    """Parse a dataset's official layout, check names, counts and every image; write its index."""
    input:
        dataset_input,
    output:
        "results/data/{domain}.json",
    params:
        cfg=cfg("data"),
    threads: 1
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/index/{domain}.log",
    benchmark:
        "benchmarks/index/{domain}.tsv"
    shell:
        "crgan index --config-json {params.cfg} --domain {wildcards.domain} --out {output} > {log} 2>&1"
