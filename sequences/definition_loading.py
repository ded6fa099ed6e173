"""Loading sequence definitions from YAML, every problem at the line of its key.

A definition is read from text, a file, a folder or the built-in library: the YAML node
tree is kept for line numbers, the data is validated by the models and the checks of
`sequences.definition_checks`, and each problem's key path is mapped onto a line.
A folder is also checked as a whole (unique names, no overlapping triggers), and a
loaded sequence can be written back as YAML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sequences import templates
from sequences.definition_checks import (
    pydantic_issues,
    rule_issues,
    salvage,
    template_issues,
)
from sequences.definitions import Sequence, Trigger
from sequences.templates import Problem

LIBRARY_DIR = Path(__file__).parent / "library"


class DefinitionError(ValueError):
    """A definition was refused; `problems` says why, each with its line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads 17:00 as text, not as the YAML 1.1 base-60 number 1020."""


def _no_base_60(tag: str, rx: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile("(?!.*:)" + rx.pattern, rx.flags) if tag.endswith(("int", "float")) else rx


_Loader.yaml_implicit_resolvers = {
    first: [(tag, _no_base_60(tag, rx)) for tag, rx in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _line_at(node: Node, loc: Iterable[str | int], inner_line: int = 0) -> int:
    """The 1-based line of the key at `loc` (or of the deepest part of it that exists)."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, MappingNode):
            pair = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if pair is None:
                return line
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    if inner_line and isinstance(node, ScalarNode):
        block = node.style in ("|", ">")
        return node.start_mark.line + block + inner_line
    return line


