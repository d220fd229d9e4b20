"""The `intake` command's contract: help for every command, config errors as one line and exit 2."""

from __future__ import annotations

import pytest
from intake_env import REPO, run_intake_process

from ingest.cli import COMMANDS, build_parser, main


def test_every_command_has_help_and_is_in_the_readme():
    parser = build_parser()
    help_text = parser.format_help()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert name in help_text
        assert f"intake {name}" in readme or f"{name}" in readme


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[mailbox]\nurll = "maildir:x"\n', "[mailbox] urll"),
        ('[mailbox]\nurl = "pop3://host"\n', "[mailbox] url"),
        ('[database]\nurl = "mysql://x"\n', "[database] url"),
        ('[schedule]\ninterval_seconds = "often"\n', "[schedule] interval_seconds"),
        ('[acknowledgements]\npolicy = "sometimes"\n', "[acknowledgements] policy"),
        ("[mailbox\n", "not valid TOML"),
        ('[smtp]\nfrom = "not an address"\n', "[smtp] from"),
    ],
)
def test_bad_config_names_the_key_and_exits_2_before_touching_anything(tmp_path, capsys, text, needle):
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    assert main(["--config", str(config), "run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert needle in err[0]
    assert list(tmp_path.iterdir()) == [config]  # no database, no maildir, nothing created


def test_bad_config_from_a_real_process(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[mailbox]\nurl = "imaps//nohost"\n', encoding="utf-8")
    done = run_intake_process(config, "run")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "[mailbox] url" in done.stderr


def test_missing_config_file(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "nope.toml"), "run"]) == 2
    assert "no such config file" in capsys.readouterr().err
