"""The README's "Try it" examples, run in order against a real server, answer as documented.

Each ``curl`` example is sent as written (``$B`` is the server, ``$TOKEN`` the token its login
example returns). A ``# {...}`` comment under an example is its documented response, and the
real one must have the same fields with the same JSON types: a decimal string where it shows a
decimal string, a number where it shows a number. Other strings must be equal, except that
``"..."`` stands for any string and ``"ord_..."`` for any string with that prefix. Decimal
values and numbers depend on the simulated prices of the moment, so only their type is checked.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

from tests.live import open_server

README = Path(__file__).resolve().parent.parent / "README.md"
DECIMAL = re.compile(r"-?\d+(\.\d+)?")


@dataclass
class Example:
    """One ``curl`` command of the README and the response documented under it, if any."""

    argv: list[str]
    documented: str = ""
    assigns_token: bool = False
    answers: list[Any] = field(default_factory=list)


def try_it_blocks() -> list[str]:
    """The shell blocks of the README's "Try it" section."""
    text = README.read_text()
    section = text[text.index("## Try it") : text.index("\n## ", text.index("## Try it") + 1)]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def examples() -> list[Example]:
    """Every ``curl`` example of the "Try it" section, in order."""
    found: list[Example] = []
    for block in try_it_blocks():
        pending = ""
        for line in block.splitlines():
            if not pending and line.startswith("#"):
                if found:
                    found[-1].documented += line.lstrip("#").strip()
                continue
            pending += line + "\n"
            # A command goes on after a trailing backslash or inside an open quote.
            if line.endswith("\\") or pending.count("'") % 2:
                continue
            command, pending = pending.replace("\\\n", " "), ""
            assigns_token = command.startswith("TOKEN=$(")
            if assigns_token:
                command = command.removeprefix("TOKEN=$(").split(" | ", 1)[0]
            argv = shlex.split(command, comments=True)
            if argv and argv[0] == "curl":
                found.append(Example(argv, assigns_token=assigns_token))
    return found


def request(argv: list[str], base: str, token: str) -> httpx.Request:
    """The request a ``curl`` command line sends."""
    method, url, headers, data = "GET", "", {}, None
    words = iter(argv[1:])
    for word in words:
        if word == "-s":
            continue
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip().replace("$TOKEN", token)
        elif word == "-d":
            data = next(words).encode()
            method = "POST" if method == "GET" else method
        elif word.startswith("-"):
            raise AssertionError(f"the README uses a curl option this test does not know: {word}")
        else:
            url = word.replace("$B", base)
    return httpx.Request(method, url, headers=headers, content=data)


def is_decimal(value: str) -> bool:
    if not DECIMAL.fullmatch(value):
        return False
    try:
        Decimal(value)
    except InvalidOperation:
        return False
    return True


def mismatches(documented: Any, actual: Any, at: str = "") -> list[str]:
    """How ``actual`` differs from the documented response, one line per difference."""
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{at or 'body'}: {actual!r} is not an object"]
        found = [f"{at}.{k}: missing" for k in documented if k not in actual]
        found += [f"{at}.{k}: not documented" for k in actual if k not in documented]
        for key in documented.keys() & actual.keys():
            found += mismatches(documented[key], actual[key], f"{at}.{key}")
        return found
    if isinstance(documented, list):
        if not isinstance(actual, list) or len(actual) != len(documented):
            return [f"{at}: {actual!r} is not a list of {len(documented)}"]
        return [m for n, d in enumerate(documented) for m in mismatches(d, actual[n], f"{at}[{n}]")]
    if isinstance(documented, str):
        if not isinstance(actual, str):
            return [f"{at}: {actual!r} is not a string"]
        if "..." in documented:
            ok = actual.startswith(documented.split("...", 1)[0])
        elif is_decimal(documented):
            ok = is_decimal(actual)
        else:
            ok = actual == documented
        return [] if ok else [f"{at}: {actual!r}, documented {documented!r}"]
    if isinstance(documented, bool) or documented is None:
        return [] if actual is documented else [f"{at}: {actual!r}, documented {documented!r}"]
    if isinstance(documented, int | float):
        numeric = isinstance(actual, int | float) and not isinstance(actual, bool)
        return [] if numeric else [f"{at}: {actual!r} is not a number"]
    raise AssertionError(f"{at}: cannot compare {documented!r}")


async def test_the_readme_examples_answer_as_documented(tmp_path: Path) -> None:
    found = examples()
    assert len(found) >= 8, "the Try it section lost its examples"
    async with open_server(tmp_path / "exchange.db") as server, httpx.AsyncClient() as http:
        token = ""
        for example in found:
            response = await http.send(request(example.argv, server.url, token))
            shown = " ".join(example.argv)
            assert response.is_success, f"{shown}: HTTP {response.status_code} {response.text}"
            answer = response.json()
            example.answers.append(answer)
            if example.assigns_token:
                token = answer["access_token"]
            if example.documented:
                problems = mismatches(json.loads(example.documented), answer)
                assert not problems, f"{shown}:\n" + "\n".join(problems)
    (limit_buy,) = [e for e in found if any('"limit_buy"' in word for word in e.argv)]
    assert limit_buy.answers[0]["data"]["status"] == "pending", "the limit buy does not rest"
    assert limit_buy.documented, "the limit-buy example shows no response"
