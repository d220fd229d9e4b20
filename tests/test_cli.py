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


def test_serve_runs_cycles_and_stops_cleanly_on_sigterm(tmp_path):
    import mailbox
    import signal
    import subprocess
    import sys
    import time

    from builders.mail import build_message
    from intake_env import export, write_config

    box = mailbox.Maildir(tmp_path / "mail", create=True)
    box.add(build_message(body="Could you send me the form, please?\n"))
    config = write_config(
        tmp_path,
        mailbox_url=f"maildir:{tmp_path / 'mail'}",
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
    )
    config.write_text(config.read_text() + "[schedule]\ninterval_seconds = 5\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "--config", str(config), "serve"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any((tmp_path / "mail" / ".Processed" / "cur").glob("*")):
            time.sleep(0.2)
        box.add(build_message(body="A second question for the team.\n"))
        time.sleep(6)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopping" in err
    assert [m["disposition"] for m in export(config, tmp_path, "--messages")] == ["correspondence", "correspondence"]
