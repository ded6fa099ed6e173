"""Sequence definitions: models, YAML loading, and every problem reported at its line."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from sequences.definition_loading import (
    DefinitionError,
    find_overlaps,
    load_directory,
    load_sequence_text,
    sequence_to_yaml,
    validate_directory,
    validate_text,
)
from sequences.definitions import ExitEvent, Kind, Problem, SendChannel, Sequence, Step, Trigger
from sequences.templates import LIBRARY_TEMPLATES
from storage.models.enums import SequenceKind

VALID = """\
name: test-past-due
kind: past_due
trigger: invoice_overdue
exit_on: [paid, disputed]
send_window: {days: mon-fri, from: "08:30", to: 17:00}
steps:
  - at: due+1d
    send: email
    template: past_due_gentle
  - at: due+7d
    send: preferred
    template: past_due_firm
    variants: [past_due_firm, past_due_firm_short]
  - at: due+10d
    task: "Call {{ customer.name }}"
  - at: due+14d
    send: telegram
    body: |
      Hello {{ customer.name }},
      please pay {{ total | money }}.
    repeat: {every: 5bd, times: 3}
  - at: due+30d
    escalate: [owner, managers, U024BE7LH]
"""


def line_of(text: str, fragment: str, nth: int = 1) -> int:
    """The 1-based line of the nth line containing `fragment`."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    return hits[nth - 1]


def only_problem(text: str) -> Problem:
    problems = validate_text(text, "test.yml")
    assert len(problems) == 1, problems
    return problems[0]


def test_a_valid_definition_loads_with_its_defaults_and_data() -> None:
    seq = load_sequence_text(VALID, "test.yml")
    assert validate_text(VALID) == []
    assert (seq.kind, seq.trigger, seq.target) == (
        Kind.PAST_DUE,
        Trigger.INVOICE_OVERDUE,
        "invoice",
    )
    assert seq.exit_on == (ExitEvent.PAID, ExitEvent.DISPUTED) and seq.active
    assert seq.send_window.from_ == time(8, 30) and seq.send_window.to == time(17)
    assert seq.send_window.weekdays == frozenset(range(5))
    assert seq.steps[1].variants == ("past_due_firm", "past_due_firm_short")
    assert seq.steps[3].send == SendChannel.TELEGRAM and seq.steps[3].repeat.times == 3  # type: ignore[union-attr]
    assert seq.steps[4].escalate == ("owner", "managers", "U024BE7LH")


def test_models_are_frozen() -> None:
    seq = load_sequence_text(VALID)
    with pytest.raises(ValidationError):
        seq.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        seq.steps[0].at = "due+2d"  # type: ignore[misc]


def test_kinds_match_the_stored_sequence_kinds() -> None:
    assert {k.value for k in Kind} == {k.value for k in SequenceKind}


def test_yaml_syntax_error_is_reported_at_its_line() -> None:
    text = VALID.replace("    template: past_due_gentle", "    template: [past_due_gentle")
    problem = only_problem(text)
    assert problem.line == line_of(text, "[past_due_gentle") + 1  # where the parser choked
    assert problem.message == (
        "YAML syntax error: expected ',' or ']', but got ':' "
        f"(while parsing a flow sequence on line {line_of(text, '[past_due_gentle')})"
    )
    assert only_problem("name: x\n  kind: a\n").line == 2


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert "YAML mapping" in only_problem("- just\n- a list\n").message
    assert only_problem("").line == 1


@pytest.mark.parametrize(
    ("typo", "fixed", "hint"),
    [
        ("    template: past_due_gentle", "    tempalte: past_due_gentle", "'template'"),
        ("exit_on:", "exit_onn:", "'exit_on'"),
        ("{every: 5bd, times: 3}", "{every: 5bd, time: 3}", "'times'"),
        ('from: "08:30"', 'form: "08:30"', "'from'"),
    ],
)
def test_unknown_key_is_reported_at_its_line_with_a_suggestion(
    typo: str, fixed: str, hint: str
) -> None:
    text = VALID.replace(typo, fixed)
    problems = validate_text(text)
    unknown = next(p for p in problems if "unknown key" in p.message)
    assert unknown.line == line_of(text, fixed.strip().split(":")[0].strip("{"))
    assert f"did you mean {hint}" in unknown.hint


def test_unknown_enum_value_suggests_the_closest() -> None:
    text = VALID.replace("kind: past_due", "kind: past-due")
    problem = only_problem(text)
    assert problem.line == 2 and "did you mean 'past_due'" in problem.hint


