"""`isobridge new-adapter`: the generated package passes its contract suite, installs and is listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from isobridge.core.cli import main
from isobridge.core.cli.scaffold import names


def run(cmd: list[str], cwd: Path, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_names_and_refusals(tmp_path):
    values = names("acme-onegate", "source")
    assert values["__DIST__"] == "isobridge-acme-onegate" and values["__MODULE__"] == "isobridge_acme_onegate"
    assert values["__CLASS__"] == "AcmeOnegateSource"
    with pytest.raises(ValueError, match="lower-case"):
        names("Acme Gate", "source")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    assert main(["new-adapter", "acme", "--out", str(tmp_path / "taken")]) == 1


@pytest.mark.parametrize("kind", ["source", "sink"])
def test_generated_package_passes_its_contract_suite(tmp_path, kind):
    assert main(["new-adapter", f"acme-{kind}", "--kind", kind, "--out", str(tmp_path / "pkg")]) == 0
    package = tmp_path / "pkg"
    text = (package / "pyproject.toml").read_text()
    assert f'acme-{kind} = "isobridge_acme_{kind}.plugin"' in text and "[project.entry-points.isobridge]" in text
    env = {**os.environ, "PYTHONPATH": str(package / "src")}
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], package, env)
    assert " passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.slow
def test_generated_package_installs_into_a_fresh_venv_and_is_listed(tmp_path):
    """Generate, pip install into a new venv layered on this environment, run its tests, list it."""
    package = tmp_path / "isobridge-acme-gate"
    assert main(["new-adapter", "acme-gate", "--out", str(package)]) == 0
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    # the new venv sees this environment's packages (isobridge, pytest, setuptools) underneath its own
    Path(purelib, "zz-parent-env.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    # --no-deps: isobridge comes from the layered environment; the build backend from the index, as usual
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", f"--prefix={venv}", str(package)], tmp_path,
        timeout=180)
    installed = run([str(python), "-c", "import isobridge_acme_gate, sys; print(isobridge_acme_gate.__file__)"],
                    tmp_path).stdout
    assert installed.startswith(str(venv)), installed
    result = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")], package)
    assert " passed" in result.stdout and "failed" not in result.stdout
    listing = run([str(python), "-c", "from isobridge.core.cli import main; main(['plugins', '--json'])"], tmp_path)
    plugins = {p["name"]: p for p in json.loads(listing.stdout)}
    assert plugins["acme-gate"]["sources"] == ["acme-gate"] and plugins["acme-gate"]["error"] is None
    assert plugins["acme-gate"]["distribution"] == "isobridge-acme-gate"