def _duplicate_keys(node: Node) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value in seen:
                problems.append(Problem(key.start_mark.line + 1, f"duplicate key '{key.value}'"))
            seen.add(key.value)
            problems += _duplicate_keys(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            problems += _duplicate_keys(item)
    return problems


def _compose(text: str) -> tuple[Node | None, Any]:
    """The node tree (for line numbers) and the data of one YAML document."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def _syntax_problem(exc: yaml.YAMLError, text: str) -> tuple[int, str]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark else text.count("\n", 0, getattr(exc, "position", 0)) + 1
    reason = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    start, context = getattr(exc, "context_mark", None), getattr(exc, "context", None)
    if mark and start and context and start.line != mark.line:
        reason += f" ({context} on line {start.line + 1})"
    return line, f"YAML syntax error: {reason}"


def _parse(
    text: str, source_name: str, template_dirs: Iterable[Path] | None
) -> tuple[Sequence | None, list[Problem]]:
    def problem(line: int, message: str, hint: str = "") -> Problem:
        return Problem(line, message, hint, source_name)

    try:
        root, data = _compose(text)
    except yaml.YAMLError as exc:
        return None, [problem(*_syntax_problem(exc, text))]
    if root is None or not isinstance(data, dict):
        return None, [problem(1, "a sequence definition is a YAML mapping (name:, kind:, ...)")]
    problems = [problem(p.line, p.message) for p in _duplicate_keys(root)]
    if template_dirs is None:
        path = Path(source_name)
        template_dirs = templates.template_dirs_for(path if path.is_file() else None)
    seq: Sequence | None = None
    try:
        seq = Sequence.model_validate(data)
        checked, issues = seq, []
    except ValidationError as exc:
        # Every problem at once: the steps and templates of what did parse are checked too.
        checked, issues = salvage(data, exc), pydantic_issues(exc)
    issues += rule_issues(checked) + template_issues(checked, tuple(template_dirs))
    problems += [problem(_line_at(root, i.loc, i.inner_line), i.message, i.hint) for i in issues]
    if seq is not None:
        seq._source = source_name
        seq._lines = {key: _line_at(root, (key,)) for key in ("name", "trigger")}
    return seq, sorted(problems, key=lambda p: p.line)


def validate_text(
    text: str, source_name: str = "<text>", template_dirs: Iterable[Path] | None = None
) -> list[Problem]:
    """Every problem in a YAML definition, each at its line (empty when it is valid)."""
    return _parse(text, source_name, template_dirs)[1]


def load_sequence_text(
    text: str, source_name: str = "<text>", template_dirs: Iterable[Path] | None = None
) -> Sequence:
    """Parse and validate a YAML definition; raises DefinitionError with every problem.

    Templates are looked up in `template_dirs`, by default the `templates/` beside
    `source_name` (when it is a file) and then the built-in library."""
    seq, problems = _parse(text, source_name, template_dirs)
    if problems or seq is None:
        raise DefinitionError(problems)
    return seq


def _load_all(path: Path, against: Iterable[Sequence] = ()) -> tuple[list[Sequence], list[Problem]]:
    files = [path] if path.is_file() else sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
    sequences, problems, seen = [], [], {}
    for file in files:
        try:
            seq, found = _parse(file.read_text("utf-8"), str(file), None)
        except UnicodeDecodeError:
            seq, found = None, [Problem(1, "not UTF-8 text", "save the file as UTF-8", str(file))]
        problems += found
        if seq is None:
            continue
        if seq.name in seen:
            msg = f"name '{seq.name}' is already used by {seen[seq.name]}"
            problems.append(Problem(seq._lines["name"], msg, "names are unique", str(file)))
        seen.setdefault(seq.name, file.name)
        sequences.append(seq)
    problems += find_overlaps(sequences) + overlaps_with(sequences, against)
    return sequences, problems


def check_directory(
    path: Path, against: Iterable[Sequence] = ()
) -> tuple[list[Sequence], list[Problem]]:
    """The definitions under `path` that parsed, and every problem: in each file, names
    used twice, overlaps between them and with `against` (sequences already running)."""
    return _load_all(Path(path), against)


def validate_directory(path: Path, against: Iterable[Sequence] = ()) -> list[Problem]:
    """Problems in every definition under `path` (a file or a folder), duplicates, overlaps."""
    return _load_all(Path(path), against)[1]


def load_directory(path: Path) -> list[Sequence]:
    """Load every `*.yml`/`*.yaml` definition in `path`; raises DefinitionError on problems."""
    sequences, problems = _load_all(Path(path))
    if problems:
        raise DefinitionError(problems)
    return sequences


def load_library() -> list[Sequence]:
    """The built-in sequences."""
    return load_directory(LIBRARY_DIR)


def overlaps_with(loaded: Iterable[Sequence], others: Iterable[Sequence]) -> list[Problem]:
    """Loaded sequences that one event would start together with one of `others`
    (an other that a loaded sequence replaces, by name, does not count)."""
    loaded = list(loaded)
    replaced = {s.name for s in loaded}
    rest = [s for s in others if s.name not in replaced]
    return [p for seq in loaded for other in rest for p in find_overlaps([other, seq])]


def find_overlaps(sequences: Iterable[Sequence]) -> list[Problem]:
    """Pairs of active sequences that one event would both start for the same target."""
    automatic = [s for s in sequences if s.active and s.trigger != Trigger.MANUAL]
    problems = []
    for i, first in enumerate(automatic):
        for second in automatic[i + 1 :]:
            if first.trigger == second.trigger and first.target == second.target:
                msg = (
                    f"sequences '{first.name}' and '{second.name}' both start on "
                    f"{second.trigger} and would both touch the same {second.target}"
                )
                hint = "set active: false on one, or give it trigger: manual"
                line = second._lines.get("trigger", 0)
                problems.append(Problem(line, msg, hint, second._source))
    return problems


class _Dumper(yaml.SafeDumper):
    def represent_str(self, data: str) -> Node:
        style = "|" if "\n" in data else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    def represent_list(self, data: list[Any]) -> Node:
        flow = all(not isinstance(item, dict | list) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def represent_dict(self, data: dict[str, Any]) -> Node:
        flow = set(data) <= {"every", "times"} or set(data) <= {"days", "from", "to"}
        return self.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(str, _Dumper.represent_str)
_Dumper.add_representer(list, _Dumper.represent_list)
_Dumper.add_representer(dict, _Dumper.represent_dict)


def sequence_to_yaml(seq: Sequence) -> str:
    """The YAML definition of `seq`; loading it gives back an equal sequence."""
    data = seq.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    if "send_window" in data:  # a window that differs is written out whole
        data["send_window"] = seq.send_window.model_dump(mode="json", by_alias=True)
    for step in data["steps"]:
        if len(step.get("escalate", ())) == 1:
            step["escalate"] = step["escalate"][0]
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)
