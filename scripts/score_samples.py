"""Run the real pipeline over a folder of .eml files and score the exports against its expected.jsonl.

    python3 scripts/score_samples.py [--samples ../shared/forms/samples] [--show-errors 30]

The messages go into a fresh Maildir, `intake run` files them into a fresh SQLite database with
acknowledgements written to an outbox folder, and the shared scorer compares both exports with the
key. Nothing here is used by the unit tests.
"""

from __future__ import annotations

import argparse
import mailbox
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=SHARED / "forms" / "samples")
    parser.add_argument("--scorer", type=Path, default=SHARED / "tools" / "score.py")
    parser.add_argument("--show-errors", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="intake-score-"))
    work.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(work / "maildir", create=True)
    for eml in sorted(args.samples.glob("*.eml")):
        box.add(eml.read_bytes())
    config = work / "config.toml"
    config.write_text(
        f'[form]\ndefinition = "{REPO / "forms" / "childrens-trusts-2008.toml"}"\n'
        '[mailbox]\nurl = "maildir:maildir"\n[smtp]\nurl = "outbox:outbox"\n'
        '[database]\nurl = "sqlite:///intake.db"\n',
        encoding="utf-8",
    )
    intake = [sys.executable, "-m", "ingest.cli", "--config", str(config)]
    subprocess.run([*intake, "run"], cwd=REPO, check=True)
    subprocess.run([*intake, "export", "--output", str(work / "responses.jsonl")], cwd=REPO, check=True)
    subprocess.run([*intake, "export", "--messages", "--output", str(work / "messages.jsonl")], cwd=REPO, check=True)
    score = [
        sys.executable,
        str(args.scorer),
        "--expected",
        str(args.samples / "expected.jsonl"),
        "--responses",
        str(work / "responses.jsonl"),
        "--messages",
        str(work / "messages.jsonl"),
        "--show-errors",
        str(args.show_errors),
    ]
    return subprocess.run(score, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
