# crgan-repro: CR-GAN (ICCV 2019) end to end. `snakemake --cores all` builds every target of rule all.
# Configuration: config.yaml (default) overlaid by --configfile presets/*.yaml; see README.md.
import sys

from snakemake.utils import min_version

from crgan import preflight
from crgan.config import validate as validate_config
from crgan.errors import ConfigError

min_version("8.0")


configfile: "config.yaml"


# One validation before any job runs (schemas/config.schema.yaml and the checks it cannot
# express): a bad config stops with one line naming the key; the schema's defaults fill the rest.
# Then the preflight: dataset roots and pretrained weights (crgan.preflight), with what happens
# without each; a missing root or required weights file stops here, before any job.
try:
    config.update(validate_config(config))
except ConfigError as exc:
    sys.stderr.write(f"crgan: config error: {exc}\n")
    sys.exit(2)
PREFLIGHT = preflight.checks(config)
if any(not row.found for row in PREFLIGHT):
    sys.stderr.write(preflight.table(PREFLIGHT) + "\n")
if any(row.fatal for row in PREFLIGHT):
    sys.stderr.write("crgan: preflight: the run cannot start without the rows marked 'the run stops' above\n")
    sys.exit(2)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/masks.smk"
include: "rules/reid.smk"
include: "rules/evaluate.smk"
include: "rules/crgan.smk"
include: "rules/spgan.smk"
include: "rules/controls.smk"
include: "rules/started.smk"
include: "rules/quality.smk"
include: "rules/tables.smk"
include: "rules/report.smk"
include: "rules/gap_sweep.smk"
include: "rules/budgets.smk"
include: "rules/precision.smk"


# The report, which depends on every table, grid and curve of the configured pairs and seeds.
rule all:
    default_target: True
    input:
        "results/report.html",