@pytest.mark.parametrize("offset", ["due+7w", "due 7d", "paid+1d", "due+d", "due+1.5d", "+3d"])
def test_bad_offset_is_reported_at_its_line(offset: str) -> None:
    text = VALID.replace("at: due+7d", f"at: '{offset}'")
    problem = only_problem(text)
    assert problem.line == line_of(text, offset)
    assert "bad offset" in problem.message and "due+7d" in problem.hint


def test_an_offset_that_is_not_text_is_a_bad_offset() -> None:
    text = VALID.replace("at: due+7d", "at: 7")
    assert only_problem(text).message == "steps.1.at: bad offset '7'"


def test_unreadable_text_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problem = only_problem("kind: past_due\nname: a\x00b\n")
    assert problem.line == 2 and "YAML syntax error: special characters" in problem.message
    (tmp_path / "latin1.yml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert validate_directory(tmp_path)[0].message == "not UTF-8 text"


def test_offsets_on_every_anchor_are_accepted() -> None:
    text = VALID.replace("at: due+1d", "at: issued").replace("at: due+7d", "at: start+2bd")
    assert validate_text(text) == []


def test_missing_name_is_reported() -> None:
    text = VALID.replace("name: test-past-due\n", "")
    problem = only_problem(text)
    assert problem.message == "missing key 'name'" and "unique name" in problem.hint


def test_bad_name_is_reported_at_its_line() -> None:
    assert only_problem(VALID.replace("test-past-due", "Test Past Due")).line == 1


def test_duplicate_key_is_reported_at_the_second_one() -> None:
    text = VALID.replace("kind: past_due\n", "kind: past_due\nname: again\n")
    problem = only_problem(text)
    assert problem.line == 3 and problem.message == "duplicate key 'name'"


def test_duplicate_sequence_names_in_a_directory_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(VALID)
    (tmp_path / "b.yml").write_text(VALID.replace("trigger: invoice_overdue", "trigger: manual"))
    problems = validate_directory(tmp_path)
    assert len(problems) == 1
    assert problems[0].source.endswith("b.yml") and problems[0].line == 1
    assert "already used by a.yml" in problems[0].message
    with pytest.raises(DefinitionError, match="already used"):
        load_directory(tmp_path)


def test_step_with_two_actions_is_reported_at_the_step() -> None:
    text = VALID.replace('    task: "Call', '    escalate: managers\n    task: "Call')
    problem = only_problem(text)
    assert problem.line == line_of(text, "at: due+10d")
    assert "exactly one action (found task and escalate)" in problem.message


def test_step_with_no_action_is_reported_at_the_step() -> None:
    text = VALID.replace('    task: "Call {{ customer.name }}"\n', "")
    problem = only_problem(text)
    assert problem.line == line_of(text, "at: due+10d")
    assert "found none" in problem.message


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("    task: x\n    template: past_due_gentle\n", "'template' belongs to a send step"),
        ("    send: email\n    body: Hi\n", "an inline email needs a subject"),
        ("    send: email\n", "needs a template or an inline body"),
        (
            "    send: email\n    template: past_due_gentle\n    body: Hi\n",
            "a template or an inline subject/body, not both",
        ),
        (
            "    send: email\n    template: past_due_gentle\n    variants: [past_due_gentle]\n",
            "two different template names",
        ),
    ],
)
def test_send_step_shape_is_checked(step: str, message: str) -> None:
    text = VALID + "  - at: due+40d\n" + step
    problem = only_problem(text)
    assert problem.line == line_of(text, "due+40d") and message in problem.message


def test_inline_telegram_message_needs_no_subject() -> None:
    assert validate_text(VALID + "  - at: due+40d\n    send: telegram\n    body: Hi\n") == []


def test_template_not_found_is_reported_with_a_suggestion() -> None:
    text = VALID.replace("template: past_due_gentle", "template: past_due_gentel")
    problem = only_problem(text)
    assert problem.line == line_of(text, "past_due_gentel")
    assert problem.message == "template 'past_due_gentel' not found"
    assert "did you mean 'past_due_gentle'" in problem.hint


def test_unknown_variant_template_is_reported_at_its_line() -> None:
    text = VALID.replace("past_due_firm_short]", "past_due_firm_shrt]")
    problem = only_problem(text)
    assert problem.line == line_of(text, "variants:")
    assert "variant template 'past_due_firm_shrt' not found" in problem.message


