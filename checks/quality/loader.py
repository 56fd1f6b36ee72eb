"""Loads the Pandera schema a quality check names: `module:attr`, or a Pandera YAML file.

Modules are imported with the config file's directory first on `sys.path`, so a schema module can sit
beside `demon.yml`; YAML paths are relative to it too. A schema whose file changed since it was loaded
is loaded again, so a daemon picks up an edited schema on its next run. Every failure is a
`SchemaLoadError` with a one-line message: the check ends as `error`, nothing crashes.
"""

from __future__ import annotations

import importlib
import sys
import threading
from importlib.machinery import PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

from monitor.core.humanize import first_line

YAML_SUFFIXES = (".yml", ".yaml")
_lock = threading.Lock()  # sys.path and the import system are process-wide
_NOT_A_SCHEMA = "not a Pandera schema (no `columns` mapping)"
_yaml_cache: dict[Path, tuple[float, Any]] = {}
_module_stamps: dict[str, tuple[int, int]] = {}


class SchemaLoadError(Exception):
    """The schema cannot be loaded; the message says which schema and why."""


def load_schema(ref: str, base_dir: Path) -> Any:
    """The `pandera.pandas.DataFrameSchema` that `ref` names (a DataFrameModel is converted)."""
    if ref.endswith(YAML_SUFFIXES):
        return _from_yaml(base_dir / Path(ref).expanduser())
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        raise SchemaLoadError(f"schema {ref!r}: expected module:attr or a .yml/.yaml file")
    with _lock:
        module = _import(module_name, base_dir, ref)
    found = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise SchemaLoadError(f"schema {ref}: module {module_name} has no attribute {attribute}")
        found = getattr(found, part)
    return _as_schema(found, ref)


def _import(name: str, base_dir: Path, ref: str) -> ModuleType:
    """Import (or re-run, when its file changed) a module, with `base_dir` first on sys.path."""
    folder = str(base_dir.resolve())
    sys.path.insert(0, folder)
    try:
        module = sys.modules.get(name)
        if module is not None and _elsewhere(name, folder):
            _forget(name)  # a module of that name from another config's folder
            module = None
        if module is None:
            module = importlib.import_module(name)
        elif _changed(module):
            _rerun(module)
        _module_stamps[name] = _stamp(module)
        return module
    except ModuleNotFoundError as error:
        missing = f"module {error.name} not found" if error.name else first_line(error)
        raise SchemaLoadError(f"schema {ref}: {missing} (searched {folder} first)") from None
    except SyntaxError as error:
        raise SchemaLoadError(f"schema {ref}: {error.filename}:{error.lineno}: {error.msg}") from None
    except (Exception, SystemExit) as error:  # the module's own code failed (or exited) while importing
        reason = f"{type(error).__name__}: {first_line(error)}"
        raise SchemaLoadError(f"schema {ref}: importing {name} failed: {reason}") from None
    finally:
        sys.path.remove(folder)


def _elsewhere(name: str, folder: str) -> bool:
    """Whether the imported module `name` is not the one `folder` holds (two configs, one module name)."""
    top = name.partition(".")[0]
    spec = PathFinder.find_spec(top, [folder])
    imported = getattr(sys.modules.get(top), "__file__", None)
    return spec is not None and spec.origin is not None and imported != spec.origin


def _forget(name: str) -> None:
    top = name.partition(".")[0]
    for key in [key for key in sys.modules if key == top or key.startswith(f"{top}.")]:
        del sys.modules[key]


def _rerun(module: ModuleType) -> None:
    """Run an edited module's source again, in its namespace: `importlib.reload` would trust a cached
    .pyc whose recorded mtime and size an edit within the same second can leave unchanged."""
    path = Path(str(module.__file__))
    code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    exec(code, module.__dict__)


def _stamp(module: ModuleType) -> tuple[int, int]:
    path = getattr(module, "__file__", None)
    try:
        stat = Path(path).stat() if path else None
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size) if stat else (0, 0)


def _changed(module: ModuleType) -> bool:
    return module.__name__ in _module_stamps and _stamp(module) != _module_stamps[module.__name__]


def _from_yaml(path: Path) -> Any:
    import pandera.pandas as pa
    import yaml

    try:
        stamp = path.stat().st_mtime
    except OSError as error:
        raise SchemaLoadError(f"Pandera YAML schema {path}: {error.strerror or error}") from None
    with _lock:
        cached = _yaml_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
        if not isinstance(document, dict) or not isinstance(document.get("columns", {}), dict) or not (
            "columns" in document or document.get("schema_type") == "dataframe"
        ):
            raise SchemaLoadError(f"Pandera YAML schema {path}: {_NOT_A_SCHEMA}")
        schema = pa.DataFrameSchema.from_yaml(text)
    except SchemaLoadError:
        raise
    except (OSError, UnicodeDecodeError) as error:
        raise SchemaLoadError(f"Pandera YAML schema {path}: cannot read: {first_line(error)}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or first_line(error)
        raise SchemaLoadError(f"Pandera YAML schema {where}: invalid YAML: {problem}") from None
    except Exception as error:
        reason = first_line(error)
        raise SchemaLoadError(f"Pandera YAML schema {path}: not a valid schema: {reason}") from None
    with _lock:
        _yaml_cache[path] = (stamp, schema)
    return schema


def _as_schema(found: Any, ref: str) -> Any:
    from pandera.api.dataframe.model import DataFrameModel
    from pandera.api.pandas.container import DataFrameSchema

    if isinstance(found, type) and issubclass(found, DataFrameModel):
        try:
            found = found.to_schema()
        except Exception as error:
            raise SchemaLoadError(f"schema {ref}: {type(error).__name__}: {first_line(error)}") from None
    if not isinstance(found, DataFrameSchema):
        kind = type(found).__name__ if not isinstance(found, type) else f"class {found.__name__}"
        raise SchemaLoadError(
            f"schema {ref}: not a Pandera DataFrameModel or pandera.pandas DataFrameSchema (got {kind})"
        )
    return found
