# The HTML report (results/report.html): every table beside the paper's, samples, curves, run times.


rule report:
    """results/report.html: what ran, Tables 1-7 beside the paper's, samples, curves, run times."""
    input:
        unpack(report_inputs),
    output:
        report("results/report.html", caption="captions/report.rst", category="Report"),
    log:
        "logs/report.log",
    conda:
        "../envs/crgan.yaml"
    params:
        cfg=cfg(*config),
        configfiles=" ".join(shlex.quote(str(f)) for f in workflow.configfiles),
        # the sweep is its own target: shown when it has run, never run for the report
        gap_sweep="--gap-sweep results/gap_sweep.csv" if Path("results/gap_sweep.csv").is_file() else "",
    shell:
        "crgan report --config-json {params.cfg} --configfiles {params.configfiles} --tables {input.tables} "
        "--figures {input.figures} --curves {input.curves} --evals {input.evals} --claims {input.claims} --indexes {input.indexes} {params.gap_sweep} --benchmarks benchmarks "
        "--out {output} > {log} 2>&1"