def _write_template(folder: Path, name: str, body: str, subject: str = "Hi") -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.subject.txt").write_text(subject)
    (folder / f"{name}.body.txt").write_text(body)


def test_templates_beside_the_definition_file_are_found_first(tmp_path: Path) -> None:
    _write_template(tmp_path / "templates", "our_nudge", "Hello {{ customer.name }}")
    text = VALID.replace("template: past_due_gentle", "template: our_nudge")
    (tmp_path / "ours.yml").write_text(text)
    assert validate_directory(tmp_path) == []
    assert validate_text(text)[0].message == "template 'our_nudge' not found"
    assert validate_text(text, template_dirs=[tmp_path / "templates", LIBRARY_TEMPLATES]) == []


def test_template_that_does_not_compile_is_reported_with_its_own_line(tmp_path: Path) -> None:
    body = "Hello {{ customer.name }},\n\nplease pay {{ total | money }\n"
    _write_template(tmp_path / "templates", "past_due_gentle", body)
    text = VALID
    (tmp_path / "seq.yml").write_text(text)
    problems = validate_directory(tmp_path)
    assert len(problems) == 1
    assert problems[0].line == line_of(text, "template: past_due_gentle")
    assert "past_due_gentle.body.txt, line 3" in problems[0].message


def test_local_template_without_subject_is_reported_for_email(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "past_due_gentle.body.txt").write_text("Hi")
    (tmp_path / "seq.yml").write_text(VALID)
    [problem] = validate_directory(tmp_path)
    assert "has no past_due_gentle.subject.txt" in problem.message


def test_inline_body_that_does_not_compile_is_reported_at_its_own_yaml_line() -> None:
    text = VALID.replace("please pay {{ total | money }}.", "please pay {{ total | money }.")
    problem = only_problem(text)
    assert problem.line == line_of(text, "please pay")
    assert problem.message.startswith("body does not compile")


def test_task_with_an_unknown_variable_is_refused_with_a_suggestion() -> None:
    text = VALID.replace('task: "Call {{ customer.name }}"', 'task: "Call {{ custmer.name }}"')
    problem = only_problem(text)
    assert problem.line == line_of(text, "custmer")
    assert "unknown variable 'custmer'" in problem.message and "'customer'" in problem.hint


def test_steps_out_of_order_on_one_anchor_are_reported() -> None:
    text = VALID.replace("at: due+10d", "at: due+5d")
    problem = only_problem(text)
    assert problem.line == line_of(text, "due+5d")
    assert "out of order: due+5d comes after due+7d" in problem.message


def test_step_order_mixes_days_and_business_days_by_their_shortest_span() -> None:
    assert validate_text(VALID.replace("at: due+10d", "at: due+5bd")) == []  # 5bd >= 7d
    assert validate_text(VALID.replace("at: due+10d", "at: due+4bd"))  # 4bd may be 4 days


def test_steps_on_different_anchors_are_not_compared() -> None:
    assert validate_text(VALID.replace("at: due+7d", "at: issued+40d")) == []


def test_repeat_without_a_bound_is_reported() -> None:
    text = VALID.replace("{every: 5bd, times: 3}", "{every: 5bd}")
    problem = only_problem(text)
    assert problem.line == line_of(text, "repeat:")
    assert problem.message == "missing key 'times' in steps.3.repeat"
    assert "must end" in problem.hint


@pytest.mark.parametrize("repeat", ["{every: 5bd, times: 0}", "{every: 5bd, times: 51}"])
def test_repeat_times_is_bounded(repeat: str) -> None:
    text = VALID.replace("{every: 5bd, times: 3}", repeat)
    assert only_problem(text).line == line_of(text, "repeat:")


def test_repeat_interval_must_be_positive() -> None:
    text = VALID.replace("{every: 5bd, times: 3}", "{every: 0d, times: 3}")
    assert "bad interval" in only_problem(text).message


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ('{days: mon-fri, from: "17:00", to: "09:00"}', "'from' must be before 'to'"),
        ('{days: mon-fry, from: "09:00", to: "17:00"}', "bad days"),
        ('{days: mon-fri, from: "9am", to: "17:00"}', "bad time"),
    ],
)
def test_send_window_is_checked(window: str, message: str) -> None:
    text = VALID.replace('{days: mon-fri, from: "08:30", to: 17:00}', window)
    problem = only_problem(text)
    assert problem.line == line_of(text, "send_window") and message in problem.message


