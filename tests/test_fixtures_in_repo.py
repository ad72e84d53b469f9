"""Parity fixtures live in the repository: no test reads files outside it, every fixtures folder says
what it holds, and every fixture file is plain data."""

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SKIPPED_FOLDERS = {".venv", ".git", "build", "outputs", "runs", ".cache", "__pycache__"}
# Ways a test could reach the developer-only `shared/` folder beside the repository.
OUTSIDE_REFERENCES = ("../shared", "shared_dir", "TTS_SHARED_DIR")
# At least these must exist, so the checks below cannot pass on an empty list.
KNOWN_FIXTURE_FOLDERS = {
    "tests/fixtures",
    "tacotron2_waveglow_ngc/tests/fixtures",
    "neural_hmm/tests/fixtures",
}


def repository_files(pattern: str) -> list[Path]:
    return sorted(
        path
        for path in REPO_ROOT.rglob(pattern)
        if not SKIPPED_FOLDERS.intersection(path.relative_to(REPO_ROOT).parts)
    )


def files_of_tests() -> list[Path]:
    """Every Python file of a `tests/` folder, and every conftest.py."""
    in_tests = [path for path in repository_files("*.py") if "tests" in path.relative_to(REPO_ROOT).parts]
    return sorted(set(in_tests + repository_files("conftest.py")) - {Path(__file__).resolve()})


def fixture_folders() -> list[Path]:
    return [path for path in repository_files("fixtures") if path.is_dir()]


def relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def test_no_test_reads_the_shared_folder():
    files = files_of_tests()
    assert len(files) > 20
    offences = [
        f"{relative(path)}:{number}: {needle}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for needle in OUTSIDE_REFERENCES
        if needle in line
    ]
    assert not offences, "tests must read fixtures inside the repository:\n" + "\n".join(offences)


def test_every_fixtures_folder_has_a_readme_naming_each_file():
    folders = fixture_folders()
    assert KNOWN_FIXTURE_FOLDERS <= {relative(folder) for folder in folders}
    for folder in folders:
        readme = folder / "README.md"
        assert readme.is_file(), f"{relative(folder)} has no README.md saying what its files hold"
        text = readme.read_text(encoding="utf-8")
        for path in sorted(folder.iterdir()):
            if path.name != "README.md":
                assert f"`{path.name}`" in text, f"{relative(readme)} does not describe `{path.name}`"


@pytest.mark.parametrize(
    "path", [p for folder in fixture_folders() for p in sorted(folder.glob("*.pt"))], ids=relative
)
def test_fixture_tensors_load_as_plain_data(path):
    # weights_only refuses pickled classes and code: a fixture is tensors, lists, dicts, numbers, strings.
    assert torch.load(path, weights_only=True)
