"""Choice rows: a row of labels and boxes, in any of the layouts respondents produce.

The rule that makes a mark safe: it belongs to a label only by being in the same cell as exactly
one label, or by the row's strict alternation of labels and boxes; anything else is ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from parsers import normalise as nz
from parsers.formreader.draft import ChoiceMarks, Mark, Row


@dataclass(frozen=True)
class Token:
    kind: str  # "L" a choice label, "M" a box or mark, "T" other text
    value: str | Mark  # the choice id for L, the mark for M, the text for T
    cell: int
    raw: str = ""


_MARK_WORD = r"(?<![\w])[xX\u2713\u2714\u2717\u2718\u221a](?![\w])"
_BRACKETED = r"\[\s*[xX\u2713\u2714\u221a]?\s*\]|\(\s*[xX\u2713\u2714\u221a]?\s*\)"


def mark_token_re() -> str:
    return rf"{_BRACKETED}|[{nz.GLYPH_MARKS}]|{_MARK_WORD}"


_LEADING_MARK = re.compile(rf"^\s*({mark_token_re()})\s*")
_TRAILING_MARK = re.compile(rf"\s*({mark_token_re()})\s*$")
_LETTER_OR_DIGIT = re.compile(r"[a-z0-9]")
_BOXES_AFTER_LABELS = re.compile(r"(LM)+")
_BOXES_BEFORE_LABELS = re.compile(r"(ML)+")


@lru_cache(maxsize=64)
def _label_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """A regex finding choice phrases and box marks inside one folded cell text; built once per choice set."""
    alternatives = sorted(phrases, key=len, reverse=True)
    words = "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in alternatives)
    return re.compile(rf"(?<![\w'])(?P<label>{words})(?![\w'])|(?P<mark>{mark_token_re()})")


def split_inline_marks(text: str) -> tuple[list[Mark], str, list[Mark]]:
    """Peel box marks off both ends of a label cell: "X Agree" -> ([True], "Agree", [])."""
    before: list[Mark] = []
    after: list[Mark] = []
    rest = text.strip()
    while m := _LEADING_MARK.match(rest):
        before.append(nz.is_tick(m.group(1)))
        rest = rest[m.end() :]
    while m := _TRAILING_MARK.search(rest):
        if m.start() == 0:
            break
        after.insert(0, nz.is_tick(m.group(1)))
        rest = rest[: m.start()]
    return before, rest, after


def _scan_cell(text: str, index: int, choices: Mapping[str, str]) -> list[Token] | None:
    """Tokens of a cell holding several labels and marks ("Agree ☒ Disagree ☐"), or None if it holds prose."""
    phrases = nz.choice_phrases(choices)
    folded = nz.fold(text)
    tokens: list[Token] = []
    last = 0
    for m in _label_pattern(tuple(phrases)).finditer(folded):
        if _LETTER_OR_DIGIT.search(folded[last : m.start()]):
            return None
        if m.group("label"):
            tokens.append(Token("L", phrases[" ".join(m.group("label").split())], index))
        else:
            tokens.append(Token("M", nz.is_tick(m.group("mark")), index, m.group("mark")))
        last = m.end()
    if _LETTER_OR_DIGIT.search(folded[last:]) or not any(t.kind == "L" for t in tokens):
        return None
    return tokens


def _cell_tokens(text: str, index: int, choices: Mapping[str, str]) -> list[Token]:
    """One cell as tokens: a box, a label (with marks typed beside it), several of them, or text."""
    stripped = text.strip()
    if not stripped:
        return [Token("M", False, index)]
    before, core, after = split_inline_marks(stripped)
    label = nz.choice_word(core, choices) if core else None
    if label:
        marks = [Token("M", m, index, "inline") for m in before]
        return [*marks, Token("L", label, index), *[Token("M", m, index, "inline") for m in after]]
    mark = nz.is_tick(stripped)
    if mark is not None:
        return [Token("M", mark, index, stripped)]
    scanned = _scan_cell(stripped, index, choices)
    return scanned if scanned is not None else [Token("T", stripped, index, stripped)]


def _is_choice_row(tokens: Sequence[Token]) -> bool:
    labels = [t for t in tokens if t.kind == "L"]
    marks = [t for t in tokens if t.kind == "M"]
    return len(labels) >= 2 or (len(labels) == 1 and bool(marks))


UNKNOWN = ""  # the "choice id" of text in a choice row that names no choice


def _unclear_cells(tokens: Sequence[Token]) -> list[Token]:
    """In a choice row, short text where a box should be is an unreadable mark; longer text an unknown label.

    Keeping the unknown label in place stops a tick beside it from being handed to a neighbour.
    """
    out: list[Token] = []
    for t in tokens:
        if t.kind == "T" and len(str(t.value)) <= 15:
            out.append(Token("M", None, t.cell, str(t.value)))
        elif t.kind == "T":
            out.append(Token("L", UNKNOWN, t.cell, str(t.value)))
        else:
            out.append(t)
    return out


def _assign_inline(tokens: Sequence[Token]) -> tuple[dict[str, list[Token]], list[Token]]:
    """Marks in the same cell as exactly one label belong to it; return them and the remaining tokens."""
    owned: dict[str, list[Token]] = {}
    rest: list[Token] = []
    by_cell: dict[int, list[Token]] = {}
    for t in tokens:
        by_cell.setdefault(t.cell, []).append(t)
    for cell_tokens in by_cell.values():
        labels = [t for t in cell_tokens if t.kind == "L"]
        if len(labels) == 1 and len(cell_tokens) > 1:
            owned.setdefault(str(labels[0].value), []).extend(t for t in cell_tokens if t.kind == "M")
            rest.append(labels[0])
        else:
            rest.extend(cell_tokens)
    return owned, rest


def _runs(tokens: Sequence[Token]) -> list[tuple[str, list[Token]]]:
    """Group consecutive tokens of the same kind: [("L", [agree]), ("M", [☐]), ...]."""
    runs: list[tuple[str, list[Token]]] = []
    for t in tokens:
        if runs and runs[-1][0] == t.kind:
            runs[-1][1].append(t)
        else:
            runs.append((t.kind, [t]))
    return runs


def _assign_positional(tokens: Sequence[Token]) -> tuple[dict[str, list[Token]], bool]:
    """Give each run of marks to its label by the row's shape: boxes after labels or before them.

    A run with a label on one side only goes to that label; between two labels it goes by the
    row's shape when the row alternates strictly, else a tick there is ambiguous.
    """
    runs = _runs(tokens)
    shape = "".join(kind for kind, _ in runs)
    after = bool(_BOXES_AFTER_LABELS.fullmatch(shape))
    before = bool(_BOXES_BEFORE_LABELS.fullmatch(shape))
    owned: dict[str, list[Token]] = {}
    ambiguous = False
    for i, (kind, run) in enumerate(runs):
        if kind != "M":
            continue
        prev_label = runs[i - 1][1][-1] if i > 0 else None
        next_label = runs[i + 1][1][0] if i + 1 < len(runs) else None
        if prev_label and (after or not next_label):
            owner = prev_label
        elif next_label and (before or not prev_label):
            owner = next_label
        else:
            ambiguous = ambiguous or any(t.value is not False for t in run)
            continue
        for label in (runs[i - 1][1] if owner is prev_label else runs[i + 1][1])[:1]:
            owned.setdefault(str(label.value), []).extend(run)
    return owned, ambiguous


def read_choice_row(row: Row, choices: Mapping[str, str]) -> ChoiceMarks | None:
    """The marks a row gives to a group of choices, or None when the row is not a row of these choices."""
    tokens = [t for i, cell in enumerate(row.cells) for t in _cell_tokens(cell, i, choices)]
    if not _is_choice_row(tokens):
        return None
    tokens = _unclear_cells(tokens)
    inline, rest = _assign_inline(tokens)
    positional, ambiguous = _assign_positional(rest)
    marks: dict[str, list[Mark]] = {str(t.value): [] for t in tokens if t.kind == "L" and t.value}
    unclear: list[tuple[str, str]] = []
    unknown_text = next((t.raw for t in tokens if t.kind == "L" and t.value == UNKNOWN), "")
    for source in (inline, positional):
        for cid, owned in source.items():
            if cid == UNKNOWN:
                unclear.extend((UNKNOWN, unknown_text) for t in owned if t.value is not False)
                continue
            marks.setdefault(cid, []).extend(t.value for t in owned)  # type: ignore[misc]
            unclear.extend((cid, t.raw) for t in owned if t.value is None)
    frozen = {cid: tuple(m) for cid, m in marks.items()}
    by_shape = not any(t.value is True for owned in inline.values() for t in owned)
    way = "mark by the row's shape" if by_shape else "mark in a label's cell"
    return ChoiceMarks(frozen, tuple(unclear), ambiguous, way)
