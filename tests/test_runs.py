"""The run catalogue, the typed records and the package's layering."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

from crgan import cli, plan
from crgan.methods import VARIANTS
from crgan.records import EvaluationRecord, GeneratorInfo, NetworkInfo, QualityRecord, RecordError
from crgan.runs import QUALITY_METHODS, Evaluation, Quality, Run, seed_of

RUNS = [Run.reid("market1501", 0), Run.crgan("market1501", "dukemtmc", "wo_id", 3), Run.of_pair("spgan", "cuhk03", "dukemtmc", 1),
        Run.started("taudl", "dukemtmc", "plain", seed=2), Run.started("taudl", "market1501", "crgan", "dukemtmc", 0),
        Run.started("taudl", "dukemtmc", "spgan", "cuhk03", 10)]


@pytest.mark.parametrize("run", RUNS, ids=str)
def test_every_path_of_a_run_reads_back_as_that_run(run: Run):
    paths = [run.directory, run.network, *run.training_logs, *([run.generator] if run.generator else [])]
    for path in paths:
        assert Run.from_path(path) == run, path
        assert seed_of(path) == run.seed
    test = "cuhk03" if run.method == "reid" else run.target
    evaluation = Evaluation.of(run, test)
    assert Evaluation.from_path(evaluation.path) == evaluation
    assert Run.from_path(f"/abs/work/{evaluation.path}") == run  # anywhere in a longer path
    assert evaluation.key.run.seed is None and evaluation.key.at(run.seed) == evaluation


def test_labels_starts_and_quality_generators():
    assert Evaluation.of(Run.reid("market1501"), "dukemtmc").label == "Direct Transfer"
    assert Run.crgan("market1501", "dukemtmc", "wo_dual").label == "w/o dual condition"
    hybrid = Run.started("taudl", "dukemtmc", "crgan", "market1501", 4)
    assert hybrid.label == "CR-GAN+TAUDL" and hybrid.start_run == Run.crgan("market1501", "dukemtmc", seed=4)
    assert Run.started("taudl", "dukemtmc", "plain").start_run is None
    quality = Quality("spgan", "market1501", "dukemtmc", 0)
    assert quality.generator_run.generator == "results/spgan/market1501-dukemtmc/seed0/G.pt"
    assert Quality.from_path(quality.figure) == quality and Quality("source-target", "a", "b", 0).generator_run is None
    with pytest.raises(ValueError, match="unknown CR-GAN variant 'wo_x'"):
        Run.crgan("market1501", "dukemtmc", "wo_x")
    with pytest.raises(ValueError, match="TAUDL start"):
        Run.started("taudl", "dukemtmc", "crgan")
    assert Run.from_path("results/data/draw0/market1501.json") is None


def test_a_seed_bundle_draws_its_own_synthetic_data_and_mask_errors():
    from crgan.runs import draw_of, index_file, masks_dir, synthetic_dir

    assert [draw_of(seed, synthetic=True) for seed in (0, 3)] == [0, 3] and draw_of(3, synthetic=False) == 0
    assert index_file("dukemtmc", 2) == "results/data/draw2/dukemtmc.json"
    assert masks_dir("dukemtmc", 2) == "results/masks/draw2/dukemtmc"
    assert synthetic_dir("data/synthetic", "cuhk03", 1) == "data/synthetic/draw1/cuhk03"


def test_the_cli_offers_the_catalogues_choices():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    assert next(a for a in sub["train-crgan"]._actions if a.dest == "variant").choices == list(VARIANTS)
    assert next(a for a in sub["quality"]._actions if a.dest == "method").choices == list(QUALITY_METHODS)
    assert next(a for a in sub["table"]._actions if a.dest == "table").choices == sorted(plan.TABLES)


def test_table_inputs_come_from_the_layout():
    cfg = {"seeds": [0, 1], "pairs": [["market1501", "dukemtmc"]], "cuhk03_pairs": [["cuhk03", "market1501"]]}
    t3 = plan.table_inputs(3, cfg)
    assert t3 == [Evaluation.of(Run.crgan("market1501", "dukemtmc", v, s)).path
                  for v in ("wo_id", "wo_cam", "wo_con", "crgan") for s in (0, 1)]
    # Direct Transfer, the untrained floor, SPGAN, CR-GAN, TAUDL, CR-GAN+TAUDL for two seeds
    t7 = plan.table_inputs(7, cfg)
    assert "results/eval/taudl/market1501/crgan-cuhk03/seed1.json" in t7 and len(t7) == len(set(t7)) == 7 * 2
    assert "results/eval/taudl/market1501/untrained/seed0.json" in t7
    assert plan.table_inputs(1, cfg)[0] == "results/quality/market1501-dukemtmc/source-target/seed0.json"


def test_records_round_trip_and_reject_other_data():
    network = NetworkInfo(RUNS[-1], "dukemtmc", "scratch", {"arch": "compact"}, [2, 3], (64, 32), True,
                          {"loss": 1.0}, {"seed": 10}, {"top_k": 3})
    generator = GeneratorInfo(RUNS[1], {"ngf": 8}, 4, {"loss_g": 1.0}, {"seed": 3})
    evaluation = EvaluationRecord(Evaluation.of(RUNS[2]), "scratch", True, {"gap": {}}, {"seed": 1})
    quality = QualityRecord("crgan", "market1501", "dukemtmc", 0, True, {"fid": 1.0}, {"fid": "x"}, {}, None, {})
    for record in (network, generator, evaluation, quality):
        assert type(record).from_dict(record.to_dict()) == record
    with pytest.raises(RecordError, match="expected the fields"):
        NetworkInfo.from_dict({**network.to_dict(), "final_train_acc": 0.9})
    with pytest.raises(RecordError, match="expected an evaluation record"):
        EvaluationRecord.from_dict({**evaluation.to_dict(), "evaluation": "x"})


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_evaluation_and_report_import_nothing_from_training():
    """Neither a trainer nor what runs trainers (the budget points): report/ sits below nothing that trains."""
    for folder in ("eval", "report"):
        for path in (REPO / "src" / "crgan" / folder).glob("*.py"):
            assert not {m for m in imports_of(path) if m.startswith(("crgan.train", "crgan.budget_curves"))}, path


def module_level_imports(path: Path) -> set[str]:
    """The crgan modules a file imports when it is imported (imports inside functions excluded)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("crgan"):
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("crgan")}
    return found


def test_no_import_cycles():
    src = REPO / "src" / "crgan"
    modules = {"crgan." + ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__"): p
               for p in src.rglob("*.py")}
    # a module's own parent packages are imported before it in any case: not an edge
    graph = {m: {d for d in module_level_imports(p) if d in modules and d != m and not m.startswith(d + ".")}
             for m, p in modules.items()}

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join([*path, module])
        for dep in graph[module]:
            visit(dep, (*path, module))

    for module in graph:
        visit(module, ())
