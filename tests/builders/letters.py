"""Letters and retyped forms written the way people write them, with what a correct reading is.

Nothing here comes from the form definition the reader uses: the texts are written out by hand,
in the styles respondents use (numbered or not, with or without headings, the questions copied or
not, a letterhead, a capacity stated in prose, a sign-off), so a test of them is not the reader
agreeing with its own builder. Each `Case` carries its text and the expected export record of the
response (status, respondent, answers), and whether a person must look (`needs_review`).
"""

from __future__ import annotations

import dataclasses
import io
import re
from dataclasses import dataclass, field

from docx import Document as WordDocument

Q = {
    1: "Does the guidance make clear the new leadership role for Children's Trusts in every area, as set out in "
    "the Children's Plan?",
    2: "Do you agree that every Children's Trust should be led by a Children's Trust Board on which all "
    "statutory partners are represented?",
    3: "Does the guidance set out clearly how schools can become more active partners within the Children's Trust?",
    4: "Does the guidance give enough weight to involving and empowering parents, children and young people?",
    5: "Does the guidance give a strong enough focus to prevention and early intervention?",
    6: "Will the guidance help Children's Trusts to narrow the gap in outcomes between disadvantaged children "
    "and their peers?",
    7: "Is the guidance on joint planning and commissioning, including the Children and Young People's Plan and "
    "pooled budgets, helpful?",
    8: "Do you have any other comments on the guidance?",
}
LABEL = {"agree": "Agree", "disagree": "Disagree", "not_sure": "Not sure"}
_ORGANISATION_NOUN = re.compile(r"\b(?:School|Trust|Council|Charity|Association|Union|Service|Forum|Team)\b")


@dataclass(frozen=True)
class Case:
    name: str  # the style, e.g. "letter-number-alone"
    text: str  # paragraphs separated by blank lines, lines by "\n"
    expected: dict  # the export record of the response (shared/EXPORT.md shape, without source)
    needs_review: bool = False
    why: str = ""  # what the review reason must be about, when needs_review


@dataclass(frozen=True)
class Person:
    name: str | None
    organisation: str | None
    address: tuple[str, ...] | None
    category: str | None
    answers: dict[int, tuple[str | None, str]] = field(default_factory=dict)  # number -> (choice, comment)


PEOPLE = (
    Person(
        "Mrs Helen Okafor",
        None,
        ("14 Beech Road", "Marlow Green", "MG3 8TL"),
        "parent",
        {
            1: ("agree", "The leadership role is set out plainly in the opening chapter."),
            3: (
                "disagree",
                "Schools are described as partners but nothing says how a small primary school can "
                "take part.\nOur head teacher has never been invited to a Trust meeting.",
            ),
            4: ("agree", ""),
            8: (None, "Please publish a short version of the guidance for parents."),
        },
    ),
    Person(
        "Dr Rajesh Mehta",
        "Northshire Primary Care Trust",
        None,
        "health",
        {
            2: ("agree", "Health must be at the table from the start, and the Board is the right place for that."),
            5: ("not_sure", "Prevention is welcomed, but the guidance does not say who pays for it."),
            6: ("disagree", "Narrowing the gap needs money as well as guidance."),
            7: ("agree", "The section on pooled budgets will save our commissioners a great deal of time."),
        },
    ),
    Person(
        "Sam Patel",
        "Eastbury Family Support",
        ("Unit 4, Riverside Works", "Eastbury", "EB2 5QD"),
        "voluntary",
        {
            1: ("not_sure", "It is clear for councils but not for the voluntary sector."),
            4: (
                "disagree",
                "Families we work with are rarely asked what they think.\nThe guidance should set "
                "out how small charities can bring their voices to the Board.",
            ),
            5: ("agree", "The emphasis on early help is very welcome."),
            8: (None, "We would be glad to share our experience of running parents' forums."),
        },
    ),
    Person(
        "Mr Tom Hargreaves",
        "St Aidan's Church of England Primary School",
        None,
        "school",
        {
            3: ("agree", "The section on extended schools is helpful."),
            6: ("not_sure", "It depends on whether schools are funded for the extra work."),
            8: (None, "Governors should be named as partners alongside head teachers."),
        },
    ),
)


