"""Project-level rules: layout, the two commands, secure Streamlit config, no unsafe loaders."""
import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _py_files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def test_layout_exists():
    for p in ("dashboard/app.py", "zoo/__init__.py", "pages", "tests", "requirements.txt", ".streamlit/config.toml",
              "README.md", ".ci/run", "docs"):
        assert (ROOT / p).exists(), p


def test_zoo_never_imports_streamlit():
    for f in _py_files("zoo"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{f} imports streamlit"


def test_no_unsafe_deserialisation_in_product_code():
    pattern = re.compile(r"pickle\.loads?\(|joblib\.load\(|cloudpickle|allow_pickle\s*=\s*True|torch\.load\(")
    for folder in ("zoo", "dashboard", "pages"):
        for f in _py_files(folder):
            for i, line in enumerate(f.read_text().splitlines(), 1):
                if pattern.search(line):
                    assert "weights_only=True" in line, f"{f}:{i}: {line.strip()}"


def test_streamlit_config_is_secure():
    cfg = tomllib.loads((ROOT / ".streamlit/config.toml").read_text())
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"].get("enableXsrfProtection", True) is True
    assert cfg["server"].get("enableCORS", True) is True
    assert cfg["server"]["maxUploadSize"] <= 50
    assert cfg["client"]["showErrorDetails"] in ("type", "none")
    assert cfg["server"]["address"] == "localhost", "loopback by default; a network needs sign-in (docs/DEPLOY.md)"


def test_every_exported_csv_goes_through_csvsafe():
    """Review export, predictions, leaderboard, validation findings: no .to_csv( outside zoo/csvsafe.py.

    The synthetic generator writes cohort input files (not exports a person opens from the app) and is exempt.
    """
    offenders = []
    for folder in ("zoo", "dashboard", "pages"):
        for f in _py_files(folder):
            rel = f.relative_to(ROOT).as_posix()
            if rel in ("zoo/csvsafe.py",) or rel.startswith("zoo/synth/"):
                continue
            for i, line in enumerate(f.read_text().splitlines(), 1):
                if ".to_csv(" in line:
                    offenders.append(f"{rel}:{i}: {line.strip()}")
    assert not offenders, offenders


def test_requirements_pin_torch_pair():
    req = (ROOT / "requirements.txt").read_text()
    assert "torch==2.14.1" in req and "torchvision==0.29.1" in req
    for line in req.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert "==" in line, f"unpinned requirement: {line}"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make run" in readme


def test_generated_data_is_ignored_and_source_is_not():
    import subprocess

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode == 0

    for p in ("data/demo/zoo/manifest.json", ".venv/bin/python", "screenshots/leaderboard.png",
              "artifacts/run/x.json"):
        assert ignored(p), f"{p} must be git-ignored"
    for p in ("zoo/artifacts/files.py", "zoo/data.py", "tests/artifacts/test_artifacts.py", "docs/BENCHMARKS.md"):
        assert not ignored(p), f"{p} is source and must not be ignored"