def test_send_window_days_may_wrap_around_the_week() -> None:
    text = VALID.replace("days: mon-fri", "days: sun-thu")
    assert load_sequence_text(text).send_window.weekdays == {6, 0, 1, 2, 3}
    text = VALID.replace("days: mon-fri", 'days: "mon,wed,fri"')
    assert load_sequence_text(text).send_window.weekdays == {0, 2, 4}


def test_escalation_targets_are_levels_or_slack_ids() -> None:
    text = VALID.replace("[owner, managers, U024BE7LH]", "[owner, manager]")
    problem = only_problem(text)
    assert problem.line == line_of(text, "escalate")
    assert "unknown escalation target 'manager'" in problem.message
    assert "did you mean 'managers'" in problem.hint
    assert validate_text(VALID.replace("[owner, managers, U024BE7LH]", "S0614TZR7")) == []


def test_trigger_must_fit_the_kind() -> None:
    text = VALID.replace("trigger: invoice_overdue", "trigger: customer_created")
    problem = only_problem(text)
    assert problem.line == 3
    assert problem.message == (
        "a past_due sequence runs per invoice: it cannot start on customer_created"
    )
    assert problem.hint == "use invoice_created or invoice_overdue or manual"


def test_anchor_must_exist_for_the_target() -> None:
    text = VALID.replace("at: due+1d", "at: opened+1d")
    problem = only_problem(text)
    assert problem.line == line_of(text, "opened+1d")
    assert problem.message == "a past_due sequence has no 'opened' date (it runs per invoice)"
    text = VALID.replace("kind: past_due", "kind: onboarding").replace("invoice_overdue", "manual")
    problems = validate_text(text)
    assert problems[0].message.startswith("an onboarding sequence has no 'due' date")


def test_checklist_and_resolved_belong_to_their_kinds() -> None:
    text = VALID.replace(
        "    template: past_due_gentle\n", "    template: past_due_gentle\n    checklist: [x]\n"
    )
    assert "checklist is for onboarding" in only_problem(text).message
    text = VALID.replace("exit_on: [paid, disputed]", "exit_on: [paid, resolved]")
    assert only_problem(text).line == line_of(text, "exit_on")


def test_every_problem_is_reported_at_once() -> None:
    text = VALID.replace("at: due+1d", "at: due+1x").replace("tas" + "k:", "tsk:")
    lines = [p.line for p in validate_text(text)]
    assert lines == sorted(lines) and len(lines) >= 2


def test_a_refused_step_is_not_also_reported_as_no_steps_at_all() -> None:
    problem = only_problem(VALID.replace("at: due+1d", "at: due+1x"))
    assert problem.line == line_of(VALID, "due+1d") and "bad offset" in problem.message
    assert "at least 1 item" in only_problem(VALID.split("steps:")[0] + "steps: []\n").message


def test_load_sequence_text_raises_with_every_problem() -> None:
    text = VALID.replace("test-past-due", "Bad Name")
    with pytest.raises(DefinitionError) as caught:
        load_sequence_text(text, "seq.yml")
    assert caught.value.problems[0].line == 1
    assert str(caught.value).startswith("seq.yml:1: name")


def _invoice_sequence(name: str, trigger: str = "invoice_overdue", active: bool = True) -> str:
    text = VALID.replace("test-past-due", name).replace("invoice_overdue", trigger)
    return text.replace("exit_on:", f"active: {str(active).lower()}\nexit_on:")


def test_two_active_sequences_on_one_trigger_overlap() -> None:
    first = load_sequence_text(_invoice_sequence("first"), "first.yml")
    second = load_sequence_text(_invoice_sequence("second"), "second.yml")
    [problem] = find_overlaps([first, second])
    assert problem.source == "second.yml" and problem.line == 3
    assert "'first' and 'second' both start on invoice_overdue" in problem.message
    assert "same invoice" in problem.message


def test_inactive_manual_or_other_trigger_sequences_do_not_overlap() -> None:
    first = load_sequence_text(_invoice_sequence("first"))
    for other in (
        _invoice_sequence("second", active=False),
        _invoice_sequence("second", trigger="manual"),
        _invoice_sequence("second", trigger="invoice_created"),
    ):
        assert find_overlaps([first, load_sequence_text(other)]) == []
    manual = load_sequence_text(_invoice_sequence("m1", trigger="manual"))
    assert find_overlaps([manual, load_sequence_text(_invoice_sequence("m2", "manual"))]) == []


