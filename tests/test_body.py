"""Answers written in the e-mail body: the respondent's own text, and whether it is a response."""

from __future__ import annotations

from parsers.body import body_document, body_text, html_to_text, looks_like_response, read_body, strip_quoted
from parsers.document import Paragraph
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.model import Answer

FORM = load_form(DEFAULT_FORM_PATH)

DISCLAIMER = (
    "This e-mail and any attachments are confidential and intended solely for the addressee. If you have\n"
    "received this e-mail in error please notify the sender."
)
MAILSHOT = "\n".join(
    [
        "-----Original Message-----",
        "From: Children's Trusts Consultation [mailto:consultation@example.gov.uk]",
        "Sent: 22 February 2008 10:12",
        "To: A Parent",
        "Subject: Consultation: Children's Trusts",
        "",
        "The questions are:",
        *(f"Q{q.number} {q.text} (Agree / Disagree / Not sure)" for q in FORM.questions),
    ]
)

RESPONSE = (
    """Hello,

Our response to the consultation is set out below.

Name - Mrs Ann Example
Email - ann@example.net
Category - Parent or carer
Please keep my response confidential - Yes
Reason - Our Board has not yet approved this response.

Question 1: not sure
Comment: Partly. The section is clear in itself.

Question 2: agree
Comment: Yes, we think so.

There is no requirement for schools to sit on the Board.

Question 6: Disagree

Question 7:
Comment: We are not sure about the Plan.
- Give examples of pooled budgets.

Happy to be contacted again - Yes

Best wishes,
Ann Example

"""
    + DISCLAIMER
)


def test_body_response_reads_every_field() -> None:
    got = read_body(RESPONSE + "\n\n" + MAILSHOT, None, FORM)
    assert got is not None and got.review_reasons == ()
    assert (got.source_kind, got.filename) == ("body", None)
    assert (got.respondent.name, got.respondent.email, got.respondent.category) == (
        "Mrs Ann Example",
        "ann@example.net",
        "parent",
    )
    assert (got.confidential, got.confidential_reason) == (True, "Our Board has not yet approved this response.")
    assert got.contact_again == "yes"
    assert got.answers["q1"] == Answer("not_sure", "Partly. The section is clear in itself.")
    assert got.answers["q2"] == Answer(
        "agree", "Yes, we think so.\nThere is no requirement for schools to sit on the Board."
    )
    assert got.answers["q6"] == Answer("disagree", "")
    assert got.answers["q7"] == Answer(None, "We are not sure about the Plan.\n- Give examples of pooled budgets.")
    assert got.answers["q8"] == Answer()


def test_html_body_gives_the_same_reading_as_plain_text() -> None:
    paragraphs = RESPONSE.split("\n\n")
    html = "<html><head><style>p {margin: 0}</style></head><body>" + "".join(
        "<p>" + p.replace("\n", "<br>\n") + "</p>\n" for p in paragraphs
    )
    html += "<blockquote type='cite'>Q1 Does the guidance ...? (Agree / Disagree / Not sure)</blockquote></body></html>"
    assert read_body(None, html, FORM) == read_body(RESPONSE, None, FORM)


def test_plain_text_is_preferred_to_html() -> None:
    assert body_text("plain words", "<p>html words</p>") == "plain words"
    assert body_text("  ", "<p>html words</p>") == "html words"


def test_html_to_text_keeps_breaks_and_drops_scripts() -> None:
    html = "<p>One<br>Two</p><script>alert(1)</script><div>Three &amp; four</div>"
    assert html_to_text(html) == "One\nTwo\n\nThree & four"


def test_quoted_lines_and_reply_headers_are_removed() -> None:
    text = "My answer.\n\nOn 3 March 2008, Consultation <c@example.gov.uk> wrote:\n> Question 1: Agree\n"
    assert strip_quoted(text) == "My answer."
    outlook = "Mine.\n\nFrom: Someone\nSent: 1 April 2008\nTo: Me\nSubject: Re: x\n\nQuestion 1: Agree"
    assert strip_quoted(outlook) == "Mine."


def test_signature_and_disclaimer_are_removed() -> None:
    assert strip_quoted("Text.\n-- \nJo Bloggs\nHead of Services") == "Text."
    assert strip_quoted("Text.\n\n" + DISCLAIMER) == "Text."
    assert strip_quoted("Text.\n\nDISCLAIMER: this message is confidential.") == "Text."


def test_body_document_has_one_paragraph_a_line() -> None:
    doc = body_document("Name: Jo\n\nQuestion 1: Agree")
    assert doc.blocks == (Paragraph("Name: Jo"), Paragraph(""), Paragraph("Question 1: Agree"))


def test_correspondence_is_not_a_response() -> None:
    text = body_text("Dear Sir,\n\nCould you send me the response form please?\n\nThanks,\nJo", None)
    assert not looks_like_response(text, FORM)
    assert read_body("Dear Sir,\n\nCould you send me the response form please?", None, FORM) is None


def test_a_remark_about_one_question_is_not_a_response() -> None:
    text = "Hello,\n\nQuestion 3: I could not find the annex it refers to. Where is it?\n\nJo"
    assert not looks_like_response(text, FORM)


def test_quoted_mailshot_alone_is_not_a_response() -> None:
    assert not looks_like_response(body_text("Please send me a copy.\n\n" + MAILSHOT, None), FORM)


def test_two_answers_make_a_response() -> None:
    assert looks_like_response("1. Agree\n2. Disagree - the Board is too big", FORM)
    assert looks_like_response("Name: Jo Bloggs\nQuestion 4: Agree", FORM)


def test_answers_typed_under_quoted_questions_are_read() -> None:
    quoted = "\n".join(f"> Q{q.number} {q.text} (Agree / Disagree / Not sure)\n" for q in FORM.questions[:3])
    lines = quoted.split("\n")
    reply = "\n".join([lines[0], "Agree", lines[2], "Disagree", lines[4], "Not sure"])
    text = body_text("My answers are below.\n\nOn 22 Feb 2008, Consultation wrote:\n" + reply, None)
    got = read_body(text, None, FORM)
    assert got is not None and got.review_reasons == ()
    assert [got.answers[q].choice for q in ("q1", "q2", "q3")] == ["agree", "disagree", "not_sure"]


def test_reply_header_wrapped_over_two_lines_is_cut() -> None:
    text = (
        "Question 1: Agree\nQuestion 2: Agree\n\n"
        "On Tue, 4 Mar 2008 at 10:00, Children's Trusts Consultation <\nc@example.gov.uk> wrote:\nQuestion 3: Disagree"
    )
    assert strip_quoted(text) == "Question 1: Agree\nQuestion 2: Agree"
