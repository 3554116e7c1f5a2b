"""``docs/rules.md`` stays true to the code: every domain rule has an entry, every path and
setting it names exists, and the code cites only rules that exist.

The rules themselves are defined in the domain brief outside the repository; the page is
the map from each rule id to the code that implements it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from winback.config import Settings

ROOT = Path(__file__).resolve().parent.parent
RULES_DOC = ROOT / "docs" / "rules.md"
RULE_COUNT = 22
RULE_IDS = [f"R{n}" for n in range(1, RULE_COUNT + 1)]

# Where the code cites rules, and what is not code (dbt's build output, this file, which
# talks about rule ids rather than citing them).
CODE_DIRS = ("winback", "flows", "models", "expectations", "dbt_project", "tests")
CODE_SUFFIXES = frozenset({".py", ".sql", ".yml", ".j2"})
EXCLUDED_DIRS = (ROOT / "dbt_project" / "target",)
EXCLUDED_FILES = frozenset({Path(__file__).resolve()})

# A rule id: "R" and a number, not part of a longer word ("R7", "(R6, R13)", "R15–R21").
RULE_CITATION = re.compile(r"(?<![A-Za-z0-9_])R(\d+)(?![0-9])")
# A range of rules: "R15–R21", "R3-R13", "R15…R20".
RULE_RANGE = re.compile(r"(?<![A-Za-z0-9_])R(\d+)\s*[–\-…]\s*R(\d+)(?![0-9])")
# An entry of the page: a line that starts with the bold id, "**R7** — ...".
RULE_ENTRY = re.compile(r"^\*\*R(\d+)\*\*", re.MULTILINE)
# The end of an entry: the next entry or the next heading.
ENTRY_END = re.compile(r"^(\*\*R\d+\*\*|#)", re.MULTILINE)
NOT_IMPLEMENTED = re.compile(r"\*\*Status:\*\*\s*not implemented", re.IGNORECASE)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
FILE_NAME = re.compile(r"\.[A-Za-z0-9]+$")


def doc_text() -> str:
    """The page, which must exist."""
    assert RULES_DOC.is_file(), f"{RULES_DOC.relative_to(ROOT)} is missing"
    return RULES_DOC.read_text(encoding="utf-8")


def rule_entries(text: str) -> dict[str, list[str]]:
    """Rule id → the text of each of its entries (normally exactly one)."""
    entries: dict[str, list[str]] = {}
    for match in RULE_ENTRY.finditer(text):
        end = ENTRY_END.search(text, match.end())
        body = text[match.start() : end.start() if end else len(text)]
        entries.setdefault(f"R{int(match.group(1))}", []).append(body)
    return entries


def is_repo_path(token: str) -> bool:
    """A code span that names a file or folder of the repository: no spaces, a ``/``, and
    a file extension or a trailing ``/``. Paths outside the repository (``../``, absolute)
    and URLs are not checked."""
    if any(c.isspace() for c in token) or "/" not in token:
        return False
    if token.startswith(("/", "../", "~")) or "://" in token:
        return False
    name = token.split("::", 1)[0]
    return name.endswith("/") or bool(FILE_NAME.search(name))


def missing_path(token: str) -> str | None:
    """Why ``token`` (``path``, ``dir/`` or ``path::test_name``) names nothing, else None."""
    name, _, function = token.partition("::")
    target = ROOT / name
    if name.endswith("/"):
        return None if target.is_dir() else f"`{token}`: no such folder"
    if not target.is_file():
        return f"`{token}`: no such file"
    if function:
        source = target.read_text(encoding="utf-8")
        if not re.search(rf"^\s*def {re.escape(function)}\(", source, re.MULTILINE):
            return f"`{token}`: no function {function} in {name}"
    return None


def setting_sections() -> dict[str, type[BaseModel]]:
    """Section name → its model, for the dotted settings the page names
    (``decisions.frequency_cap_days``)."""
    sections: dict[str, type[BaseModel]] = {}
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections[name] = annotation
    return sections


def missing_setting(token: str, sections: dict[str, type[BaseModel]]) -> str | None:
    """Why the dotted setting ``token`` names no field of ``Settings``, else None."""
    section, *fields = token.split(".")
    model: type[BaseModel] | None = sections[section]
    walked = [section]
    for field in fields:
        if model is None or field not in model.model_fields:
            return f"`{token}`: no setting {'.'.join([*walked, field])}"
        walked.append(field)
        annotation = model.model_fields[field].annotation
        model = None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return None


def code_files() -> Iterator[Path]:
    """Every file of the code that may cite a rule."""
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in CODE_SUFFIXES or not path.is_file():
                continue
            if path.resolve() in EXCLUDED_FILES:
                continue
            if any(path.is_relative_to(excluded) for excluded in EXCLUDED_DIRS):
                continue
            yield path


def citations() -> Iterator[tuple[str, int, str, int]]:
    """(file, line number, line, rule number) of every rule id the code writes."""
    for path in code_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            for match in RULE_CITATION.finditer(line):
                yield str(path.relative_to(ROOT)), number, line.strip(), int(match.group(1))


def cited_rules() -> set[str]:
    """The rules the code cites by name. A range's endpoints count ("R15–R21" names R15
    and R21), the rules inside it do not, and the whole set ("R1–R22") names none."""
    cited: set[str] = set()
    for path in code_files():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            for match in RULE_RANGE.finditer(line):
                if (int(match.group(1)), int(match.group(2))) == (1, RULE_COUNT):
                    line = line.replace(match.group(0), " ")
            cited |= {f"R{int(n)}" for n in RULE_CITATION.findall(line)}
    return cited


def test_every_rule_has_one_entry() -> None:
    """R1…R22 each have exactly one entry (a line starting with the bold id), in order,
    and the page has no entry for a rule that does not exist."""
    entries = rule_entries(doc_text())
    missing = [rule for rule in RULE_IDS if rule not in entries]
    assert not missing, f"docs/rules.md has no entry (a line '**Rn** ...') for {missing}"
    doubled = [rule for rule, bodies in entries.items() if len(bodies) > 1]
    assert not doubled, f"docs/rules.md has more than one entry for {doubled}"
    unknown = sorted(set(entries) - set(RULE_IDS))
    assert not unknown, f"docs/rules.md has entries for rules that do not exist: {unknown}"
    order = [int(match.group(1)) for match in RULE_ENTRY.finditer(doc_text())]
    assert order == sorted(order), f"docs/rules.md lists the rules out of order: {order}"
    short = [rule for rule, (body,) in entries.items() if "Where it lives" not in body]
    assert not short, f"entries without a 'Where it lives' part: {short}"


def test_every_path_in_the_doc_exists() -> None:
    """Every repository path the page writes in backticks exists (a ``::name`` suffix must
    be a function in that file)."""
    tokens = sorted({t for t in INLINE_CODE.findall(doc_text()) if is_repo_path(t)})
    assert tokens, "docs/rules.md names no repository path at all"
    problems = [problem for token in tokens if (problem := missing_path(token))]
    assert not problems, "docs/rules.md names paths that do not exist:\n" + "\n".join(problems)


def test_every_setting_in_the_doc_exists() -> None:
    """Every ``section.field`` the page writes in backticks, whose section is one of
    ``Settings``' sections, is a field of ``winback/config.py``."""
    sections = setting_sections()
    tokens = sorted(
        {
            token
            for token in INLINE_CODE.findall(doc_text())
            if re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", token) and token.split(".")[0] in sections
        }
    )
    assert tokens, "docs/rules.md names no setting at all"
    problems = [problem for token in tokens if (problem := missing_setting(token, sections))]
    assert not problems, "docs/rules.md names settings that do not exist:\n" + "\n".join(problems)


