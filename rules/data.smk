# Data: the embedded synthetic benchmark, and a checked index of each dataset.


rule synth:
    """Render one synthetic domain in its real dataset's layout, with masks and meta.json."""
    output:
        directory(f"{config['data']['synthetic_root']}/{{domain}}"),
    log:
        "logs/synth/{domain}.log",
    benchmark:
        "benchmarks/synth/{domain}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["synth"]
    params:
        cfg=cfg("synthetic"),
    shell:
        "crgan synth --config-json {params.cfg} --threads {threads} --domain {wildcards.domain} " "--out {output} > {log} 2>&1"


rule index:
    """Parse a dataset's official layout, check names, counts and every image; write its index."""
    input:
        dataset_input,
    output:
        INDEX(),
    log:
        "logs/index/{domain}.log",
    benchmark:
        "benchmarks/index/{domain}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: 1
    params:
        cfg=cfg("data"),
    shell:
        "crgan index --config-json {params.cfg} --domain {wildcards.domain} --out {output} > {log} 2>&1"
