import json
from pathlib import Path

import pytest

from practicaltorch.cli import main
from practicaltorch.data.errors import DownloadError


def test_run_quick_writes_results_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["run", "penguins-species", "--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "penguins-species" in out and "bar:" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["reports"][0]["name"] == "penguins-species"
    assert (tmp_path / "penguins-species" / "model.pt").is_file()


def test_run_strict_fails_when_a_bar_is_missed(tmp_path: Path) -> None:
    # One epoch of the mass regression is nowhere near 230 g.
    assert main(["run", "penguins-mass", "--epochs", "1", "--out", str(tmp_path), "--strict"]) == 1


def test_unknown_recipe_and_bad_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "penguin"])
    assert "invalid choice" in capsys.readouterr().err
    assert main(["run", "cancer", "--device", "tpu", "--out", str(tmp_path)]) == 2
    assert "practicaltorch run:" in capsys.readouterr().err


def test_doctor_reports_missing_mnist_with_advice(
    empty_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert str(empty_data_dir) in out
    assert "practicaltorch fetch" in out


def test_doctor_passes_with_real_mnist(
    mnist_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRACTICALTORCH_DATA", str(mnist_root))
    assert main(["doctor"]) == 0
    assert "ready for the course" in capsys.readouterr().out


def test_fetch_offline_is_one_clear_message(
    empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import practicaltorch.data.mnist as mnist

    def offline(root: object = None) -> Path:
        raise DownloadError("could not download MNIST: no network")

    monkeypatch.setattr(mnist, "download_mnist", offline)
    assert main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert "could not download MNIST" in err and "Traceback" not in err


def test_export_command_exports_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "penguins-species", "--quick", "--out", str(tmp_path)]) == 0
    assert main(["export", str(tmp_path / "penguins-species")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "max relative error" in out
    assert (
        tmp_path / "penguins-species" / "export" / "torchscript" / "model.torchscript.pt"
    ).is_file()
    assert main(["export", str(tmp_path / "nothing-here")]) == 2
    assert "no trained weights" in capsys.readouterr().err
