"""The ``shapwise`` command end to end on saved torch, Keras and ONNX models; unsafe and bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shapwise.cli import main

FEATURES = ["age", "bmi", "bp", "s5"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Diabetes data (4 features, standardised) as .npy, .csv and .parquet files."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    X = data.data[:, [0, 2, 3, 8]].astype(np.float32)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = ((data.target - data.target.mean()) / data.target.std()).astype(np.float32)
    folder = tmp_path_factory.mktemp("cli")
    np.save(folder / "X.npy", X[:12])
    np.save(folder / "background.npy", X[100:130])
    np.save(folder / "train_X.npy", X)
    np.save(folder / "train_y.npy", y)
    import pandas

    frame = pandas.DataFrame(X[:12], columns=FEATURES)
    frame.to_csv(folder / "X.csv", index=False)
    frame.to_parquet(folder / "X.parquet")
    return folder


def _torch_model(workdir: Path):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.GELU(), torch.nn.Linear(16, 1))
    X = torch.from_numpy(np.load(workdir / "train_X.npy"))
    y = torch.from_numpy(np.load(workdir / "train_y.npy"))[:, None]
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(model(X), y).backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def torchscript_path(workdir: Path) -> Path:
    """The trained torch model saved as a TorchScript archive."""
    import torch

    path = workdir / "model.pt"
    torch.jit.script(_torch_model(workdir)).save(str(path))
    return path


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _explain(capsys, model: Path, data: Path, *options: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``shapwise explain --model model --data data *options``."""
    return _run(capsys, "explain", "--model", str(model), "--data", str(data), *options)


def _report_ok(path: Path, n_images: int | None = None) -> str:
    page = path.read_text()
    assert 'id="additivity"' in page and 'class="ok"' in page and 'class="fail"' not in page
    if n_images is not None:
        assert page.count("data:image/png;base64,") == n_images
    return page


def test_torchscript_model_with_csv_feature_names(workdir, torchscript_path, tmp_path, capsys):
    out = tmp_path / "report.html"
    code, stdout, stderr = _explain(
        capsys, torchscript_path, workdir / "X.csv",
        "--background", str(workdir / "background.npy"), "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert re.search(r"exact values \(12, 4, 1\) for 12 rows; additivity max error", stdout)
    page = _report_ok(out, n_images=3)
    assert "float32" in page and "model.pt" in page


def test_torch_export_archive_with_permutation(workdir, tmp_path, capsys):
    import torch

    rows = torch.export.Dim("rows")
    program = torch.export.export(
        _torch_model(workdir), (torch.zeros(2, 4),), dynamic_shapes=({0: rows},)
    )
    torch.export.save(program, str(tmp_path / "model.pt2"))
    out = tmp_path / "report.html"
    code, stdout, stderr = _explain(
        capsys, tmp_path / "model.pt2", workdir / "X.parquet",
        "--explainer", "permutation", "--max-evals", "40", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.startswith("permutation values (12, 4, 1)")
    _report_ok(out)


def test_torchscript_model_with_the_gradient_explainer_and_not_deep(
    workdir, torchscript_path, tmp_path, capsys
):
    out = tmp_path / "report.html"
    model, data = torchscript_path, workdir / "X.npy"
    options = ["--background", str(workdir / "background.npy"), "--out", str(out)]
    code, stdout, stderr = _explain(capsys, model, data, *options, "--explainer", "gradient")
    assert code == 0, stderr
    assert "values (12, 4" in stdout and out.exists()
    stderr = _explain_fails(capsys, model, data, *options, "--explainer", "deep")
    assert "TorchScript" in stderr and "--explainer gradient" in stderr


def test_keras_model(workdir, tmp_path, capsys):
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="gelu"), keras.layers.Dense(2)]
    )
    model.compile(optimizer="adam", loss="mse")
    y = np.load(workdir / "train_y.npy")
    model.fit(np.load(workdir / "train_X.npy"), np.stack([y, -y], 1), epochs=3, verbose=0)
    model.save(tmp_path / "model.keras")
    out = tmp_path / "report.html"
    code, stdout, stderr = _explain(
        capsys, tmp_path / "model.keras", workdir / "X.npy", "--out", str(out)
    )
    assert code == 0, stderr
    assert stdout.startswith("exact values (12, 4, 2)")
    _report_ok(out, n_images=6)  # bar, beeswarm, waterfall for each of the two outputs