SURNAMES = (
    "Okafor",
    "Mehta",
    "Patel",
    "Hargreaves",
    "Lindqvist",
    "Adeyemi",
    "Brennan",
    "Castellano",
    "Nowak",
    "Fairweather",
    "Kowalczyk",
    "Ó Briain",
    "Thistlethwaite",
    "Abernethy",
    "Szabó",
    "Quigley",
)


def _renamed(person: Person, k: int, i: int) -> Person:
    """The same person under another surname, so that each message is a different respondent's."""
    if not person.name:
        return person
    surname = SURNAMES[(i * 3 + k) % len(SURNAMES)] + "-" + SURNAMES[(k + i) % len(SURNAMES)]
    words = person.name.split()
    return dataclasses.replace(person, name=" ".join([*words[:-1], surname]))


def _truth(
    person: Person,
    *,
    name: bool = True,
    organisation: bool = True,
    address: bool = True,
    category: bool = True,
    numbers: tuple[int, ...] | None = None,
) -> dict:
    wanted = person.answers if numbers is None else {n: person.answers[n] for n in numbers}
    answers = {f"q{n}": {"choice": None, "comment": ""} for n in range(1, 9)}
    for n, (choice, comment) in wanted.items():
        answers[f"q{n}"] = {"choice": choice, "comment": comment}
    return {
        "respondent": {
            "name": person.name if name else None,
            "organisation": person.organisation if organisation else None,
            "address": "\n".join(person.address) if person.address and address else None,
            "email": None,
            "category": person.category if category else None,
            "category_other": None,
        },
        "confidential": False,
        "confidential_reason": None,
        "acknowledge": False,
        "contact_again": None,
        "answers": answers,
        "text": None,
    }


CAPACITY = {
    "parent": "I am writing as a parent of two children at our local primary school.",
    "health": "I am responding on behalf of Northshire Primary Care Trust.",
    "voluntary": "We write as a small charity working with families in Eastbury.",
    "school": "I write on behalf of the governing body of our school.",
}


def _answer_paragraphs(choice: str | None, comment: str, style: str) -> list[str]:
    """An answer as people write it: the choice first in a sentence, or alone, then the comment."""
    paragraphs = comment.split("\n") if comment else []
    if choice is None:
        return paragraphs
    label = LABEL[choice]
    if style == "dash" and paragraphs:
        return [f"{label} - {paragraphs[0]}", *paragraphs[1:]]
    if style == "sentence" and paragraphs:
        return [f"{label}. {paragraphs[0]}", *paragraphs[1:]]
    return [label, *paragraphs]


def _signature(person: Person, closing: str, title: str | None) -> list[str]:
    lines = [closing, "", person.name or ""]
    if title and person.organisation:
        lines.append(f"{title}, {person.organisation}")
    elif person.organisation:
        lines.append(person.organisation)
    return lines


def _letterhead(person: Person) -> list[str]:
    head: list[str] = []
    if person.address:
        head += [*person.address, ""]
    head += ["16 April 2008", ""]
    head += [
        "Consultation Unit",
        "Department for Children, Schools and Families",
        "Area 1B, Castle View House",
        "East Lane",
        "Runcorn",
        "WA7 2GJ",
        "",
    ]
    return head


def _body_of(person: Person, heading, style: str) -> list[str]:
    """The answers under their headings; a heading ending in a space takes the answer on its line."""
    out: list[str] = []
    for n, (choice, comment) in person.answers.items():
        head = heading(n)
        paragraphs = _answer_paragraphs(choice, comment, style)
        if head.endswith(" "):
            out += [head + paragraphs[0], *paragraphs[1:], ""]
        else:
            out += [head, *paragraphs, ""]
    return out