def test_overlaps_refuse_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(_invoice_sequence("a"))
    (tmp_path / "b.yaml").write_text(_invoice_sequence("b"))
    with pytest.raises(DefinitionError, match="both start on invoice_overdue"):
        load_directory(tmp_path)
    (tmp_path / "b.yaml").write_text(_invoice_sequence("b", active=False))
    assert [s.name for s in load_directory(tmp_path)] == ["a", "b"]


def test_sequence_to_yaml_round_trips() -> None:
    seq = load_sequence_text(VALID)
    text = sequence_to_yaml(seq)
    assert load_sequence_text(text) == seq
    assert "send_window: {days: mon-fri, from: '08:30', to: '17:00'}" in text
    assert "body: |" in text and "repeat: {every: 5bd, times: 3}" in text


def test_models_built_in_python_dump_to_loadable_yaml() -> None:
    seq = Sequence(
        name="by-hand",
        kind=Kind.DISPUTES,
        trigger=Trigger.DISPUTE_OPENED,
        steps=(Step(at="opened", escalate="team"), Step(at="opened+1bd", escalate=("managers",))),
    )
    text = sequence_to_yaml(seq)
    assert "escalate: team" in text and "send_window" not in text
    assert load_sequence_text(text) == seq


EVERYTHING_WRONG = """\
name: all-at-once
kind: past_due
trigger: invoice_overdue
colour: red
steps:
  - at: due+1x
    send: email
    template: past_due_gentle
  - at: due+7d
    send: email
    template: past_due_gentel
  - at: due+5d
    send: email
    subject: "Reminder {{ customer.__class__ }}"
    body: "Hello {{ customer.name }"
    repeat: {every: 5d}
  - at: due+9d
    task: "Call {{ customer.name }}"
    size: big
"""


def test_structural_and_step_problems_are_reported_together_each_at_its_line() -> None:
    text = EVERYTHING_WRONG
    got = [(p.line, p.message) for p in validate_text(text, "all.yml")]
    expected = [
        (line_of(text, "colour"), "unknown key 'colour'"),
        (line_of(text, "due+1x"), "steps.0.at: bad offset 'due+1x'"),
        (line_of(text, "past_due_gentel"), "template 'past_due_gentel' not found"),
        (line_of(text, "due+5d"), "steps out of order: due+5d comes after due+7d"),
        (line_of(text, "__class__"), "subject does not compile: '__class__' is not allowed"),
        (line_of(text, "Hello"), "body does not compile"),
        (line_of(text, "repeat:"), "missing key 'times' in steps.2.repeat"),
        (line_of(text, "size: big"), "unknown key 'size'"),
    ]
    assert len(got) == len(expected), got
    for (line, message), (want_line, want) in zip(sorted(got), sorted(expected), strict=True):
        assert (line, message[: len(want)]) == (want_line, want)


def test_a_refused_kind_or_step_still_lets_the_other_steps_be_checked() -> None:
    text = VALID.replace("kind: past_due", "kind: pastdue").replace("at: due+10d", "at: due+5d")
    first = "  - at: due+1d\n"
    text = text.replace(first, "  - 42\n" + first)  # a step that is not a mapping
    messages = [p.message for p in validate_text(text)]
    assert any(m.startswith("kind: Input should be") for m in messages)
    assert any("out of order: due+5d comes after due+7d" in m for m in messages)
    assert not any("cannot start on" in m for m in messages)  # no kind: no kind's rules


def test_a_refused_channel_does_not_make_its_template_need_a_subject(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "chat_only.body.txt").write_text("Hi {{ customer.name }}")
    text = VALID.replace(
        "send: email\n    template: past_due_gentle", "send: sms\n    template: chat_only"
    )
    (tmp_path / "seq.yml").write_text(text)
    [problem] = validate_directory(tmp_path)
    assert problem.message.startswith("steps.0.send: Input should be")


def test_a_telegram_part_that_does_not_compile_is_reported_by_its_file(tmp_path: Path) -> None:
    _write_template(tmp_path / "templates", "past_due_gentle", "Hello {{ customer.name }}")
    chat = tmp_path / "templates" / "past_due_gentle.telegram.txt"
    chat.write_text("Hi {{ customer.nam }},\n{% if %}\n")
    (tmp_path / "seq.yml").write_text(VALID)
    [problem] = validate_directory(tmp_path)
    assert "does not compile: past_due_gentle.telegram.txt, line 2" in problem.message
