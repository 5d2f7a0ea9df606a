"""Generated docs are current, and the README's commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

from stacks import sizing

ROOT = Path(__file__).resolve().parent.parent


def test_sizing_and_configuration_docs_are_current() -> None:
    for name, render in sizing.OUTPUTS.items():
        assert (ROOT / "docs" / name).read_text() == render(), (
            f"docs/{name} is stale: run `python -m stacks.sizing`"
        )


def test_sizing_doc_answers_the_g5_question() -> None:
    text = sizing.render_sizing()
    assert "Does nano run on a multi-GPU g5?" in text
    assert "| g5.48xlarge | yes | no | no |" in text


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 scripts/dev.py test" in readme
    assert "python3 scripts/dev.py synth" in readme
    assert ci.strip().splitlines()[-1] == "python3 scripts/dev.py test"
