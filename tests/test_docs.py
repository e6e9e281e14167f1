"""The README links every document, and no document links to a file that is not there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_links_every_doc() -> None:
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    missing = [
        doc.name for doc in sorted(ROOT.glob("docs/*.md")) if f"(docs/{doc.name})" not in readme
    ]
    assert not missing, f"README.md does not link {', '.join(missing)}"


def test_relative_links_resolve() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert not broken, "broken links: " + "; ".join(broken)