def _join(lines: list[str]) -> str:
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def letter_cases(k: int = 0) -> list[Case]:
    """Letters around answers: one style per person and heading kind, each with its expected reading."""
    cases: list[Case] = []
    headings = {
        "number-alone": (lambda n: f"{n}.", "sentence"),
        "number-wording": (lambda n: f"{n}. {Q[n]}", "alone"),
        "question-heading": (lambda n: f"Question {n}", "dash"),
        "q-colon-inline": (lambda n: f"Q{n}: ", "alone"),
        "wording-alone": (lambda n: Q[n], "sentence"),
    }
    closings = ("Yours faithfully,", "Yours sincerely", "Kind regards,", "With best wishes")
    titles = (None, "Director", "Chair of Governors", "Head of Policy")
    for i, original in enumerate(PEOPLE):
        for j, (style, (heading, answer_style)) in enumerate(headings.items()):
            person = _renamed(original, k, i * 7 + j)
            closing = closings[(i + j) % len(closings)]
            lines = [
                *_letterhead(person),
                "Dear Sir or Madam,",
                "",
                "Response to the Children's Trusts consultation",
                "",
                CAPACITY[person.category or "parent"],
                "",
                "Our comments on the questions are set out below.",
                "",
                *_body_of(person, heading, answer_style),
                "We hope these comments are helpful.",
                "",
                *_signature(person, closing, titles[(i + j) % len(titles)]),
            ]
            title = titles[(i + j) % len(titles)]
            # A line under the name with no title before it and no word such as Trust or School in it
            # could be a job title as well as an organisation: a person confirms it.
            unsure = (
                title is None and person.organisation is not None and not _ORGANISATION_NOUN.search(person.organisation)
            )
            case = Case(f"letter-{style}", _join(lines), _truth(person), unsure, "signature" if unsure else "")
            cases.append(case)
    return cases


def email_cases(k: int = 0) -> list[Case]:
    """Answers typed into the e-mail, as people write them, without a letterhead."""
    cases: list[Case] = []
    p = _renamed(PEOPLE[0], k, 40)
    lines = ["Hello,", "", "Thank you.", "", "I am writing as a parent.", ""]
    for n, (choice, comment) in p.answers.items():
        lines += [
            f"Question {n} - {LABEL[choice] if choice else ''}".rstrip(" -"),
            *(comment.split("\n") if comment else []),
            "",
        ]
    signed = " ".join(str(p.name).split()[1:])
    lines += ["Regards", signed]
    cases.append(Case("email-thank-you-first", _join(lines), _truth(p, name=False, address=False)))
    cases[-1].expected["respondent"]["name"] = signed
    # An answer that begins by echoing the question's wording keeps that line.
    p = _renamed(PEOPLE[1], k, 41)
    lines = ["Dear colleagues,", "", CAPACITY["health"], ""]
    echoes = {
        2: "Every Children's Trust should be led by a Children's Trust Board on which all statutory partners are "
        "represented.",
        5: "The guidance gives a strong enough focus to prevention and early intervention.",
    }
    expected = _truth(p, address=False)
    for n, (choice, comment) in p.answers.items():
        lines += [f"Question {n}: {LABEL[choice]}" if choice else f"Question {n}"]
        if n in echoes:
            lines.append(echoes[n])
            expected["answers"][f"q{n}"]["comment"] = echoes[n] + "\n" + comment
        lines += [comment, ""]
    lines += ["Yours sincerely,", str(p.name), "Director of Public Health"]
    cases.append(Case("email-echoes-question", _join(lines), expected))
    return cases


