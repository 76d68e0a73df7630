# The HTML report (results/report.html): every table beside the paper's, samples, curves, run times.


def training_logs(eval_file):
    """The training logs and sample grids behind one evaluation file."""
    method, *key = eval_file.removeprefix("results/eval/").removesuffix(".json").split("/")
    if method == "reid":  # reid/<model domain>/seed<N>/on_<test>
        return [f"results/reid/{key[0]}/{key[1]}/model.pt.log.csv"]
    if method == "taudl":  # taudl/<target>/<start>/seed<N>
        return [f"results/taudl/{'/'.join(key)}/model.pt.log.csv"]
    run = f"results/{method}/{'/'.join(key)}"  # crgan/<pair>/<variant>/seed<N> or spgan/<pair>/seed<N>
    return [f"{run}/reid.pt.log.csv", f"{run}/G.pt.loss.csv", f"{run}/G.pt.grid.png"]


def report_inputs(wildcards):
    tables = {n: TABLE_INPUTS[n]() for n in sorted(TABLE_INPUTS)}
    evals = sorted({f for n, files in tables.items() for f in files if f.startswith("results/eval/")})
    quality = sorted({f for files in tables.values() for f in files if f.startswith("results/quality/")})
    logs = sorted({f for e in evals for f in training_logs(e)})
    return {
        "tables": [f"results/table{n}.csv" for n in tables],
        "evals": evals,
        "figures": [f for f in logs if f.endswith(".png")] + [f.replace(".json", ".png") for f in quality],
        "curves": [f for f in logs if f.endswith(".csv")],
    }


rule report:
    """results/report.html: what ran, Tables 1-7 beside the paper's, samples, curves, run times."""
    input:
        unpack(report_inputs),
    output:
        report("results/report.html", caption="captions/report.rst", category="Report"),
    params:
        cfg=cfg(*config),
        configfiles=" ".join(shlex.quote(str(f)) for f in workflow.configfiles),
    log:
        "logs/report.log",
    conda:
        "../envs/crgan.yaml"
    shell:
        "crgan report --config-json {params.cfg} --configfiles {params.configfiles} --tables {input.tables} "
        "--figures {input.figures} --curves {input.curves} --evals {input.evals} --benchmarks benchmarks "
        "--out {output} > {log} 2>&1"