def test_code_cites_only_rules_that_exist() -> None:
    """Every rule id in the code is one of R1…R22 (catches typos such as R23), and every
    range of rules runs upwards (R15–R21, not R21–R15)."""
    wrong = [
        f"{path}:{number}: R{rule}: {line}"
        for path, number, line, rule in citations()
        if not 1 <= rule <= RULE_COUNT
    ]
    assert not wrong, "the code cites rules that do not exist:\n" + "\n".join(wrong)
    backwards = [
        f"{path.relative_to(ROOT)}:{number}: {match.group(0)}"
        for path in code_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for match in RULE_RANGE.finditer(line)
        if int(match.group(1)) >= int(match.group(2))
    ]
    assert not backwards, "rule ranges that do not run upwards:\n" + "\n".join(backwards)


def test_every_rule_is_cited_in_the_code_or_marked_not_implemented() -> None:
    """Each rule is cited by name somewhere in the code (a range's endpoints count, the
    rules inside a range do not: "R1–R22" cites nothing in particular), or its entry in
    docs/rules.md says ``**Status:** not implemented``."""
    cited = cited_rules()
    entries = rule_entries(doc_text())
    marked = {rule for rule, bodies in entries.items() if NOT_IMPLEMENTED.search(bodies[0])}
    uncited = [rule for rule in RULE_IDS if rule not in cited and rule not in marked]
    assert not uncited, (
        f"rules cited nowhere in the code and not marked '**Status:** not implemented' in "
        f"docs/rules.md: {uncited}"
    )
