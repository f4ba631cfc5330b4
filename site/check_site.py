#!/usr/bin/python3
"""The generator check (no browser): site/check_site.py SITE_DIR [--root REPO].

Fails (exit 1, one line per problem) when:
  - a lesson of lessons/CMakeLists.txt has no page (lessons/NNN_topic.html);
  - a lesson page's quoted output (<pre id="expected-output">) differs from the lesson's
    expected_output.txt by one byte: the text html.parser reads from the page, less the one
    newline right after <pre> that a browser drops too, encoded as UTF-8, must equal the
    file's bytes;
  - an internal link or asset (a href, link href, img src, script src) points to no file of the
    site, or to an #anchor that the target page does not have, or leaves the site's folder;
  - a page is not well-formed enough: a tag closed that was not open, or left open; no
    <html lang>, not one <main>, not one <h1>, a heading that skips a level, an <img> without
    alt, a duplicate id.
The lesson list is read here with the same rule as ./tutorial (`^add_lesson(NAME`), not with
the generator's code, so a generator that forgets a lesson is caught.
"""
import argparse
import posixpath
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems, self.ids, self.refs, self.headings = [], [], [], [], []
        self.tags = {}
        self.output = None  # text of <pre id="expected-output">, None if absent
        self.lang = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "html" and a.get("lang"):
            self.lang = True
        if "id" in a:
            self.ids.append(a["id"])
        for attr in ("href", "src"):
            if a.get(attr) is not None and tag in ("a", "link", "img", "script", "iframe", "source"):
                self.refs.append(a[attr])
        if tag == "img" and "alt" not in a:
            self.problems.append(f"<img src={a.get('src')!r}> has no alt text")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag not in VOID:
            self.stack.append((tag, a.get("id")))
            if a.get("id") == "expected-output":
                self.output = ""

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.problems.append(f"</{tag}> at line {self.getpos()[0]} closes "
                                 f"{'<' + self.stack[-1][0] + '>' if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.output is not None and any(i == "expected-output" for _, i in self.stack):
            self.output += data


def lesson_names(root):
    text = (root / "lessons/CMakeLists.txt").read_text()
    return re.findall(r"^add_lesson\((\S+)", text, re.M)


def check(site, root):
    """Every problem found, as a list of strings (empty: the site is good)."""
    problems = []
    pages = {p.relative_to(site).as_posix(): p for p in site.rglob("*.html")}
    parsed = {}
    for rel, path in sorted(pages.items()):
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        page.close()
        parsed[rel] = page
        problems += [f"{rel}: {p}" for p in page.problems]
        problems += [f"{rel}: <{t}> never closed" for t, _ in page.stack]
        if not page.lang:
            problems.append(f"{rel}: no <html lang=...>")
        for tag in ("main", "h1"):
            if page.tags.get(tag, 0) != 1:
                problems.append(f"{rel}: {page.tags.get(tag, 0)} <{tag}> elements, not one")
        for before, after in zip(page.headings, page.headings[1:]):
            if after > before + 1:
                problems.append(f"{rel}: heading h{after} after h{before} skips a level")
                break
        dupes = sorted({i for i in page.ids if page.ids.count(i) > 1})
        if dupes:
            problems.append(f"{rel}: duplicate ids {dupes}")
    for rel, page in sorted(parsed.items()):
        for ref in page.refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith("//"):
                continue  # data:, http(s): not a file of the site
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), unquote(parts.path))) \
                if parts.path else rel
            if target.startswith("../") or target == "..":
                problems.append(f"{rel}: link {ref!r} leaves the site")
            elif not (site / target).is_file():
                problems.append(f"{rel}: link {ref!r} points to no file ({target})")
            elif parts.fragment and target in parsed and parts.fragment not in parsed[target].ids:
                problems.append(f"{rel}: link {ref!r}: {target} has no id {parts.fragment!r}")
    for name in lesson_names(root):
        rel = f"lessons/{name}.html"
        if rel not in parsed:
            problems.append(f"lesson {name} (lessons/CMakeLists.txt) has no page {rel}")
            continue
        quoted = parsed[rel].output
        expected = (root / "lessons" / name / "expected_output.txt").read_bytes()
        if quoted is None:
            problems.append(f"{rel}: no <pre id=\"expected-output\"> quoting expected_output.txt")
        elif quoted.removeprefix("\n").encode("utf-8") != expected:
            got = quoted.removeprefix("\n").encode("utf-8")
            at = next((i for i, (x, y) in enumerate(zip(got, expected)) if x != y), min(len(got), len(expected)))
            line = expected[:at].count(b"\n") + 1
            problems.append(f"{rel}: the quoted output differs from lessons/{name}/expected_output.txt "
                            f"from byte {at} (line {line}): page {got[at:at + 40]!r}, file {expected[at:at + 40]!r}")
    return problems


def main():
    parser = argparse.ArgumentParser(description="Check the generated site (no browser).")
    parser.add_argument("site", type=Path)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    if not (args.site / "index.html").is_file():
        print(f"check_site: no site in {args.site} (run site/generate.py --out {args.site})")
        return 1
    problems = check(args.site, args.root)
    for p in problems:
        print(p)
    pages = len(list(args.site.rglob("*.html")))
    print(f"check_site: {pages} pages, {len(lesson_names(args.root))} lessons: "
          + (f"{len(problems)} problems" if problems else "every lesson has a page, every link and asset "
             "resolves, every quoted output equals its expected_output.txt, the HTML is well formed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