def test_onnx_model(workdir, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    import torch

    model = _torch_model(workdir)
    with pytest.warns(DeprecationWarning):  # the legacy exporter: the new one needs onnxscript
        torch.onnx.export(
            model, (torch.zeros(1, 4),), str(tmp_path / "model.onnx"), dynamo=False,
            input_names=["x"], dynamic_axes={"x": {0: "rows"}},
        )  # fmt: skip
    out = tmp_path / "report.html"
    code, _stdout, stderr = _explain(
        capsys, tmp_path / "model.onnx", workdir / "X.npy", "--out", str(out)
    )
    assert code == 0, stderr
    _report_ok(out, n_images=3)
    # The ONNX model gives the same values as the torch module it was exported from.
    import shapwise

    background = np.load(workdir / "background.npy")
    X = np.load(workdir / "X.npy")
    from shapwise.model_io import load_model

    onnx_values = shapwise.Explainer(load_model(tmp_path / "model.onnx"), X)(X, silent=True)
    torch_values = shapwise.Explainer(model, X)(X, silent=True)
    np.testing.assert_allclose(onnx_values.values, torch_values.values, atol=1e-4)
    assert background.shape[1] == 4


def _fails(capsys, *args: str) -> str:
    code, stdout, stderr = _run(capsys, *args)
    assert code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("shapwise: error: ")
    assert "Traceback" not in stderr
    return stderr


def _explain_fails(capsys, model: Path, data: Path, *options: str) -> str:
    """stderr of ``shapwise explain --model model --data data *options``: one line, exit code 2."""
    return _fails(capsys, "explain", "--model", str(model), "--data", str(data), *options)


def test_pickles_are_refused(workdir, torchscript_path, tmp_path, capsys):
    import joblib
    import torch
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(
        np.load(workdir / "train_X.npy"), np.load(workdir / "train_y.npy")
    )
    joblib.dump(model, tmp_path / "model.joblib")
    stderr = _explain_fails(capsys, tmp_path / "model.joblib", workdir / "X.npy")
    assert "pickle" in stderr and "arbitrary code" in stderr and ".onnx" in stderr
    torch.save(_torch_model(workdir), tmp_path / "whole.pt")  # a pickled module object
    stderr = _explain_fails(capsys, tmp_path / "whole.pt", workdir / "X.npy")
    assert "arbitrary code" in stderr and "torch.save(model)" in stderr
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    stderr = _explain_fails(capsys, torchscript_path, tmp_path / "objects.npy")
    assert "arbitrary code" in stderr
    np.savez(tmp_path / "objects.npz", X=np.array([{"a": 1}], dtype=object))
    stderr = _explain_fails(capsys, torchscript_path, tmp_path / "objects.npz")
    assert "arbitrary code" in stderr


def test_a_state_dict_is_not_a_model(workdir, tmp_path, capsys):
    import torch

    torch.save(_torch_model(workdir).state_dict(), tmp_path / "weights.pt")
    stderr = _explain_fails(capsys, tmp_path / "weights.pt", workdir / "X.npy")
    assert "state dict" in stderr and "architecture" in stderr


def test_bad_paths_and_formats(workdir, torchscript_path, tmp_path, capsys):
    stderr = _explain_fails(capsys, tmp_path / "missing.pt", workdir / "X.npy")
    assert "model file not found" in stderr and "missing.pt" in stderr
    (tmp_path / "model.txt").write_text("not a model")
    stderr = _explain_fails(capsys, tmp_path / "model.txt", workdir / "X.npy")
    assert "cannot tell the format" in stderr
    stderr = _explain_fails(capsys, torchscript_path, tmp_path / "nothing.csv")
    assert "data file not found" in stderr
    (tmp_path / "text.csv").write_text("name,age\nann,3\nbob,4\n")
    stderr = _explain_fails(capsys, torchscript_path, tmp_path / "text.csv")
    assert "non-numeric columns ['name']" in stderr
    np.save(tmp_path / "wide.npy", np.zeros((3, 7), np.float32))
    stderr = _explain_fails(capsys, torchscript_path, tmp_path / "wide.npy")
    assert "7" in stderr or "shape" in stderr
    stderr = _explain_fails(
        capsys, torchscript_path, workdir / "X.npy", "--explainer", "gradient", "--max-evals", "100"
    )
    assert "--max-evals" in stderr and "gradient explainer does not take one" in stderr


def test_installed_entry_point_exits_non_zero_with_one_line(tmp_path):
    script = Path(sys.executable).with_name("shapwise")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "shapwise.cli"]
    result = subprocess.run(
        [*command, "explain", "--model", str(tmp_path / "nope.onnx"), "--data", "x.npy"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"shapwise: error: model file not found: {tmp_path / 'nope.onnx'}"
    ]


# ----------------------------------------------------------------- files are never destroyed
def test_out_that_is_an_input_is_refused_and_the_input_kept(
    workdir, torchscript_path, tmp_path, capsys, monkeypatch
):
    import shutil

    model = tmp_path / "model.pt"
    shutil.copy(torchscript_path, model)
    data = tmp_path / "X.npy"
    shutil.copy(workdir / "X.npy", data)
    model_bytes, data_bytes = model.read_bytes(), data.read_bytes()
    (tmp_path / "link.html").symlink_to(model)
    monkeypatch.chdir(tmp_path)
    for out, option in [
        ("model.pt", "--model"),  # a relative path
        (str(tmp_path / "sub" / ".." / "model.pt"), "--model"),
        ("link.html", "--model"),  # a symlink to the model
        (str(data), "--data"),
    ]:
        stderr = _explain_fails(capsys, model, data, "--out", out)
        assert f"is the {option} file" in stderr, stderr
    background = tmp_path / "background.npy"
    shutil.copy(workdir / "background.npy", background)
    stderr = _explain_fails(
        capsys, model, data, "--background", str(background), "--out", "background.npy"
    )
    assert "is the --background file" in stderr
    assert model.read_bytes() == model_bytes and data.read_bytes() == data_bytes


def test_out_replaces_only_reports_unless_forced(workdir, torchscript_path, tmp_path, capsys):
    notes = tmp_path / "notes.html"
    notes.write_text("<p>my own notes</p>")
    stderr = _explain_fails(capsys, torchscript_path, workdir / "X.npy", "--out", str(notes))
    assert "not a shapwise report" in stderr and "--force" in stderr
    assert notes.read_text() == "<p>my own notes</p>"
    code, _, stderr = _explain(
        capsys, torchscript_path, workdir / "X.npy", "--out", str(notes), "--force"
    )
    assert code == 0, stderr
    _report_ok(notes)
    # a shapwise report is replaced without --force, and no temporary file is left beside it
    code, _, stderr = _explain(capsys, torchscript_path, workdir / "X.npy", "--out", str(notes))
    assert code == 0, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.html"]


def test_an_interrupted_write_leaves_the_old_file(tmp_path):
    from shapwise._files import write_binary_atomically, write_text_atomically

    path = tmp_path / "report.html"
    path.write_text("the good report")

    def half_then_crash(stream):
        stream.write(b"half of a new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_binary_atomically(path, half_then_crash)
    assert path.read_text() == "the good report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    write_text_atomically(path, "a new report")
    assert path.read_text() == "a new report"


# ----------------------------------------------------------------- CSV headers and messages
def test_a_csv_without_header_keeps_its_first_row(workdir, torchscript_path, tmp_path, capsys):
    X = np.load(workdir / "X.npy")
    np.savetxt(tmp_path / "plain.csv", X, delimiter=",")
    from shapwise.model_io import load_data

    rows, names = load_data(tmp_path / "plain.csv")
    assert names is None and rows.shape == X.shape
    np.testing.assert_allclose(rows, X, rtol=1e-6)
    rows, names = load_data(tmp_path / "plain.csv", header=True)  # told: the first line names
    assert len(rows) == len(X) - 1 and len(names) == X.shape[1]
    rows, names = load_data(workdir / "X.csv", header=None)  # a real header is still read
    assert names == FEATURES and len(rows) == len(X)
    out = tmp_path / "r.html"
    code, stdout, stderr = _explain(
        capsys, torchscript_path, tmp_path / "plain.csv", "--no-header", "--out", str(out)
    )
    assert code == 0, stderr
    assert f"for {len(X)} rows" in stdout


def test_messages_name_the_right_file(workdir, torchscript_path, tmp_path, capsys):
    X = np.load(workdir / "X.npy").copy()
    X[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", X)
    stderr = _explain_fails(capsys, torchscript_path, tmp_path / "nan.npy")
    assert "--data nan.npy" in stderr and "background" not in stderr
    (tmp_path / "header_only.csv").write_text(",".join(FEATURES) + "\n")
    stderr = _explain_fails(capsys, torchscript_path, tmp_path / "header_only.csv")
    assert "empty" in stderr and "non-numeric" not in stderr
    (tmp_path / "text.pt").write_text("just some text")
    stderr = _explain_fails(capsys, tmp_path / "text.pt", workdir / "X.npy")
    assert "pickle" not in stderr and "not a torch model file" in stderr
    (tmp_path / "text.npy").write_text("just some text")
    stderr = _explain_fails(capsys, torchscript_path, tmp_path / "text.npy")
    assert "pickle" not in stderr and "not an .npy array" in stderr
    (tmp_path / "broken.keras").write_text("not an archive")
    stderr = _explain_fails(capsys, tmp_path / "broken.keras", workdir / "X.npy")
    assert "not found" not in stderr and "not a Keras archive" in stderr


def test_gradient_summary_calls_its_gap_a_sampling_error(
    workdir, torchscript_path, tmp_path, capsys
):
    out = tmp_path / "report.html"
    code, stdout, stderr = _explain(
        capsys, torchscript_path, workdir / "X.npy", "--explainer", "gradient", "--out", str(out)
    )
    assert code == 0, stderr
    assert "sampling error of the expected gradients" in stdout and "tolerance" not in stdout


def test_tensorflow_start_up_lines_are_kept_out(workdir, tmp_path):
    keras = pytest.importorskip("keras")
    import os

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.save(tmp_path / "model.keras")
    script = Path(sys.executable).with_name("shapwise")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "shapwise.cli"]
    args = ["explain", "--model", str(tmp_path / "model.keras"), "--data", str(workdir / "X.npy")]
    args += ["--out", str(tmp_path / "r.html")]
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=300, env=environment
    )
    assert result.returncode == 0, result.stderr
    assert "oneDNN" not in result.stderr and "absl" not in result.stderr, result.stderr
    assert "oneDNN" not in result.stdout
