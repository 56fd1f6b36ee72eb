"""YAML to plain data, recording the line of every field, rejecting duplicate keys, interpolating `${VAR}`.

PyYAML's own constructor forgets where values came from and silently keeps the last of two equal keys,
so the composed node graph is turned into data here. Keys are always taken as written (a column named
`on` or `no` stays a name, not a boolean).

Aliases make the graph a compressed form of the data: nine lines of nine aliases each (a "billion laughs")
stand for 387 million values. So what the graph expands to is measured first, each distinct node once,
and a file over `LIMITS` is refused before anything is expanded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml
from yaml import Node

from monitor.core.config.document import Document, Loc, format_path
from monitor.core.config.errors import ConfigError, ConfigIssue
from monitor.core.config.interpolation import interpolate

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SHAPE = {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list", yaml.ScalarNode: "a single value"}
TOP_LEVEL_HINT = "a mapping of settings (version:, sources:, datasets:, ...)"


@dataclass(frozen=True)
class Limits:
    """The most a config file may hold: room for 9,000 datasets of 5 checks (bench_soak writes 2,000 in
    0.9 MB, 106,000 values), yet a few hundred MB to load at worst (4 MiB of `[1,1,...]`: 600 MB, 18 s)."""

    bytes: int = 4 << 20
    values: int = 500_000  # nodes once every alias is expanded
    aliases: int = 100_000  # uses of aliases once expanded (an alias inside an anchor is used each time)
    depth: int = 64  # levels of nesting; a config needs 7


LIMITS = Limits()


def load_document(text: str, file: str, environ: Mapping[str, str]) -> Document:
    """Parse one config file into a `Document`; every problem of the file raises one `ConfigError`."""
    root = _compose(text, file)
    if root is None:
        raise ConfigError([ConfigIssue(file, 1, "", f"the file is empty: expected {TOP_LEVEL_HINT}")])
    if not isinstance(root, yaml.MappingNode):
        got = _SHAPE.get(type(root), "something else")
        raise ConfigError([ConfigIssue(file, _line(root), "", f"expected {TOP_LEVEL_HINT}, got {got}")])
    _Expansion(file).measure(root, (), 1)
    builder = _Builder(file, environ)
    data = builder.build(root, ())
    if builder.issues:
        raise ConfigError(builder.issues)
    return Document(file, data, builder.lines, frozenset(builder.secrets))


def _compose(text: str, file: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_issue(file, exc)]) from None
    except yaml.YAMLError as exc:  # reader errors: characters YAML does not allow
        line = text.count("\n", 0, getattr(exc, "position", 0)) + 1
        raise ConfigError([ConfigIssue(file, line, "", f"invalid YAML: {exc}")]) from None


def _syntax_issue(file: str, exc: yaml.MarkedYAMLError) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    message = "invalid YAML" + ("" if mark is None else f" at column {mark.column + 1}")
    message += f": {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
    return ConfigIssue(file, None if mark is None else mark.line + 1, "", message)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


@dataclass(frozen=True, slots=True)
class _Size:
    """What a node expands to: its values (itself included), uses of aliases, and levels (a scalar has 1)."""

    values: int
    aliases: int
    height: int


class _Expansion:
    """Measures what the node graph expands to, each distinct node once (memoised by identity), so a billion
    laughs costs a few dozen steps; a `ConfigError` names the first node, innermost first, over `LIMITS`."""

    def __init__(self, file: str) -> None:
        self._file = file
        self._sizes: dict[int, _Size] = {}
        self._open: set[int] = set()  # being measured: an alias inside itself, which the builder reports

    def measure(self, node: Node, loc: Loc, level: int) -> _Size:
        """The size of `node`, met `level` deep (the top is 1)."""
        return self._sizes.get(id(node)) or self._expand(node, loc, level)

    def _expand(self, node: Node, loc: Loc, level: int) -> _Size:
        if id(node) in self._open:
            return _Size(1, 0, 1)
        self._open.add(id(node))
        values, aliases, height = 1, 0, 0
        for part, child in _children(node):
            if level == LIMITS.depth:  # checked before descending, so measuring never recurses deeper
                self._too_deep(node, loc)
            alias = id(child) in self._sizes or id(child) in self._open  # the anchor is the first use
            size = self.measure(child, (*loc, part), level + 1)
            if level + size.height > LIMITS.depth:  # an anchor used deeper than where it was measured
                self._too_deep(node, loc)
            values, aliases = values + size.values, aliases + size.aliases + alias
            height = max(height, size.height)
        self._open.discard(id(node))
        if values > LIMITS.values:
            self._refuse(node, loc, f"expands to more than {LIMITS.values:,} values"
                         " (an alias counts as often as it is used), the most demon reads")
        if aliases > LIMITS.aliases:
            self._refuse(node, loc, f"uses aliases more than {LIMITS.aliases:,} times, the most demon reads")
        self._sizes[id(node)] = size = _Size(values, aliases, height + 1)
        return size

    def _too_deep(self, node: Node, loc: Loc) -> NoReturn:
        self._refuse(node, loc, f"nests more than {LIMITS.depth} levels deep, the most demon reads")

    def _refuse(self, node: Node, loc: Loc, message: str) -> NoReturn:
        raise ConfigError([ConfigIssue(self._file, _line(node), format_path(loc), message)])


def _children(node: Node) -> Iterator[tuple[str | int, Node]]:
    """Each child with its part of the path: a list's items by index, a mapping's keys and values by key."""
    if isinstance(node, yaml.SequenceNode):
        yield from enumerate(node.value)
    elif isinstance(node, yaml.MappingNode):
        for index, (key, value) in enumerate(node.value):
            part = str(key.value) if isinstance(key, yaml.ScalarNode) else index
            yield part, key
            yield part, value


class _Builder:
    """Builds plain data from nodes, filling `lines`, `secrets` and `issues` on the way."""

    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self._file = file
        self._environ = environ
        self._scalars = _Loader("")  # resolves and constructs scalars exactly as PyYAML would
        self._ancestors: set[int] = set()
        self.lines: dict[Loc, int] = {}
        self.secrets: set[str] = set()
        self.issues: list[ConfigIssue] = []

    def build(self, node: Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, _line(node))
        if id(node) in self._ancestors:
            return self._fail(node, loc, "an alias that contains itself")
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        if node.tag not in (_MAP, _SEQ):
            return self._fail(node, loc, f"unsupported tag {node.tag}")
        self._ancestors.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            return self._sequence(node, loc)
        finally:
            self._ancestors.discard(id(node))

    def _fail(self, node: Node, loc: Loc, message: str) -> None:
        self.issues.append(ConfigIssue(self._file, _line(node), format_path(loc), message))

    def _sequence(self, node: Node, loc: Loc) -> list[Any]:
        return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self._key(key_node, loc)
            if key is None:
                continue
            if key in first_line:
                self._fail(key_node, (*loc, key), f"duplicate key {key!r} (first on line {first_line[key]})")
                continue
            first_line[key] = _line(key_node)
            self.lines[(*loc, key)] = _line(key_node)
            result[key] = self.build(value_node, (*loc, key))
        for key_node, value_node in self._merged(node, loc, set()):
            key = self._key(key_node, loc)
            if key is not None and key not in result:
                self.lines[(*loc, key)] = _line(key_node)
                result[key] = self.build(value_node, (*loc, key))
        return result

    def _merged(self, node: yaml.MappingNode, loc: Loc, seen: set[int]) -> Iterator[tuple[Node, Node]]:
        """The pairs `<<: *anchor` (or `<<: [*a, *b]`) brings in, earlier mappings first."""
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if id(source) in seen:
                    continue  # merged already: a diamond or a cycle of merges
                seen.add(id(source))
                if not isinstance(source, yaml.MappingNode) or id(source) in self._ancestors:
                    self._fail(source, loc, "expected a mapping (or a list of mappings) after '<<'")
                    continue
                yield from ((key, value) for key, value in source.value if key.tag != _MERGE)
                yield from self._merged(source, loc, seen)

    def _key(self, node: Node, loc: Loc) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        self._fail(node, loc, f"expected a plain key, got {_SHAPE.get(type(node), 'something else')}")
        return None

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        if node.tag == _STR and "$" in node.value:
            node = self._interpolated(node, loc)
        try:
            return self._scalars.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            return self._fail(node, loc, f"invalid value: {getattr(exc, 'problem', None) or exc}")
        except Exception:  # text its tag does not fit: `!!int x` raises ValueError, `!!bool x` KeyError
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            return self._fail(node, loc, f"invalid {tag} value {node.value!r}")

    def _interpolated(self, node: yaml.ScalarNode, loc: Loc) -> yaml.ScalarNode:
        """A node for the substituted text; a plain scalar gets its implicit type again (`${N:-4}` is 4)."""
        result = interpolate(node.value, self._environ)
        self.secrets.update(result.secrets)
        for problem in result.problems:
            self._fail(node, loc, problem)
        plain = not node.style and node.tag == self._implicit_tag(node.value)
        tag = self._implicit_tag(result.text) if plain else node.tag
        return yaml.ScalarNode(tag, result.text, node.start_mark, node.end_mark, node.style)

    def _implicit_tag(self, text: str) -> str:
        return str(self._scalars.resolve(yaml.ScalarNode, text, (True, False)))  # type: ignore[no-untyped-call]
