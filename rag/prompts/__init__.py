"""Prompts live in files, one TOML file per prompt: `id`, `version`, `system`, `user` (jinja2 templates), and
optional worked examples (`[[examples]]` with `user`, `assistant` and an optional `language`): fixed turns put
between the system prompt and the request, so they are part of the prefix llama.cpp keeps between calls.

Bump `version` whenever the text changes: cached artifacts are keyed by (prompt id, version, model), so a
changed prompt regenerates exactly what it produced and nothing else.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from paperrag.errors import PaperragError
from rag.llm.base import Messages

PROMPT_DIR = Path(__file__).resolve().parent
_env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@dataclass(frozen=True)
class Prompt:
    id: str
    version: int
    system: str
    user: str
    examples: tuple[dict, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.id}@v{self.version}"

    def messages(self, **variables) -> Messages:
        out = Messages()
        if self.system:
            out.append({"role": "system", "content": _env.from_string(self.system).render(**variables).strip()})
        for ex in self.examples:  # an example in a language is shown only for a request in that language
            if ex.get("language") not in (None, variables.get("language")):
                continue
            out.append({"role": "user", "content": _env.from_string(ex["user"]).render(**variables).strip()})
            out.append({"role": "assistant", "content": _env.from_string(ex["assistant"]).render(**variables).strip()})
        out.fixed = len(out)
        out.append({"role": "user", "content": _env.from_string(self.user).render(**variables).strip()})
        return out


class PromptError(PaperragError, RuntimeError):
    pass


@lru_cache(maxsize=None)
def load_prompt(name: str) -> Prompt:
    path = PROMPT_DIR / f"{name}.toml"
    if not path.exists():
        raise PromptError(f"no prompt file {path}")
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    missing = {"id", "version", "user"} - set(data)
    if missing:
        raise PromptError(f"prompt file {path} lacks {', '.join(sorted(missing))}")
    if data["id"] != name:
        raise PromptError(f"prompt file {path} declares id {data['id']!r}; it must match its file name")
    examples = tuple(data.get("examples", ()))
    if any(not {"user", "assistant"} <= set(ex) for ex in examples):
        raise PromptError(f"prompt file {path}: every [[examples]] entry needs `user` and `assistant`")
    return Prompt(id=data["id"], version=int(data["version"]), system=data.get("system", ""), user=data["user"],
                  examples=examples)