def review_cases(k: int = 0) -> list[Case]:
    """Letters a person must read: what the reader cannot be sure of must not be filed."""
    p = _renamed(PEOPLE[2], k, 42)
    cases: list[Case] = []
    two = ["Dear Sir or Madam,", "", "I write as a parent and as a governor of our school.", ""]
    two += [f"{n}.\n{LABEL[c] if c else 'Comment'}\n{t}\n" for n, (c, t) in p.answers.items()]
    two += ["Yours faithfully,", str(p.name)]
    cases.append(
        Case(
            "letter-two-capacities",
            _join(two),
            _truth(p, organisation=False, address=False, category=False),
            True,
            "category",
        )
    )
    topics = [
        "Dear Sir,",
        "",
        CAPACITY["voluntary"],
        "",
        "On leadership:",
        p.answers[1][1],
        "",
        "On involving parents:",
        p.answers[4][1],
        "",
        "Prevention:",
        p.answers[5][1],
        "",
        "Yours faithfully,",
        str(p.name),
    ]
    truth = _truth(p, organisation=False, address=False)
    for n in (1, 4, 5):
        truth["answers"][f"q{n}"]["choice"] = None
    truth["answers"]["q8"] = {"choice": None, "comment": ""}
    cases.append(Case("letter-topic-headings", _join(topics), truth, True, "heading"))
    points = [
        "Dear Sir,",
        "",
        "1. The guidance is far too long for busy practitioners.",
        "",
        "2. It says nothing about rural areas.",
        "",
        "Yours faithfully,",
        str(p.name),
    ]
    # Points or answers? Read as answers to questions 1 and 2, for a person to confirm.
    truth = _truth(p, organisation=False, address=False, category=False, numbers=())
    truth["answers"]["q1"]["comment"] = "The guidance is far too long for busy practitioners."
    truth["answers"]["q2"]["comment"] = "It says nothing about rural areas."
    cases.append(Case("letter-numbered-points", _join(points), truth, True, "numbered"))
    unplaced = [
        "Dear Sir,",
        "",
        CAPACITY["voluntary"],
        "",
        "We have read the guidance with our trustees and discussed it at two meetings with the families "
        "we support, who told us that the Board feels remote from them and that nobody has explained "
        "what it is for or how they can raise concerns with it.",
        "",
        "Question 5",
        "Agree",
        p.answers[5][1],
        "",
        "Question 8",
        p.answers[8][1],
        "",
        "Yours faithfully,",
        str(p.name),
    ]
    cases.append(
        Case(
            "letter-unplaced-paragraph",
            _join(unplaced),
            _truth(p, organisation=False, address=False, numbers=(5, 8)),
            True,
            "before the first answer",
        )
    )
    runs = [
        "Question 1: Not sure",
        p.answers[1][1],
        "",
        "Funding And Resources",
        "Nobody has said who pays.",
        "",
        "Question 4: Disagree",
        "Families we work with are rarely asked.",
        "",
        "Kind regards,",
        str(p.name),
    ]
    truth = _truth(p, organisation=False, address=False, category=False, numbers=(1,))
    truth["answers"]["q1"]["comment"] += "\nFunding And Resources\nNobody has said who pays."
    truth["answers"]["q4"] = {"choice": "disagree", "comment": "Families we work with are rarely asked."}
    cases.append(Case("email-unknown-heading", _join(runs), truth, True, "heading"))
    return cases


def retyped_cases(k: int = 0) -> list[Case]:
    """The form's questions retyped into a reply, in the spellings people use."""
    cases: list[Case] = []
    p = _renamed(PEOPLE[3], k, 43)
    styles = {
        "labels-colon": (
            "Name: {name}",
            "Organisation: {org}",
            "Category: School or college",
            lambda n: f"Question {n}: {{label}}",
            "Comments: {first}",
        ),
        "labels-dash": (
            "Name - {name}",
            "Organisation - {org}",
            "Respondent type - School",
            lambda n: f"Q{n} - {{label}}",
            "{first}",
        ),
        "numbered-wording": (
            "Your name: {name}",
            "Organisation (if applicable): {org}",
            "Capacity: School or college",
            lambda n: f"{n}) {Q[n]}\n{{label}}",
            "{first}",
        ),
    }
    for n_style, (style, (name_l, org_l, cat_l, head, first_l)) in enumerate(styles.items()):
        p = _renamed(PEOPLE[3], k + 1, 44 + n_style)
        lines = [
            "Please find my response below.",
            "",
            name_l.format(name=p.name),
            org_l.format(org=p.organisation),
            cat_l,
            "",
        ]
        for n, (choice, comment) in p.answers.items():
            paragraphs = comment.split("\n")
            lines.append(head(n).format(label=LABEL[choice] if choice else "").rstrip(" -:"))
            lines += [first_l.format(first=paragraphs[0]), *paragraphs[1:], ""]
        lines += ["Thanks,", "Tom"]
        cases.append(Case(f"retyped-{style}", _join(lines), _truth(p, address=False)))
    return cases


def all_cases(k: int = 0) -> list[Case]:
    """Every case; `k` renames the respondents, so each channel of a corpus has its own people."""
    return [*letter_cases(k), *email_cases(k), *review_cases(k), *retyped_cases(k)]


def word_letter(text: str) -> bytes:
    """The letter typed into Word (python-docx, not the project's form builder): a paragraph a line."""
    doc = WordDocument()
    for line in text.split("\n"):
        if line.strip():
            doc.add_paragraph(line)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
