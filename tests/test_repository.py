"""Repository-level rules: paper folders stay self-contained, Dockerfiles are well formed, and the
README's Quick start is the two commands CI and newcomers actually run."""

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_FOLDERS = ["neural_hmm", "naturalspeech", "tacotron2_mmi", "tacotron2_waveglow_ngc", "flowtron"]
DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def imported_top_level_modules(source_file: Path) -> set[str]:
    tree = ast.parse(source_file.read_text(encoding="utf-8"), filename=str(source_file))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_paper_folders_do_not_import_each_other():
    offences = []
    for folder in PAPER_FOLDERS:
        others = set(PAPER_FOLDERS) - {folder}
        for source_file in (REPO_ROOT / folder).rglob("*.py"):
            for module in imported_top_level_modules(source_file) & others:
                offences.append(f"{source_file.relative_to(REPO_ROOT)} imports {module}")
    assert not offences, "paper folders must be self-contained:\n" + "\n".join(offences)


def test_shared_packages_do_not_import_paper_folders():
    offences = []
    for package in ["shared_text", "filelists", "evaluation"]:
        for source_file in (REPO_ROOT / package).rglob("*.py"):
            for module in imported_top_level_modules(source_file) & set(PAPER_FOLDERS):
                offences.append(f"{source_file.relative_to(REPO_ROOT)} imports {module}")
    assert not offences, "\n".join(offences)


def dockerfile_instructions(path: Path) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, pending, start = [], "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        pending += " " + stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append((start, keyword, arguments.strip()))
            pending = ""
    assert not pending, f"{path}: file ends inside a line continuation"
    return instructions


def lint_dockerfile(path: Path, build_context: Path = REPO_ROOT) -> list[str]:
    problems = []
    instructions = dockerfile_instructions(path)
    if not instructions:
        return [f"{path.name}: empty Dockerfile"]
    first_real = next((item for item in instructions if item[1].upper() != "ARG"), None)
    if first_real is None or first_real[1].upper() != "FROM":
        problems.append(f"{path.name}: the first instruction after ARGs must be FROM")
    for number, keyword, arguments in instructions:
        where = f"{path.name}:{number}"
        if keyword.upper() not in DOCKER_INSTRUCTIONS:
            problems.append(f"{where}: unknown instruction {keyword!r}")
        if keyword != keyword.upper():
            problems.append(f"{where}: write instructions in upper case ({keyword!r})")
        keyword = keyword.upper()
        if keyword == "FROM":
            image = arguments.split()[0]
            if image.startswith("tts-landmarks:"):
                continue  # the repository's own base image, built from docker/Dockerfile
            if ":" not in image or image.endswith(":latest"):
                problems.append(f"{where}: pin the base image tag ({image!r})")
        if keyword == "RUN" and "apt-get install" in arguments:
            if "apt-get update" not in arguments:
                problems.append(f"{where}: apt-get install without apt-get update in the same layer")
            if "rm -rf /var/lib/apt/lists" not in arguments:
                problems.append(f"{where}: apt lists not cleaned in the same layer")
            if "-y" not in arguments.split():
                problems.append(f"{where}: apt-get install needs -y in a non-interactive build")
        if keyword in {"COPY", "ADD"}:
            parts = [part for part in arguments.split() if not part.startswith("--")]
            for source in parts[:-1]:
                if source != "." and not any(build_context.glob(source)):
                    problems.append(f"{where}: {keyword} source {source!r} is not in the build context")
    return problems


def all_dockerfiles() -> list[Path]:
    return sorted(path for path in REPO_ROOT.rglob("Dockerfile*") if ".venv" not in path.parts)


def test_there_is_a_base_dockerfile():
    assert (REPO_ROOT / "docker" / "Dockerfile").is_file()


@pytest.mark.parametrize("dockerfile", all_dockerfiles(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_dockerfile_lints_clean(dockerfile):
    assert lint_dockerfile(dockerfile) == []


def test_dockerfile_linter_catches_mistakes(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("RUN echo hi\nFROM ubuntu\nrun apt-get install -y flite\nCOPY no_such_file /x\nFOO bar\n")
    problems = "\n".join(lint_dockerfile(bad, build_context=tmp_path))
    for expected in ["first instruction", "pin the base image", "upper case", "apt-get update",
                     "not in the build context", "unknown instruction 'FOO'"]:  # fmt: skip
        assert expected in problems


def quick_start_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, flags=re.S | re.M)
    assert section, "README.md needs a '## Quick start' section"
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", section.group(1), flags=re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_second():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    ci_script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci_script or commands[1].replace("bash ", "exec bash ") in ci_script
    for command in commands:
        script = command.split()[-1]
        assert (REPO_ROOT / script).is_file(), f"Quick start names {script}, which does not exist"


def command_line_scripts() -> list[Path]:
    scripts = []
    for folder in PAPER_FOLDERS:
        for source_file in sorted((REPO_ROOT / folder).glob("*.py")):
            if 'if __name__ == "__main__"' in source_file.read_text(encoding="utf-8"):
                scripts.append(source_file)
    return scripts


@pytest.mark.parametrize("script", command_line_scripts(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_scripts_run_as_files_from_their_folder(script):
    """Users arrive from the originals and type `python train.py` inside the paper folder."""
    import subprocess
    import sys

    command = [sys.executable, script.name, "--help"]
    result = subprocess.run(command, cwd=script.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout


def test_run_infrastructure_copies_are_identical():
    """Every paper folder carries the same `infra.py` (copied, so that no folder imports another); a copy
    edited alone is drift, reported with the first differing line."""
    import difflib

    copies = {
        folder: REPO_ROOT / folder / "infra.py" for folder in PAPER_FOLDERS if (REPO_ROOT / folder).is_dir()
    }
    assert set(copies) >= {"neural_hmm", "tacotron2_waveglow_ngc"}
    missing = [folder for folder, path in copies.items() if not path.is_file()]
    assert not missing, f"paper folders without infra.py: {missing}"
    reference_folder, reference = next(iter(copies.items()))
    for folder, path in copies.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        expected = reference.read_text(encoding="utf-8").splitlines()
        diff = list(
            difflib.unified_diff(expected, lines, f"{reference_folder}/infra.py", f"{folder}/infra.py", n=0)
        )
        assert not diff, "infra.py copies differ; edit one and copy it to every folder:\n" + "\n".join(
            diff[:20]
        )


def test_scripts_import_library_modules_never_other_scripts():
    """A command (a module with a __main__ block) is an entry point: other modules, commands included,
    import what they need from library modules instead (tests may import commands to call main())."""
    offences = []
    for folder in PAPER_FOLDERS:
        scripts = {path.stem for path in command_line_scripts() if path.parent.name == folder}
        for source_file in sorted((REPO_ROOT / folder).glob("*.py")):
            tree = ast.parse(source_file.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 1:
                    names = [node.module] if node.module else [alias.name for alias in node.names]
                    for name in names:
                        if name.split(".")[0] in scripts and name.split(".")[0] != source_file.stem:
                            offences.append(f"{folder}/{source_file.name} imports the command {name}.py")
    assert not offences, "\n".join(offences)
